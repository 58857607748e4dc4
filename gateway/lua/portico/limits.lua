-- Rate limits (per key, per second and per minute) and quotas (per subscription,
-- per UTC day and month) plus the platform's "blocked until" state. A plan with
-- quota_scope or rate_scope "organisation" counts those per (organisation,
-- plan) instead: every key and access token of the organisation's
-- applications on that plan takes from one counter (issue #15).
-- Counters live in the local shared dict (portico.limits_local). With --redis,
-- the rate windows are shared by every gateway (portico.limits_shared); when
-- the shared store is unreachable the plan's store_failure_mode decides:
-- "allow" falls back to this gateway's own windows (counted), "deny" refuses
-- with 503 limiter-unavailable. Quotas stay local (the platform enforces the
-- global quota by pushing blocked_until), except an organisation's: with
-- --redis its counters are in Redis too, so the fleet counts it exactly
-- (this gateway's own counter while Redis is unavailable).
local stats = require "portico.stats"
local localb = require "portico.limits_local"

local floor, ceil, type = math.floor, math.ceil, type
local window_take, counter_take, undo = localb.window_take, localb.counter_take, localb.undo

local _M = {}

local shared -- portico.limits_shared when --redis is set (see enable_shared)

function _M.enable_shared(mod)
    shared = mod
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
    -- local dict failures (e.g. out of memory) admit: the platform's quota
    -- enforcement still applies, and refusing paying traffic is worse
    stats.inc("limiter_errors")
    ngx.log(ngx.WARN, "limiter failed: ", err)
end

-- One result table per worker, refilled by every check(): the caller reads it
-- before anything can yield, so no table is allocated per request. The shared
-- limiter yields (a Redis round trip) and other requests use this table
-- meanwhile, so it gets its own table and the result is copied in after.
local info = {}

local function reset_info()
    info.outcome = "ok"
    info.limit, info.remaining, info.reset = nil, nil, nil
    info.day_remaining, info.month_remaining = nil, nil
    info.window, info.retry_after, info.reason = nil, nil, nil
end

local function deny_rate(limit, window, retry)
    retry = ceil(retry)
    info.outcome, info.window, info.limit = "rate", window == 1 and "second" or "minute", limit
    info.remaining, info.reset, info.retry_after = 0, retry, retry
    return false, info
end

-- keeps the tightest window for the RateLimit-* headers
local function note_rate(limit, remaining, reset)
    if not info.limit or remaining < info.remaining then
        info.limit, info.remaining, info.reset = limit, remaining, ceil(reset)
    end
end

-- The key's rate limits at this gateway (GCRA). Returns true, or false after filling info.
-- Straight-line code (no loops): LuaJIT compiles it into one trace.
local function local_rates(k, rps, rpm, now, headers)
    local st1, st2
    if rps then
        st1 = k.rl_s
        if not st1 then
            st1 = {}
            k.rl_s = st1
        end
        local ok, remaining, reset = window_take(st1, "s" .. k.lid, rps, 1, now)
        if ok == nil then
            failed(remaining)
            st1 = nil
        elseif not ok then
            return deny_rate(rps, 1, reset)
        elseif headers then
            note_rate(rps, remaining, reset)
        end
    end
    if rpm then
        st2 = k.rl_m
        if not st2 then
            st2 = {}
            k.rl_m = st2
        end
        local ok, remaining, reset = window_take(st2, "m" .. k.lid, rpm, 60, now)
        if ok == nil then
            failed(remaining)
        elseif not ok then
            if st1 then
                undo(st1)
            end
            return deny_rate(rpm, 60, reset)
        elseif headers then
            note_rate(rpm, remaining, reset)
        end
    end
    return true, st1, st2
end

local function quota(st, id, limit, period, reset, window)
    local ok, used = counter_take(st, id, limit, period, ceil(reset) + 3600)
    if ok == nil then
        failed(used)
        return true, nil
    end
    if not ok then
        info.outcome, info.window, info.limit, info.remaining = "quota", window, limit, 0
        info.retry_after = ceil(reset)
        return false
    end
    return true, limit - used
end

-- The counters of the credential's organisation on a plan with an organisation
-- scope: a table shaped like a key record for the rate windows (lid, rlid: the
-- limiter ids local and in Redis) and like a subscription for the quotas
-- (q_id_d, q_id_m), one per organisation and plan per worker.
local function org_counters(plan, org)
    local o = plan.orgs[org]
    if not o then
        local id = "o" .. org .. ":" .. (plan.cid or plan.id_s) -- cid: test keys' plan (portico.testmode)
        o = { lid = id, rlid = id, q_id_d = "d" .. id .. ":", q_id_m = "M" .. id .. ":" }
        plan.orgs[org] = o
    end
    return o
end

-- An organisation's quota in Redis (--redis), so all gateways count it
-- together. Returns true or false (info filled), or nil when Redis is
-- unavailable: the caller then counts at this gateway, and the platform's
-- block (from collected usage) still holds the fleet to the quota.
local function shared_quota(o, qd, qm, now, st1, st2)
    local rl, rr, rt = info.limit, info.remaining, info.reset -- the rate windows' headers so far
    local day = floor(now / DAY)
    local idx, e = month_info(now)
    local day_reset, month_reset = (day + 1) * DAY - now, e - now
    local res, a, b = shared.take_quota(o, qd, day, ceil(day_reset) + 3600, qm, idx, ceil(month_reset) + 3600)
    -- the call yielded, and other requests refilled `info` meanwhile
    reset_info()
    info.limit, info.remaining, info.reset = rl, rr, rt
    if res == "ok" then
        info.day_remaining, info.month_remaining = a, b
        return true
    end
    if res == "denied" then
        if st1 then undo(st1) end
        if st2 then undo(st2) end
        local day_window = a == "day"
        info.outcome, info.window, info.limit, info.remaining = "quota", a, day_window and qd or qm, 0
        info.retry_after = ceil(day_window and day_reset or month_reset)
        return false
    end
    stats.inc("limiter.quota_fallback")
    return nil
end

-- k: key record; sub: subscription; plan: plan; now: seconds.
-- Returns allowed, info. info.outcome is "ok" | "rate" | "quota" | "blocked"
-- | "unavailable" (shared store down and the plan says deny).
function _M.check(k, sub, plan, now)
    reset_info()
    local bu = sub.blocked_until
    if bu and bu > now then
        info.outcome, info.window, info.retry_after = "blocked", "blocked", ceil(bu - now)
        info.reason = sub.blocked_reason
        return false, info
    end
    local rps, rpm, qd, qm = plan.rate_per_second, plan.rate_per_minute, plan.quota_per_day, plan.quota_per_month
    local orgs, orgq = plan.orgs, nil
    if orgs then
        local org = k.org
        if type(org) == "number" then
            local o = org_counters(plan, org)
            if plan.r_org then
                k = o
            end
            if plan.q_org then
                sub, orgq = o, true
            end
        end
    end
    local st1, st2, ok
    if rps or rpm then
        if shared then
            local taken = {}
            local res, retry = shared.take(k, rps, rpm, now, taken)
            reset_info()
            for field, value in pairs(taken) do
                info[field] = value
            end
            if res == "ok" then
                st1, st2 = nil, nil
            elseif res == "denied" then
                return false, info
            elseif plan.store_failure_mode == "deny" then
                stats.inc("limiter.fallback_denied")
                info.outcome, info.retry_after = "unavailable", retry
                return false, info
            else
                -- allowed under the fallback: this gateway's own windows, no
                -- RateLimit headers (they would not describe the shared limit)
                ok, st1, st2 = local_rates(k, rps, rpm, now, false)
                if not ok then
                    return false, info
                end
                stats.inc("limiter.fallback_allowed")
            end
        else
            ok, st1, st2 = local_rates(k, rps, rpm, now, true)
            if not ok then
                return false, info
            end
        end
    end
    if orgq and shared and (qd or qm) then
        local allowed = shared_quota(sub, qd, qm, now, st1, st2)
        if allowed ~= nil then
            return allowed, info
        end
    end
    local sst
    if qd then
        sst = sub.q_day
        if not sst then
            sst = {}
            sub.q_day = sst
        end
        local day = floor(now / DAY)
        local ok2, remaining = quota(sst, sub.q_id_d, qd, day, (day + 1) * DAY - now, "day")
        if not ok2 then
            if st1 then undo(st1) end
            if st2 then undo(st2) end
            return false, info
        end
        info.day_remaining = remaining
    end
    if qm then
        local mst = sub.q_month
        if not mst then
            mst = {}
            sub.q_month = mst
        end
        local idx, e = month_info(now)
        local ok2, remaining = quota(mst, sub.q_id_m, qm, idx, e - now, "month")
        if not ok2 then
            if st1 then undo(st1) end
            if st2 then undo(st2) end
            if sst and info.day_remaining then undo(sst) end
            return false, info
        end
        info.month_remaining = remaining
    end
    return true, info
end

return _M
