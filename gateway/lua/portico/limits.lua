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

local taken = {}

local function rollback(n)
    for i = 1, n do
        backend.undo(taken[i])
        taken[i] = nil
    end
end

local function failed(err)
    -- local backend failures (e.g. out of memory) admit: the platform's quota
    -- enforcement still applies, and refusing paying traffic is worse
    stats.inc("limiter_errors")
    ngx.log(ngx.WARN, "limiter backend failed: ", err)
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
    local n = 0

    local rps, rpm = plan.rate_per_second, plan.rate_per_minute
    for pass = 1, 2 do
        local limit = pass == 1 and rps or rpm
        if type(limit) == "number" then
            local window = pass == 1 and 1 or 60
            local ok, remaining, reset, retry, handle =
                backend.window_take((pass == 1 and "s" or "m") .. key_id, limit, window, now)
            if ok == nil then
                failed(remaining)
            elseif not ok then
                rollback(n)
                retry = ceil(retry)
                return false, { outcome = "rate", window = pass == 1 and "second" or "minute", limit = limit,
                    remaining = 0, reset = retry, retry_after = retry }
            else
                n = n + 1
                taken[n] = handle
                if not info.limit or remaining < info.remaining then
                    info.limit, info.remaining, info.reset = limit, remaining, ceil(reset)
                end
            end
        end
    end

    local qd, qm = plan.quota_per_day, plan.quota_per_month
    if type(qd) == "number" or type(qm) == "number" then
        local sid = sub.id or 0
        for pass = 1, 2 do
            local limit = pass == 1 and qd or qm
            if type(limit) == "number" then
                local id, reset
                if pass == 1 then
                    local day = floor(now / DAY)
                    id, reset = "d" .. sid .. ":" .. day, (day + 1) * DAY - now
                else
                    local idx, e = month_info(now)
                    id, reset = "M" .. sid .. ":" .. idx, e - now
                end
                local ok, used, handle = backend.counter_take(id, limit, ceil(reset) + 3600)
                if ok == nil then
                    failed(used)
                elseif not ok then
                    rollback(n)
                    return false, { outcome = "quota", window = pass == 1 and "day" or "month",
                        limit = limit, remaining = 0, retry_after = ceil(reset) }
                else
                    n = n + 1
                    taken[n] = handle
                    if pass == 1 then
                        info.day_limit, info.day_remaining = limit, limit - used
                    else
                        info.month_limit, info.month_remaining = limit, limit - used
                    end
                end
            end
        end
    end
    for i = 1, n do
        taken[i] = nil
    end
    return true, info
end

return _M
