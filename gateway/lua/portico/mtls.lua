-- Mutual TLS (docs/mtls.md): consumers' client certificates, and an API's own
-- client certificate towards its upstream (to_upstream, at the end).
--
-- Consumers. The TLS listener asks every client for
-- a certificate without judging it (ssl_verify_client optional_no_ca): the
-- handshake proves the client holds the private key, and this module decides
-- per API. An API whose config has `mtls` ("with_key" or "alone") gets
-- api.mtls set at compile time; every other API pays one nil check in
-- access.lua and nothing here.
--
-- The presented certificate is pinned: the SHA-256 of its DER must be one the
-- platform shipped (snapshot member "client_certs", delta kind "client_cert"),
-- not revoked and within its validity dates. With an API CA (`mtls_ca`) the
-- certificate must also be signed by that CA (one level, X509_verify).
local ffi = require "ffi"
local lrucache = require "resty.lrucache"
local crypto = require "portico.crypto" -- declares EVP_PKEY and EVP_PKEY_free
local refusals = require "portico.refusals"

local C = ffi.C
local ngx = ngx
local var = ngx.var
local now = ngx.now
local type, tostring, ipairs = type, tostring, ipairs
local sub, find, gsub = string.sub, string.find, string.gsub
local decode_base64 = ngx.decode_base64
local refuse = refusals.refuse
local sha256, hex32_to_raw = crypto.sha256, crypto.hex32_to_raw

ffi.cdef [[
typedef struct x509_st X509;
X509 *d2i_X509(X509 **a, const unsigned char **in, long len);
void X509_free(X509 *a);
EVP_PKEY *X509_get_pubkey(X509 *x);
int X509_verify(X509 *a, EVP_PKEY *r);
]]

local _M = {}

local BEGIN, END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
-- hex characters of the fingerprint in the access log's "key": "cert:" and these make 20,
-- a key prefix's length, where the platform caps the field
local FP_SHOWN = 15
local LIMITER_ID_LEN = 12 -- as portico.store: raw bytes naming the limiter's counters

-- What the client of a connection presented: nginx's connection serial number ($connection, unique
-- per worker) -> { fp = raw SHA-256, der = DER }, or false for none. A connection's certificate
-- cannot change (nginx refuses renegotiation; TLS 1.3 has none), and $ssl_client_raw_cert makes
-- nginx write the certificate out as PEM on every read: keep-alive requests skip that, the
-- decoding and the digest.
local by_connection = assert(lrucache.new(4000))
local NONE = false

local function der_of(pem)
    local i = find(pem, BEGIN, 1, true)
    local j = i and find(pem, END, i, true)
    if not j then
        return nil
    end
    return decode_base64((gsub(sub(pem, i + #BEGIN, j - 1), "%s", "")))
end

local function x509_of(der)
    local pp = ffi.new("const unsigned char *[1]", ffi.cast("const unsigned char *", der))
    local x = C.d2i_X509(nil, pp, #der)
    if x == nil then
        C.ERR_clear_error()
        return nil
    end
    return ffi.gc(x, C.X509_free)
end

-- whether the CA's key signed the certificate (DER); errors mean no
local function signed_by(ca_key, der)
    local x = x509_of(der)
    local ok = x and C.X509_verify(x, ca_key) == 1
    C.ERR_clear_error()
    return ok or false
end

local function compile_ca(pem)
    local der = type(pem) == "string" and der_of(pem)
    local x = der and x509_of(der)
    local key = x and C.X509_get_pubkey(x)
    if key == nil or not key then
        return nil
    end
    return ffi.gc(key, C.EVP_PKEY_free)
end

-- Called by portico.compile once per config: certificate records by raw
-- fingerprint (c.certs), and the mTLS policy on each compiled API. An API
-- whose CA cannot be read refuses every certificate ("certificate-untrusted")
-- rather than dropping the check.
function _M.compile(c, apis, certs)
    local by_fp = {}
    for _, e in ipairs(type(certs) == "table" and certs or {}) do
        local raw = type(e) == "table" and hex32_to_raw(e.fingerprint)
        if raw and type(e.application_id) == "number" and type(e.organisation_id) == "number" then
            by_fp[raw] = {
                app = e.application_id, org = e.organisation_id,
                app_s = tostring(e.application_id), org_s = tostring(e.organisation_id),
                nb = type(e.not_before) == "number" and e.not_before or 0,
                na = type(e.not_after) == "number" and e.not_after or 0,
                revoked = e.status ~= "active",
                prefix = "cert:" .. sub(e.fingerprint, 1, FP_SHOWN),
                lid = sub(raw, 1, LIMITER_ID_LEN),
                loggable = true,
            }
        end
    end
    c.certs = by_fp
    for _, a in ipairs(apis) do
        local up_api = type(a) == "table" and type(a.upstream_client_cert) == "string"
            and type(a.upstream_client_key) == "string" and c.by_id[tostring(a.id)]
        if up_api then
            up_api.up_cert, up_api.up_key = a.upstream_client_cert, a.upstream_client_key
            -- no keepalive pool shared with other APIs (gateway.conf.tmpl); the balancer needs $pt_api
            up_api.up_name, up_api.balanced = "portico_upstream_cc", true
        end
        local api = type(a) == "table" and (a.mtls == "with_key" or a.mtls == "alone") and c.by_id[tostring(a.id)]
        if api then
            api.mtls = a.mtls
            if type(a.mtls_ca) == "string" and a.mtls_ca ~= "" then
                api.mtls_ca = compile_ca(a.mtls_ca) or false
                api.mtls_ok = {} -- raw fingerprint -> whether the CA signed it (this config only)
            end
        end
    end
end

-- The certificate record of this connection's client for `api`, or nil after refusing.
local function certificate(meta, api)
    local conn = var.connection
    local cert = by_connection:get(conn)
    if cert == nil then
        local pem = var.ssl_client_raw_cert
        local der = pem and pem ~= "" and der_of(pem)
        cert = der and { fp = sha256(der), der = der } or NONE
        by_connection:set(conn, cert)
    end
    if not cert then
        return refuse(api, nil, "certificate-required")
    end
    local rec = meta.certs[cert.fp]
    if not rec then
        return refuse(api, nil, "certificate-unknown")
    end
    if rec.revoked then
        return refuse(api, nil, "certificate-revoked")
    end
    local t = now()
    if rec.na <= t or rec.nb > t then
        return refuse(api, nil, "certificate-expired")
    end
    local ok_cache = api.mtls_ok
    if ok_cache then
        local ok = ok_cache[cert.fp]
        if ok == nil then
            ok = api.mtls_ca and signed_by(api.mtls_ca, cert.der) or false
            ok_cache[cert.fp] = ok
        end
        if not ok then
            return refuse(api, nil, "certificate-untrusted")
        end
    end
    return rec
end

-- The access phase's credential stage for an mTLS API: returns the record
-- the rest of the pipeline uses (the key's or token's, or the certificate's
-- with mode "alone") and the credential source, or nil after refusing.
function _M.run(meta, api, stage_key, authz, header_key)
    local rec = certificate(meta, api)
    if not rec then
        return nil
    end
    if api.mtls == "alone" then
        var.pt_key = rec.prefix -- the log names the certificate where it names a key
        var.pt_app = rec.app_s
        var.pt_org = rec.org_s
        return rec, 0 -- source 0: no credential header to strip
    end
    local k, src = stage_key(meta, api, authz, header_key)
    if not k then
        return nil
    end
    if k.app ~= rec.app then
        return refuse(api, nil, "certificate-mismatch")
    end
    return k, src
end

-- Towards an https upstream that asks for a client certificate: nginx loads the
-- API's certificate and key from these variables (proxy_ssl_certificate data:$pt_ucert)
-- in a location of its own, so no other API pays for it.
function _M.to_upstream(api, quiet)
    var.pt_ucert = api.up_cert
    var.pt_ukey = api.up_key
    local verify = api.tls_verify
    if quiet then
        return ngx.exec(verify and "@portico_query_key_https_client" or "@portico_query_key_https_client_unverified")
    end
    return ngx.exec(verify and "@portico_https_client" or "@portico_https_client_unverified")
end

return _M
