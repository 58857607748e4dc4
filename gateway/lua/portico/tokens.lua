-- OAuth2 access tokens of API consumers (docs/gateway-protocol.md, §11): JWTs
-- the platform signs with ES256, verified here without calling it. A token
-- that verifies becomes a record shaped like a key's (portico.keyrecord) so
-- the rest of the pipeline enforces it the same way: subscription, plan
-- limits and quotas, scopes (as API ids), identity headers.
--
-- Verified tokens are cached per worker until they expire, so the signature
-- is checked once per token per worker. A config change (a new compiled
-- config table) makes each cached token re-check, on its next use, what can
-- change under it: its signing key still published, its jti or client not
-- revoked, the APIs its scope names.
local cjson = require "cjson.safe"
local b64 = require "ngx.base64"
local lrucache = require "resty.lrucache"
local crypto = require "portico.crypto"
local settings = require "portico.settings"

local type, tonumber, tostring, ipairs, max = type, tonumber, tostring, ipairs, math.max
local sub, find, gmatch, match = string.sub, string.find, string.gmatch, string.match
local decode_b64url = b64.decode_base64url

local _M = {}

-- seconds of clock difference tolerated on exp and nbf (--token-leeway)
local LEEWAY = tonumber(settings.token_leeway) or 30
-- longer "Bearer" values are not tokens we issue: refused before any decoding
local MAX_TOKEN_LEN = 4096
local LIMITER_ID_LEN = 12 -- as for keys (portico.store): the limiters' counter ids
local CLIENT_PREFIX_LEN = 20 -- the request log's key column (analytics RequestEvent.key_prefix)

local cache = assert(lrucache.new(20000)) -- Authorization value -> record; only tokens whose signature verified

---------------------------------------------------------------------------
-- the config's oauth member, compiled once per config change (portico.compile)
---------------------------------------------------------------------------

local function expiring_set(list, id_field, until_field)
    local set = {}
    if type(list) == "table" then
        for _, e in ipairs(list) do
            if type(e) == "table" and type(e[id_field]) == "string" then
                set[e[id_field]] = tonumber(e[until_field]) or 0
            end
        end
    end
    return set
end

-- The verification state: issuer, audience, public keys by kid, the deny
-- lists (id -> until when), API ids by slug. nil when the config has none.
function _M.compile(oauth, apis)
    if type(oauth) ~= "table" or type(oauth.issuer) ~= "string" or type(oauth.audience) ~= "string" then
        return nil
    end
    local keys = {}
    local jwks = type(oauth.jwks) == "table" and oauth.jwks.keys
    if type(jwks) == "table" then
        for _, jwk in ipairs(jwks) do
            -- only what we sign with: an EC P-256 key for ES256; anything else never verifies
            if type(jwk) == "table" and type(jwk.kid) == "string" and jwk.kty == "EC" and jwk.crv == "P-256"
                and (jwk.alg == nil or jwk.alg == "ES256") and type(jwk.x) == "string" and type(jwk.y) == "string" then
                local x, y = decode_b64url(jwk.x), decode_b64url(jwk.y)
                local pkey = x and y and crypto.p256_public_key(x, y)
                if pkey then
                    keys[jwk.kid] = pkey
                else
                    ngx.log(ngx.WARN, "signing key ", jwk.kid, " is not a P-256 public key: ignored")
                end
            end
        end
    end
    local by_slug = {}
    for _, api in ipairs(apis) do
        if type(api.slug) == "string" then
            by_slug[api.slug] = api.id
        end
    end
    return {
        issuer = oauth.issuer,
        audience = oauth.audience,
        keys = keys,
        revoked_jti = expiring_set(oauth.revoked_tokens, "jti", "exp"),
        revoked_clients = expiring_set(oauth.revoked_clients, "client_id", "until"),
        by_slug = by_slug,
    }
end

---------------------------------------------------------------------------
-- verification
---------------------------------------------------------------------------

local function json_part(s)
    local raw = decode_b64url(s)
    local t = raw and cjson.decode(raw)
    return type(t) == "table" and t or nil
end

local function audience_ok(aud, expected)
    if aud == expected then
        return true
    end
    if type(aud) == "table" then
        for _, a in ipairs(aud) do
            if a == expected then
                return true
            end
        end
    end
    return false
end

local function positive_int(v)
    return type(v) == "number" and v > 0 and v == math.floor(v)
end

-- The claims of a token whose signature verifies under a published key, or
-- nil, cause. Every check that does not depend on the time or the deny lists.
local function verified_claims(oauth, token)
    if #token > MAX_TOKEN_LEN then
        return nil
    end
    local h_end = find(token, ".", 1, true)
    local p_end = h_end and find(token, ".", h_end + 1, true)
    if not p_end or find(token, ".", p_end + 1, true) then
        return nil
    end
    local header = json_part(sub(token, 1, h_end - 1))
    -- the algorithm is pinned, not taken from the token: no "none", no HS256 keyed
    -- with the public key; "crit" names extensions we do not implement (RFC 7515 §4.1.11)
    if not header or header.alg ~= "ES256" or header.crit ~= nil or type(header.kid) ~= "string" then
        return nil
    end
    local pkey = oauth.keys[header.kid] -- an exact lookup: a kid is a name, never a path or a URL
    if not pkey then
        return nil
    end
    local sig = decode_b64url(sub(token, p_end + 1))
    if not sig or not crypto.es256_verify(pkey, sub(token, 1, p_end - 1), sig) then
        return nil
    end
    local claims = json_part(sub(token, h_end + 1, p_end - 1))
    if not claims or claims.iss ~= oauth.issuer or not audience_ok(claims.aud, oauth.audience) then
        return nil
    end
    local client = claims.client_id or claims.sub
    if type(client) ~= "string" or type(claims.jti) ~= "string" or type(claims.scope) ~= "string"
        or type(claims.exp) ~= "number" or (claims.nbf ~= nil and type(claims.nbf) ~= "number")
        or not positive_int(claims.application_id) or not positive_int(claims.organisation_id) then
        return nil
    end
    return claims, header.kid, client
end

-- the scope's API slugs as a set of API ids (a key's "apis" restriction)
local function scope_apis(oauth, scope)
    local apis = {}
    for slug in gmatch(scope, "[^ ]+") do
        local id = oauth.by_slug[slug]
        if id then
            apis[id] = true
        end
    end
    return apis
end

-- What a config change can alter for a cached token; nil or a cause.
local function recheck(rec, c, now)
    local oauth = c.oauth
    rec.config = c
    rec.denied = nil
    if not oauth or not oauth.keys[rec.kid] or oauth.issuer ~= rec.iss or oauth.audience ~= rec.aud then
        rec.denied = "token-invalid" -- its key left the JWKS (an emergency rotation) or the issuer changed
    else
        local until_jti = oauth.revoked_jti[rec.jti]
        local until_client = oauth.revoked_clients[rec.client]
        if (until_jti and until_jti > now - LEEWAY) or (until_client and until_client > now - LEEWAY) then
            rec.denied = "token-revoked"
        end
        rec.apis = scope_apis(oauth, rec.scope)
    end
    return rec.denied
end

-- The record for the access token in an Authorization header ("Bearer <jwt>")
-- under the compiled config c, or nil, cause (token-invalid, token-expired,
-- token-revoked). `now` is the gateway's clock. Cached by the whole header
-- value: a hit needs no substring of a long header (each costs a copy and a hash).
function _M.resolve(c, authorization, now)
    local rec = cache:get(authorization)
    if not rec then
        local oauth = c.oauth
        local token = match(authorization, "^[Bb][Ee][Aa][Rr][Ee][Rr] +([^ ]+) *$")
        if not oauth or not token then
            return nil, "token-invalid"
        end
        local claims, kid, client = verified_claims(oauth, token)
        if not claims then
            return nil, "token-invalid"
        end
        local app, org = claims.application_id, claims.organisation_id
        rec = {
            client = client, jti = claims.jti, kid = kid, iss = oauth.issuer, aud = oauth.audience,
            scope = claims.scope, exp = claims.exp, nbf = claims.nbf,
            app = app, org = org, app_s = tostring(app), org_s = tostring(org),
            -- the client id's first characters stand where a key's prefix does in the log record (access.lua
            -- ids_of: as short as a key's; the platform knows them, analytics records.py), unescaped only if safe
            loggable = not find(client, "[^%w_%-]"), prefix = sub(client, 1, CLIENT_PREFIX_LEN), token = true,
            lid = sub(crypto.sha256(client), 1, LIMITER_ID_LEN), -- rate limits per client, like per key
            test = claims.environment == "test" or nil, -- a test client's token (portico.testmode)
        }
        recheck(rec, c, now)
        -- kept at least a minute: an expired token sent again is refused without a second verification
        cache:set(authorization, rec, max(claims.exp + LEEWAY - now, 60))
    elseif rec.config ~= c then
        recheck(rec, c, now)
    end
    if rec.exp + LEEWAY <= now then
        return nil, "token-expired"
    end
    if rec.denied then
        return nil, rec.denied
    end
    if rec.nbf and rec.nbf - LEEWAY > now then
        return nil, "token-invalid"
    end
    return rec
end

-- whether the header's token verified in this worker before (no signature check to throttle)
function _M.cached(authorization)
    return cache:get(authorization) ~= nil
end

-- How many verified tokens this worker holds (/_portico/status).
function _M.cached_count()
    return cache:count()
end

-- forgets every cached token (tests of the verification cost)
function _M.flush()
    cache:flush_all()
end

return _M
