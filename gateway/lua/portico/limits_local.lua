-- Local (per-gateway) counters on the portico_limits shared dict.
--   window_take(st, id, limit, window, now) -> true, remaining, reset
--                                            | false, 0, retry_after
--                                            | nil, err   (dict failure)
--   counter_take(st, id, limit, period, ttl) -> true, used | false, used | nil, err
--   undo(st)                                  -- give back the last take on st
-- `st` is a small per-worker table owned by the caller (one per key and
-- window, or per subscription and period) that caches the counter's dict key
-- and, for windows, the previous window's final count: the hot path is one
-- shared-dict incr per counter and no string building.
-- Denied requests are not counted, so a client hammering past its limit does
-- not extend its own ban and admitted counts stay exact under concurrency
-- (increment first, compare, roll back).
local dict = ngx.shared.portico_limits
local floor = math.floor

local _M = { name = "local" }

-- Sliding-window counter: estimate = previous window's count weighted by the
-- part of it still inside the sliding window + current count. Unlike a fixed
-- window it never admits ~2x the limit around a window boundary.
function _M.window_take(st, id, limit, window, now)
    local idx = floor(now / window)
    if st.idx ~= idx then
        -- the previous window is closed: its count is read once per window,
        -- not per request (a worker whose clock lags by a few ms may still
        -- add to it; the estimate tolerates that)
        st.idx, st.ck = idx, id .. idx
        st.prev = dict:get(id .. (idx - 1)) or 0
    end
    local prev = st.prev
    local elapsed = now - idx * window
    local weighted = prev * (window - elapsed) / window
    local cur, err = dict:incr(st.ck, 1, 0, window * 2 + 1)
    if not cur then
        return nil, err
    end
    local est = weighted + cur
    if est > limit then
        dict:incr(st.ck, -1)
        cur = cur - 1
        local retry
        if cur + 1 <= limit then
            -- wait until the previous window's weight has decayed enough
            retry = window - (limit - cur - 1) * window / prev - elapsed
        else
            -- wait for the next window, where this window's count is the decaying part
            retry = (window - elapsed) + window - (limit - 1) * window / cur
        end
        return false, 0, retry
    end
    return true, floor(limit - est), window - elapsed
end

-- fixed-period counter (quotas): period is the day or month index
function _M.counter_take(st, id, limit, period, ttl)
    if st.idx ~= period then
        st.idx, st.ck = period, id .. period
    end
    local used, err = dict:incr(st.ck, 1, 0, ttl)
    if not used then
        return nil, err
    end
    if used > limit then
        dict:incr(st.ck, -1)
        return false, used - 1
    end
    return true, used
end

function _M.undo(st)
    dict:incr(st.ck, -1)
end

return _M
