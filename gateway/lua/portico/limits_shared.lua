-- Shared rate windows in Redis (--redis), so a per-second/per-minute limit
-- holds for the consumer as a whole, not per gateway.
--
-- One round trip per admitted request: a Lua script (EVALSHA, EVAL after
-- NOSCRIPT) checks both sliding windows of the key and increments them only
-- if both admit, atomically, so N gateways together admit exactly the limit.
-- Keys: ptc:rl:{<key id>}:<s|m>:<window index> (the hash tag keeps a key's
-- windows on one Redis Cluster slot), expiring after two windows.
--
-- Failure handling, per worker: a call that fails (connect/read timeout,
-- connection refused, error reply) opens a circuit breaker for
-- retry_interval seconds; while it is open, and while one request probes a
-- recovered Redis, requests do not wait for Redis at all and the plan's
-- store_failure_mode applies (see portico.limits). So a dead or hanging
-- Redis costs each worker at most one timeout per interval.
local crypto = require "portico.crypto"
local redis = require "portico.redis"
local settings = require "portico.settings"
local stats = require "portico.stats"

local floor, ceil, format, sub, find = math.floor, math.ceil, string.format, string.sub, string.find
local now_fn, update_time = ngx.now, ngx.update_time

local _M = {}

-- KEYS: per limit, its current and previous window; ARGV: now, then per
-- limit its size and window seconds. Returns "1 prev1 cur1[ prev2 cur2]"
-- with the counts after this request, or "0 prev1 cur1[ ...] i" with the
-- counts without it and i = the first window that refused. One string, not
-- an array: one bulk reply is two socket reads instead of one per element.
local SCRIPT = [[
local now = tonumber(ARGV[1])
local n = #KEYS / 2
local out, denied = {1}, 0
for i = 1, n do
    local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
    local cur = tonumber(redis.call("GET", KEYS[2 * i - 1]) or "0")
    local prev = tonumber(redis.call("GET", KEYS[2 * i]) or "0")
    local elapsed = now - math.floor(now / window) * window
    out[2 * i], out[2 * i + 1] = prev, cur
    if denied == 0 and prev * (window - elapsed) / window + cur + 1 > limit then
        denied = i
    end
end
if denied > 0 then
    out[1] = 0
    out[2 * n + 2] = denied
    return table.concat(out, " ")
end
for i = 1, n do
    local c = redis.call("INCR", KEYS[2 * i - 1])
    if c == 1 then
        redis.call("EXPIRE", KEYS[2 * i - 1], tonumber(ARGV[2 * i + 1]) * 2 + 1)
    end
    out[2 * i + 1] = c
end
return table.concat(out, " ")
]]
local SHA = crypto.to_hex(ngx.sha1_bin(SCRIPT))

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

local function window_key(k, tag, idx)
    local id = k.rlid
    if not id then
        id = crypto.to_hex(k.lid)
        k.rlid = id
    end
    return "ptc:rl:{" .. id .. "}:" .. tag .. ":" .. idx
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

local function retry_after(limit, window, prev, cur, elapsed)
    if cur + 1 <= limit and prev > 0 then
        return window - (limit - cur - 1) * window / prev - elapsed
    end
    return (window - elapsed) + window - (limit - 1) * window / (cur > 0 and cur or 1)
end

-- Returns "ok" (info filled with the tightest window), "denied" (info filled
-- as a rate denial), or "unavailable", retry_after_seconds.
function _M.take(k, rps, rpm, now, info)
    if probing or now < down_until then
        return "unavailable", ceil(down_until > now and down_until - now or retry_interval)
    end
    local recovering = down_until > 0
    if recovering then
        probing = true -- one request per worker finds out whether Redis is back
    end
    local keys, argv = {}, { format("%.3f", now) }
    local limits = {}
    if rps then
        local idx = floor(now)
        keys[#keys + 1] = window_key(k, "s", idx)
        keys[#keys + 1] = window_key(k, "s", idx - 1)
        argv[#argv + 1], argv[#argv + 2] = rps, 1
        limits[#limits + 1] = rps
    end
    if rpm then
        local idx = floor(now / 60)
        keys[#keys + 1] = window_key(k, "m", idx)
        keys[#keys + 1] = window_key(k, "m", idx - 1)
        argv[#argv + 1], argv[#argv + 2] = rpm, 60
        limits[#limits + 1] = rpm
    end
    local n = #keys
    local args = { "EVALSHA", SHA, n }
    for i = 1, n do
        args[#args + 1] = keys[i]
    end
    for i = 1, #argv do
        args[#args + 1] = argv[i]
    end
    local ok, res, err = pcall(client.call, client, args, function(msg)
        if on_error(msg) then
            local eval = { "EVAL", SCRIPT }
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
        return "unavailable", ceil(retry_interval)
    end
    if recovering then
        down_until = 0
        ngx.log(ngx.NOTICE, "shared rate limiter available again")
    end
    local windows = n / 2
    if res[1] == 0 then
        local i = res[2 * windows + 2]
        local limit = limits[i]
        local window = (i == 1 and rps) and 1 or 60
        local elapsed = now - floor(now / window) * window
        local retry = ceil(retry_after(limit, window, res[2 * i], res[2 * i + 1], elapsed))
        if retry < 1 then
            retry = 1 -- another gateway's request landed in the same instant
        end
        info.outcome, info.window, info.limit = "rate", window == 1 and "second" or "minute", limit
        info.remaining, info.reset, info.retry_after = 0, retry, retry
        return "denied"
    end
    for i = 1, windows do
        local limit = limits[i]
        local window = (i == 1 and rps) and 1 or 60
        local elapsed = now - floor(now / window) * window
        local est = res[2 * i] * (window - elapsed) / window + res[2 * i + 1]
        local remaining = floor(limit - est)
        if remaining < 0 then
            remaining = 0
        end
        if not info.limit or remaining < info.remaining then
            info.limit, info.remaining, info.reset = limit, remaining, ceil(window - elapsed)
        end
    end
    return "ok"
end

return _M
