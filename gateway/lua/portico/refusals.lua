-- Refusals of the access phase: every denial's problem+json answer and log
-- fields, and the invalid-key flood throttle. Cold paths, kept out of access.lua
-- so the admitted request's code stays small.
local problem = require "portico.problem"
local settings = require "portico.settings"

local ngx = ngx
local var = ngx.var
local tonumber, ceil = tonumber, math.ceil

local _M = {}

-- A denied request's log record (log_format portico) learns the API and the
-- subscription here rather than up front: admitted requests carry both in
-- $pt_ids and skip two variable writes (see mark_admitted).
function _M.refuse(api, s, cause, extra, headers)
    var.pt_api = api.id_s
    if s then
        var.pt_sub = s.id_s
    end
    return problem.send(cause, extra, headers)
end

---------------------------------------------------------------------------
-- invalid-key flood throttling (per client address, before any key lookup)
---------------------------------------------------------------------------

local limits_dict = ngx.shared.portico_limits
local flood_max = tonumber(settings.invalid_key_limit) or 0
local flood_window = tonumber(settings.invalid_key_window) or 60

-- nil, or seconds until the address may try unknown keys again
function _M.flood_blocked(addr)
    local n = limits_dict:get("iv" .. addr)
    if n and n >= flood_max then
        local ttl = limits_dict:ttl("iv" .. addr)
        return ttl and ttl > 0 and ceil(ttl) or 1
    end
end

-- an unknown key, or an access token that does not verify (cause "token-invalid"):
-- both count towards the address's throttle
function _M.invalid_key(api, addr, cause, headers)
    if flood_max > 0 then
        limits_dict:incr("iv" .. addr, 1, 0, flood_window) -- the window starts at the first failure
    end
    return _M.refuse(api, nil, cause or "invalid-key", nil, headers)
end

-- whether the flood throttle is on (access.lua checks it before reading the client address)
_M.FLOOD_CHECKED = flood_max > 0

-- a refusal by the rate limits or the quotas, with the headers that say when to retry
function _M.limit(api, s, info)
    local outcome = info.outcome
    if outcome == "unavailable" then
        return _M.refuse(api, s, "limiter-unavailable", { retry_after = info.retry_after },
            { ["Retry-After"] = info.retry_after })
    end
    var.pt_lim = outcome
    local headers = { ["Retry-After"] = info.retry_after }
    local extra = { limit = outcome == "rate" and "rate" or "quota", window = info.window,
        retry_after = info.retry_after }
    if outcome == "rate" then
        headers["RateLimit-Limit"] = info.limit
        headers["RateLimit-Remaining"] = 0
        headers["RateLimit-Reset"] = info.reset
    elseif info.reason and info.reason ~= ngx.null then
        extra.reason = info.reason
    end
    return _M.refuse(api, s, outcome == "rate" and "rate-limited" or "quota-exceeded", extra, headers)
end

return _M
