-- SHA-256 / HMAC-SHA256 and ES256 signature checks through LuaJIT FFI into the
-- libcrypto nginx already links, so the gateway needs no extra Lua packages. Digests are raw 32-byte strings:
-- the key store is indexed by raw digest, which halves shared-dict memory per key.
local ffi = require "ffi"
local C = ffi.C
local byte = string.byte

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
int EVP_Digest(const void *data, size_t count, unsigned char *md,
               unsigned int *size, const EVP_MD *type, void *impl);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_md_ctx_st EVP_MD_CTX;
EVP_PKEY *d2i_PUBKEY(EVP_PKEY **a, const unsigned char **pp, long length);
void EVP_PKEY_free(EVP_PKEY *pkey);
EVP_MD_CTX *EVP_MD_CTX_new(void);
void EVP_MD_CTX_free(EVP_MD_CTX *ctx);
int EVP_MD_CTX_reset(EVP_MD_CTX *ctx);
int EVP_DigestVerifyInit(EVP_MD_CTX *ctx, void **pctx, const EVP_MD *type, void *e, EVP_PKEY *pkey);
int EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sigret, size_t siglen,
                     const unsigned char *tbs, size_t tbslen);
void ERR_clear_error(void);
]]

local _M = {}

local md = ffi.new("unsigned char[32]")
local mdlen = ffi.new("unsigned int[1]")
local hexbuf = ffi.new("unsigned char[64]")
local rawbuf = ffi.new("unsigned char[32]")
local sha256 = C.EVP_sha256()
local HEX = ffi.new("const char[17]", "0123456789abcdef")

-- nibble value per byte, -1 for non-hex characters
local NIB = ffi.new("int8_t[256]")
for i = 0, 255 do NIB[i] = -1 end
for i = 0, 9 do NIB[48 + i] = i end
for i = 0, 5 do NIB[97 + i] = 10 + i; NIB[65 + i] = 10 + i end

function _M.sha256(s)
    if C.EVP_Digest(s, #s, md, mdlen, sha256, nil) ~= 1 then
        return nil
    end
    return ffi.string(md, 32)
end

function _M.hmac_sha256(key, s)
    if C.HMAC(sha256, key, #key, s, #s, md, mdlen) == nil then
        return nil
    end
    return ffi.string(md, 32)
end

function _M.to_hex(raw)
    local n = #raw
    local p = ffi.cast("const uint8_t *", raw)
    local out = n <= 32 and hexbuf or ffi.new("unsigned char[?]", n * 2)
    for i = 0, n - 1 do
        local b = p[i]
        out[2 * i] = HEX[b / 16]
        out[2 * i + 1] = HEX[b % 16]
    end
    return ffi.string(out, n * 2)
end

-- 64 hex chars -> 32 raw bytes; nil if malformed. Hot at snapshot load (once per key).
function _M.hex32_to_raw(hex)
    if type(hex) ~= "string" or #hex ~= 64 then
        return nil
    end
    local p = ffi.cast("const uint8_t *", hex)
    for i = 0, 31 do
        local hi, lo = NIB[p[2 * i]], NIB[p[2 * i + 1]]
        if hi < 0 or lo < 0 then
            return nil
        end
        rawbuf[i] = hi * 16 + lo
    end
    return ffi.string(rawbuf, 32)
end

-- Constant-time comparison for signatures (plain == leaks the mismatch position).
function _M.equal(a, b)
    if type(a) ~= "string" or type(b) ~= "string" or #a ~= #b then
        return false
    end
    local diff = 0
    for i = 1, #a do
        diff = bit.bor(diff, bit.bxor(byte(a, i), byte(b, i)))
    end
    return diff == 0
end

---------------------------------------------------------------------------
-- ES256 (ECDSA P-256 with SHA-256), for consumer access tokens (portico.tokens)
---------------------------------------------------------------------------

-- DER SubjectPublicKeyInfo of a P-256 key, up to the uncompressed point
-- (04 || x || y): SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING }
local P256_SPKI_HEAD = "\48\89\48\19\6\7\42\134\72\206\61\2\1\6\8\42\134\72\206\61\3\1\7\3\66\0\4"
local der_in = ffi.new("const unsigned char *[1]")

-- A P-256 public key from its raw 32-byte coordinates (a JWK's decoded x and
-- y), freed by the garbage collector; nil if they are not a point on the curve.
function _M.p256_public_key(x, y)
    if #x ~= 32 or #y ~= 32 then
        return nil
    end
    local der = P256_SPKI_HEAD .. x .. y
    der_in[0] = ffi.cast("const unsigned char *", der)
    local pkey = C.d2i_PUBKEY(nil, der_in, #der)
    if pkey == nil then
        C.ERR_clear_error()
        return nil
    end
    return ffi.gc(pkey, C.EVP_PKEY_free)
end

-- one DER INTEGER from 32 unsigned big-endian bytes: leading zeros dropped,
-- a zero byte added when the top bit is set (it would read as negative)
local function der_integer(b)
    local i = 1
    while i < 32 and byte(b, i) == 0 do
        i = i + 1
    end
    local v = b:sub(i)
    if byte(v, 1) >= 0x80 then
        v = "\0" .. v
    end
    return "\2" .. string.char(#v) .. v
end

local verify_ctx = ffi.gc(C.EVP_MD_CTX_new(), C.EVP_MD_CTX_free)

-- Whether sig (JWS form: r || s, 64 bytes) signs data under pkey. libcrypto
-- wants the DER form of the signature, made here from the two halves.
function _M.es256_verify(pkey, data, sig)
    if #sig ~= 64 then
        return false
    end
    local body = der_integer(sig:sub(1, 32)) .. der_integer(sig:sub(33, 64))
    local der = "\48" .. string.char(#body) .. body
    C.EVP_MD_CTX_reset(verify_ctx) -- reused: one context per worker
    if C.EVP_DigestVerifyInit(verify_ctx, nil, sha256, nil, pkey) ~= 1 then
        C.ERR_clear_error()
        return false
    end
    local ok = C.EVP_DigestVerify(verify_ctx, der, #der, data, #data) == 1
    if not ok then
        C.ERR_clear_error() -- a bad signature leaves an error on the thread's queue
    end
    return ok
end

return _M
