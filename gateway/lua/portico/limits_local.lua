-- Local (per-gateway) limiter backend on the portico_limits shared dict.
-- Interface shared with future backends (e.g. Redis, one script per call):
--   window_take(id, limit, window, now) -> true, remaining, reset, nil, handle
--                                        | false, 0, reset, retry_after
--                                        | nil, err   (backend failure)
--   counter_take(id, limit, ttl)        -> true, used, handle | false, used | nil, err
--   undo(handle)                        -- give back a take when a later limit denies
-- Denied requests are not counted, so a client hammering past its limit does
-- not extend its own ban and admitted counts stay exact under concurrency
-- (increment first, compare, roll back).
local dict = ngx.shared.portico_limits
local floor = math.floor

local _M = { name = "local" }

-- Sliding-window counter: estimate = previous window's count weighted by the
-- part of it still inside the sliding window + current count. Unlike a fixed
-- window it never admits ~2x the limit around a window boundary.
function _M.window_take(id, limit, window, now)
    local idx = floor(now / window)
    local elapsed = now - idx * window
    local ck = id .. idx
    local prev = dict:get(id .. (idx - 1)) or 0
    local weighted = prev * (window - elapsed) / window
    local cur, err = dict:incr(ck, 1, 0, window * 2 + 1)
    if not cur then
        return nil, err
    end
    local est = weighted + cur
    if est > limit then
        dict:incr(ck, -1)
        cur = cur - 1
        local retry
        if cur + 1 <= limit then
            -- wait until the previous window's weight has decayed enough
            retry = window - (limit - cur - 1) * window / prev - elapsed
        else
            -- wait for the next window, where this window's count is the decaying part
            retry = (window - elapsed) + window - (limit - 1) * window / cur
        end
        return false, 0, retry, retry
    end
    return true, floor(limit - est), window - elapsed, nil, ck
end

function _M.counter_take(id, limit, ttl)
    local used, err = dict:incr(id, 1, 0, ttl)
    if not used then
        return nil, err
    end
    if used > limit then
        dict:incr(id, -1)
        return false, used - 1
    end
    return true, used, id
end

function _M.undo(handle)
    dict:incr(handle, -1)
end

return _M
