-- Shared rate limits in Redis (--redis), so a per-second/per-minute limit
-- holds for the consumer as a whole, not per gateway; and the quota counters
-- of plans whose quota is the organisation's (take_quota).
--
-- One round trip per request: a Lua script (EVALSHA, EVAL after NOSCRIPT)
-- checks both limits of the key (GCRA, as portico.limits_local) and moves
-- them only if both admit, atomically, so N gateways together admit exactly
-- what one would. Keys: ptc:rl:{<key id>}:<s|m> (the hash tag keeps a key's
-- limits on one Redis Cluster slot), expiring once the key's allowance is
-- whole again.
--
-- Failure handling, per worker: a call that fails (connect/read timeout,
-- connection refused, error reply) opens a circuit breaker for
-- retry_interval seconds; while it is open, and while one request probes a
-- recovered Redis, requests do not wait for Redis at all and the plan's
-- store_failure_mode applies (see portico.limits). So a dead or hanging
-- Redis costs each worker at most one timeout per interval.
local crypto = require "portico.crypto"
local redis = require "portico.redis"
local localb = require "portico.limits_local"
local settings = require "portico.settings"
local stats = require "portico.stats"

local floor, ceil, sub, find = math.floor, math.ceil, string.sub, string.find
local now_fn, update_time = ngx.now, ngx.update_time

local _M = {}

-- GCRA, as in portico.limits_local, with each limit's theoretical arrival
-- time (relative to ARGV[1], the epoch) in Redis. Time is Redis's own (TIME):
-- gateways whose clocks differ still share one timeline, so one running ahead
-- can neither block the others nor get a fresh allowance of its own. KEYS:
-- one per limit; ARGV: epoch, then per limit its size and window seconds. Checks every limit
-- and moves them only if all admit, atomically, so N gateways together admit
-- exactly what one would. Returns "1 ahead1[ ahead2]" (how far each limit's
-- allowance is in use, in seconds) or "0 i retry" (limit i refused; retry in
-- seconds). One string, not an array: one bulk reply is two socket reads.
local SCRIPT = [[
if redis.replicate_commands then
    redis.replicate_commands() -- Redis < 7: TIME before a write needs effects replication
end
local clock = redis.call("TIME")
local now = tonumber(clock[1]) - tonumber(ARGV[1]) + tonumber(clock[2]) / 1e6
local out, tats = {1}, {}
for i = 1, #KEYS do
    local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
    local t = window / limit
    local tat = tonumber(redis.call("GET", KEYS[i]) or "0")
    if tat < now then
        tat = now
    end
    tat = tat + t
    local ahead = tat - now
    if ahead > window + 1e-9 then
        return "0 " .. i .. " " .. (ahead - window)
    end
    tats[i], out[i + 1] = tat, ahead
end
for i = 1, #KEYS do
    -- expires once its allowance is whole again: an absent key is a full bucket
    local ttl = math.ceil((tats[i] - now) * 1000) + 1000
    redis.call("SET", KEYS[i], string.format("%.9f", tats[i]), "PX", ttl)
end
return table.concat(out, " ")
]]
local SHA = crypto.to_hex(ngx.sha1_bin(SCRIPT))

-- Quota counters of an organisation-scoped plan (issue #15), so every gateway
-- takes from one count. KEYS: the period counters (day, month); ARGV per key
-- its limit and TTL in seconds. Counts every counter and keeps the counts only
-- if all are within their limits (a refused request is not counted, as in
-- portico.limits_local). Returns "1 used1[ used2]" or "0 i" (counter i full).
local QUOTA_SCRIPT = [[
local out = {1}
for i = 1, #KEYS do
    local used = redis.call("INCR", KEYS[i])
    if used == 1 then
        redis.call("EXPIRE", KEYS[i], ARGV[2 * i])
    end
    if used > tonumber(ARGV[2 * i - 1]) then
        for j = 1, i do
            redis.call("DECR", KEYS[j])
        end
        return "0 " .. i
    end
    out[i + 1] = used
end
return table.concat(out, " ")
]]
local QUOTA_SHA = crypto.to_hex(ngx.sha1_bin(QUOTA_SCRIPT))

local cfg = settings.redis or {}
local client = cfg.host and redis.new(cfg)
local retry_interval = tonumber(cfg.retry_interval) or 1

-- per-worker circuit breaker
local down_until, probing = 0, false

local function on_error(msg)
    if sub(msg, 1, 8) == "NOSCRIPT" then
        return true
    end
end

local function limit_key(k, tag)
    local id = k.rlid
    if not id then
        id = crypto.to_hex(k.lid)
        k.rlid = id
    end
    return "ptc:rl:{" .. id .. "}:" .. tag
end

-- "1 0 12 3 40" -> { 1, 0, 12, 3, 40 } (the script's reply)
local function parse(s)
    local out, pos = {}, 1
    while true do
        local sp = find(s, " ", pos, true)
        local v = tonumber(sub(s, pos, sp and sp - 1))
        if not v then
            return nil
        end
        out[#out + 1] = v
        if not sp then
            return out
        end
        pos = sp + 1
    end
end

-- One script call through the per-worker circuit breaker: the parsed reply
-- (a table of numbers), or nil, retry_after_seconds when Redis is unavailable.
local function run(script, sha, keys, argv)
    local now = now_fn()
    if probing or now < down_until then
        return nil, ceil(down_until > now and down_until - now or retry_interval)
    end
    local recovering = down_until > 0
    if recovering then
        probing = true -- one request per worker finds out whether Redis is back
    end
    local n = #keys
    local args = { "EVALSHA", sha, n }
    for i = 1, n do
        args[#args + 1] = keys[i]
    end
    for i = 1, #argv do
        args[#args + 1] = argv[i]
    end
    local ok, res, err = pcall(client.call, client, args, function(msg)
        if on_error(msg) then
            local eval = { "EVAL", script }
            for i = 3, #args do
                eval[#eval + 1] = args[i]
            end
            return eval
        end
    end)
    probing = false
    if not ok then
        res, err = nil, res
    end
    if type(res) == "string" then
        res = parse(res)
        err = "malformed script reply"
    end
    if type(res) ~= "table" then
        update_time()
        down_until = now_fn() + retry_interval
        stats.inc("limiter.store_errors")
        ngx.log(ngx.WARN, "shared rate limiter unavailable for ", retry_interval, " s: ", tostring(err))
        return nil, ceil(retry_interval)
    end
    if recovering then
        down_until = 0
        ngx.log(ngx.NOTICE, "shared rate limiter available again")
    end
    return res
end

-- Returns "ok" (info filled with the tightest window), "denied" (info filled
-- as a rate denial), or "unavailable", retry_after_seconds.
function _M.take(k, rps, rpm, now, info)
    local keys, argv = {}, { localb.EPOCH }
    local limits, windows = {}, {}
    if rps then
        keys[#keys + 1] = limit_key(k, "s")
        argv[#argv + 1], argv[#argv + 2] = rps, 1
        limits[#limits + 1], windows[#windows + 1] = rps, 1
    end
    if rpm then
        keys[#keys + 1] = limit_key(k, "m")
        argv[#argv + 1], argv[#argv + 2] = rpm, 60
        limits[#limits + 1], windows[#windows + 1] = rpm, 60
    end
    local n = #keys
    local res, wait = run(SCRIPT, SHA, keys, argv)
    if not res then
        return "unavailable", wait
    end
    if res[1] == 0 then
        local i = res[2]
        local retry = ceil(res[3])
        if retry < 1 then
            retry = 1 -- another gateway's request landed in the same instant
        end
        info.outcome, info.window, info.limit = "rate", windows[i] == 1 and "second" or "minute", limits[i]
        info.remaining, info.reset, info.retry_after = 0, retry, retry
        return "denied"
    end
    for i = 1, n do
        local limit, window, ahead = limits[i], windows[i], res[i + 1]
        local remaining = floor((window - ahead) * limit / window + 1e-9)
        if not info.limit or remaining < info.remaining then
            info.limit, info.remaining, info.reset = limit, remaining, ceil(ahead)
        end
    end
    return "ok"
end

-- The counters `o` (portico.limits org_counters) take one request from their
-- day quota qd (day index d, expiring after ttl_d) and month quota qm (index
-- m, ttl_m); either limit may be nil. Returns "ok", remaining_day,
-- remaining_month | "denied", "day" or "month" | "unavailable".
function _M.take_quota(o, qd, d, ttl_d, qm, m, ttl_m)
    local keys, argv, windows = {}, {}, {}
    local prefix = o.qkey
    if not prefix then
        prefix = "ptc:q:{" .. o.rlid .. "}:"
        o.qkey = prefix
    end
    if qd then
        keys[1], argv[1], argv[2], windows[1] = prefix .. "d" .. d, qd, ttl_d, "day"
    end
    if qm then
        local i = #keys + 1
        keys[i], argv[2 * i - 1], argv[2 * i], windows[i] = prefix .. "M" .. m, qm, ttl_m, "month"
    end
    local res = run(QUOTA_SCRIPT, QUOTA_SHA, keys, argv)
    if not res then
        return "unavailable"
    end
    if res[1] == 0 then
        return "denied", windows[res[2]]
    end
    local day_left, month_left
    if qd then
        day_left = qd - res[2]
    end
    if qm then
        month_left = qm - res[#res]
    end
    return "ok", day_left, month_left
end

return _M
