-- Rate limits (per key, per second and per minute) and quotas (per subscription,
-- per UTC day and month) plus the platform's "blocked until" state.
-- Storage is delegated to a backend module (see limits_local.lua) so a shared
-- Redis backend with per-plan failure modes can be slotted in later.
local stats = require "portico.stats"

local floor, ceil, type = math.floor, math.ceil, type

local _M = {}

local backend = require "portico.limits_local"

function _M.set_backend(b)
    backend = b
end

local DAY = 86400

-- days since 1970-01-01 for a civil UTC date (no dependence on local TZ)
local function days_from_civil(y, m, d)
    if m <= 2 then
        y = y - 1
    end
    local era = floor(y / 400)
    local yoe = y - era * 400
    local mp = (m + 9) % 12
    local doy = floor((153 * mp + 2) / 5) + d - 1
    local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
    return era * 146097 + doe - 719468
end

local month_day, month_idx, month_end
local function month_info(now)
    local day = floor(now / DAY)
    if day ~= month_day then
        local t = os.date("!*t", floor(now))
        local ny, nm = t.year, t.month + 1
        if nm > 12 then
            nm, ny = 1, ny + 1
        end
        month_day, month_idx, month_end = day, t.year * 12 + t.month - 1, days_from_civil(ny, nm, 1) * DAY
    end
    return month_idx, month_end
end

local function failed(err)
    -- local backend failures (e.g. out of memory) admit: the platform's quota
    -- enforcement still applies, and refusing paying traffic is worse
    stats.inc("limiter_errors")
    ngx.log(ngx.WARN, "limiter backend failed: ", err)
end

-- Straight-line code (no loops) on purpose: LuaJIT compiles this hot path into
-- one trace; loops here made it fall back to the interpreter.
local function rate(info, prefix, key_id, limit, window, now)
    local ok, remaining, reset, retry, handle = backend.window_take(prefix .. key_id, limit, window, now)
    if ok == nil then
        failed(remaining)
        return true
    end
    if not ok then
        retry = ceil(retry)
        return false, { outcome = "rate", window = window == 1 and "second" or "minute", limit = limit,
            remaining = 0, reset = retry, retry_after = retry }
    end
    if not info.limit or remaining < info.remaining then
        info.limit, info.remaining, info.reset = limit, remaining, ceil(reset)
    end
    return true, nil, handle
end

local function quota(id, limit, reset, window)
    local ok, used, handle = backend.counter_take(id, limit, ceil(reset) + 3600)
    if ok == nil then
        failed(used)
        return true, 0
    end
    if not ok then
        return false, { outcome = "quota", window = window, limit = limit, remaining = 0,
            retry_after = ceil(reset) }
    end
    return true, limit - used, handle
end

local function undo(h1, h2, h3)
    if h1 then backend.undo(h1) end
    if h2 then backend.undo(h2) end
    if h3 then backend.undo(h3) end
end

-- key_id: raw digest; sub: subscription; plan: plan; now: seconds.
-- Returns allowed, info. info.outcome is "ok" | "rate" | "quota" | "blocked".
function _M.check(key_id, sub, plan, now)
    local bu = sub.blocked_until
    if bu and bu > now then
        return false, { outcome = "blocked", window = "blocked", retry_after = ceil(bu - now),
            reason = sub.blocked_reason }
    end
    local info = { outcome = "ok" }
    local ok, deny, h1, h2, h3
    local rps, rpm, qd, qm = plan.rate_per_second, plan.rate_per_minute, plan.quota_per_day, plan.quota_per_month

    if type(rps) == "number" then
        ok, deny, h1 = rate(info, "s", key_id, rps, 1, now)
        if not ok then
            return false, deny
        end
    end
    if type(rpm) == "number" then
        ok, deny, h2 = rate(info, "m", key_id, rpm, 60, now)
        if not ok then
            undo(h1)
            return false, deny
        end
    end
    local sid = sub.id or 0
    if type(qd) == "number" then
        local day = floor(now / DAY)
        local remaining
        ok, remaining, h3 = quota("d" .. sid .. ":" .. day, qd, (day + 1) * DAY - now, "day")
        if not ok then
            undo(h1, h2)
            return false, remaining
        end
        info.day_limit, info.day_remaining = qd, remaining
    end
    if type(qm) == "number" then
        local idx, e = month_info(now)
        local remaining
        ok, remaining = quota("M" .. sid .. ":" .. idx, qm, e - now, "month")
        if not ok then
            undo(h1, h2, h3)
            return false, remaining
        end
        info.month_limit, info.month_remaining = qm, remaining
    end
    return true, info
end

return _M
