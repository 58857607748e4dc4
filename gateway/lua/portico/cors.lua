-- CORS for browsers calling an API (the portal's try-it console, developers'
-- web apps): origins an API lists (compiled into api.cors_origins) get a
-- grant, any other origin gets no CORS header at all. Only requests that
-- carry an Origin header come here.

local ngx = ngx
local var = ngx.var
local header = ngx.header
local get_method = ngx.req.get_method

local _M = {}

-- The headers a browser may send: the API's key header, the bearer token, a
-- JSON body and a request id of its own.
local ALLOWED_HEADERS = "Authorization, Content-Type, Accept, X-Request-Id"
local MAX_AGE = "600" -- seconds a browser may reuse a preflight's answer
-- What a page may read of an answer besides the simple headers.
local EXPOSED = "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-Id, "
    .. "X-Quota-Remaining-Day, X-Quota-Remaining-Month"

-- Grants origin on this request: the response headers are set here, in the
-- access phase, and go out with the upstream's answer or a refusal alike (no
-- add_header in the config, so requests without an Origin pay nothing).
-- Returns true when it answered a preflight.
function _M.grant(api, origin)
    local allowed = api.cors_origins
    if not (allowed and allowed[origin]) then
        return false
    end
    header["Access-Control-Allow-Origin"] = origin
    header["Access-Control-Expose-Headers"] = EXPOSED
    header["Vary"] = "Origin"
    if get_method() ~= "OPTIONS" or not var.http_access_control_request_method then
        return false
    end
    -- A preflight carries no credentials: it is answered here, before any key check.
    var.pt_api = api.id_s
    header["Access-Control-Allow-Methods"] = api.allow or "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    header["Access-Control-Allow-Headers"] = api.key_header .. ", " .. ALLOWED_HEADERS
    header["Access-Control-Max-Age"] = MAX_AGE
    ngx.status = 204
    return ngx.exit(204) or true
end

return _M
