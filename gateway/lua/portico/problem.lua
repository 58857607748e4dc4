-- RFC 9457 problem+json answers. Every cause has a stable type URI; bodies for
-- unknown, malformed and revoked keys are identical, so a caller cannot learn
-- whether a key exists. Nothing here writes to the error log (floods stay cheap).
local cjson = require "cjson.safe"
local stats = require "portico.stats"

local ngx = ngx
local var = ngx.var

local _M = {}

_M.BASE = "https://portico.dev/problems/"

local CAUSES = {
    ["missing-key"] = { 401, "API key missing", "Send the key in the Authorization: Bearer header or the API's key header." },
    ["invalid-key"] = { 401, "API key invalid", "The API key is not valid." },
    ["expired-key"] = { 401, "API key expired", "The API key has expired; use its replacement." },
    ["token-invalid"] = { 401, "Access token invalid",
        "The access token is malformed, not signed by this platform, not yet valid or not meant for this gateway." },
    ["token-expired"] = { 401, "Access token expired", "The access token has expired; request a new one." },
    ["token-revoked"] = { 401, "Access token revoked", "The access token or its OAuth client was revoked." },
    ["token-scope"] = { 403, "Token not allowed for this API", "The access token's scope does not include this API." },
    ["certificate-required"] = { 401, "Client certificate required",
        "This API requires a registered client certificate in the TLS handshake." },
    ["certificate-unknown"] = { 401, "Client certificate unknown",
        "The client certificate is not registered to any application." },
    ["certificate-revoked"] = { 401, "Client certificate revoked", "The client certificate was revoked." },
    ["certificate-expired"] = { 401, "Client certificate expired", "The client certificate is outside its validity dates." },
    ["certificate-untrusted"] = { 401, "Client certificate not from the API's CA",
        "This API only accepts client certificates issued by its certificate authority." },
    ["certificate-mismatch"] = { 401, "Client certificate does not match the credential",
        "The client certificate and the key or token belong to different applications." },
    ["forbidden-api"] = { 403, "Key not allowed for this API", "The key has no active subscription to this API." },
    ["test-key-no-sandbox"] = { 403, "Test keys not accepted by this API",
        "This API has no sandbox upstream, so it does not accept test keys; use a live key." },
    ["forbidden-ip"] = { 403, "Client address not allowed", "The key may not be used from this address." },
    ["method-not-allowed"] = { 405, "Method not allowed", "This API does not accept this method." },
    ["body-too-large"] = { 413, "Request body too large", "The request body exceeds this API's limit." },
    ["rate-limited"] = { 429, "Rate limit exceeded", "Too many requests; retry after the indicated delay." },
    ["too-many-invalid-keys"] = { 429, "Too many invalid keys",
        "Too many requests with invalid API keys from this address; retry after the indicated delay." },
    ["limiter-unavailable"] = { 503, "Rate limiter unavailable",
        "The shared rate-limit store is unreachable and this plan does not admit requests without it." },
    ["quota-exceeded"] = { 429, "Quota exhausted", "The subscription's quota is used up until the indicated time." },
    ["no-route"] = { 404, "No API at this path", "No API is published at this path." },
    ["not-ready"] = { 503, "Gateway not ready", "The gateway has no configuration yet." },
    ["bad-gateway"] = { 502, "Upstream unavailable", "The API's upstream could not be reached." },
    ["gateway-timeout"] = { 504, "Upstream timeout", "The API's upstream did not answer in time." },
    ["bad-request"] = { 400, "Bad request", "The request could not be processed." },
    ["request-invalid"] = { 400, "Request does not match the API description",
        "A parameter or the body breaks the API's OpenAPI description: see pointer and rule." },
    ["attack-signature"] = { 403, "Request matches an attack signature",
        "A query argument, the path or the body matches a generic attack pattern: see signature and pointer." },
    ["unknown-operation"] = { 404, "No such operation", "The API's OpenAPI description has no operation at this path." },
    ["admin-unauthorized"] = { 401, "Signature required", "Admin requests must carry a valid, fresh signature." },
    ["admin-not-found"] = { 404, "Not found", "Unknown admin endpoint." },
}
_M.CAUSES = CAUSES

-- static part of each body, so a denial costs one concatenation
local HEAD = {}
for cause, c in pairs(CAUSES) do
    HEAD[cause] = '{"type":"' .. _M.BASE .. cause .. '","title":"' .. c[2] .. '","status":' .. c[1]
        .. ',"detail":"' .. c[3] .. '"'
end

local function request_id()
    -- the client's X-Request-Id (so escaped) or one made by nginx (map $portico_rid)
    return require("portico.logging").escape(var.portico_rid or "")
end

-- extra: table of additional members (encoded), or nil
function _M.body(cause, extra)
    local b = HEAD[cause] .. ',"request_id":"' .. request_id() .. '"'
    if extra then
        for k, v in pairs(extra) do
            b = b .. ',' .. cjson.encode(k) .. ':' .. cjson.encode(v)
        end
    end
    return b .. "}"
end

-- Sends the problem and ends the request (access or content phase).
function _M.send(cause, extra, headers)
    local status = CAUSES[cause][1]
    stats.inc("denied." .. cause)
    var.pt_dc = cause -- the access log's "dc": why the request log shows this request refused
    ngx.status = status
    local h = ngx.header
    h["Content-Type"] = "application/problem+json"
    h["Cache-Control"] = "no-store"
    if headers then
        for k, v in pairs(headers) do
            h[k] = v
        end
    end
    ngx.print(_M.body(cause, extra))
    return ngx.exit(status)
end

-- content handler for nginx-generated errors (error_page targets)
function _M.from_status()
    local status = ngx.status
    local cause = status == 504 and "gateway-timeout" or status == 413 and "body-too-large"
        or status == 400 and "bad-request" or "bad-gateway"
    ngx.status = CAUSES[cause][1]
    stats.inc("upstream." .. cause)
    local ids = var.pt_ids
    if ids and ids ~= "" then
        var.pt_ids = ids .. ',"dc":"' .. cause .. '"' -- admitted: logged with format portico_full
    else
        var.pt_dc = cause
    end
    ngx.header["Content-Type"] = "application/problem+json"
    ngx.print(_M.body(cause))
    return ngx.exit(ngx.status)
end

return _M
