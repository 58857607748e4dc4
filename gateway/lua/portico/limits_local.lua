-- Local (per-gateway) limits on the portico_limits shared dict.
--   window_take(st, id, limit, window, now) -> true, remaining, reset
--                                            | false, 0, retry_after
--                                            | nil, err   (dict failure)
--   counter_take(st, id, limit, period, ttl) -> true, used | false, used | nil, err
--   undo(st)                                  -- give back the last take on st
-- `st` is a small per-worker table owned by the caller (one per key and
-- window, or per subscription and period) that caches the dict key and what
-- the last take added, so undo can give it back.
-- Denied requests are not counted, so a client hammering past its limit does
-- not extend its own ban.
local dict = ngx.shared.portico_limits
local floor = math.floor

local _M = { name = "local" }

-- Times are kept relative to this epoch (2024-01-01): a double then still
-- resolves tens of nanoseconds, enough for emission intervals of huge limits.
local EPOCH = 1704067200
-- Float slack for "exactly `limit` requests at once".
local EPSILON = 1e-9
_M.EPOCH = EPOCH

-- GCRA, the token bucket written as one number per key and window: its
-- "theoretical arrival time" (TAT). A key may send `limit` requests at once
-- and then one every window/limit seconds. A client that never sends more
-- than `limit` in any window is never refused (its TAT never runs more than
-- a window ahead of now); one that sends more is refused the excess.
-- One atomic incr per request while the key is busy; a key that was idle (its
-- bucket full) is restarted from now with a set. Two workers restarting the
-- same key in the same instant may each write now + T: the count is then one
-- low for that instant (never high: the limiter never refuses a conforming client).
function _M.window_take(st, id, limit, window, now)
    local t = window / limit
    now = now - EPOCH
    st.ck, st.step = id, t
    local tat, err = dict:incr(id, t, now)
    if not tat then
        return nil, err
    end
    if tat - t < now then
        tat = now + t
        dict:set(id, tat)
    end
    local ahead = tat - now -- how much of the window's allowance is in use
    if ahead > window + EPSILON then
        dict:incr(id, -t)
        return false, 0, ahead - window
    end
    return true, floor((window - ahead) / t + EPSILON), ahead
end

-- fixed-period counter (quotas): period is the day or month index
function _M.counter_take(st, id, limit, period, ttl)
    if st.idx ~= period then
        st.idx, st.ck, st.step = period, id .. period, 1
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
    dict:incr(st.ck, -st.step)
end

return _M
