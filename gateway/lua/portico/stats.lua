-- Counters. Hot-path increments touch only a per-worker table; the log flush
-- timer folds them into the shared dict, so /_portico/status lags by at most
-- one flush interval and requests never take the shared-dict lock for stats.
local dict = ngx.shared.portico_stats
local pairs = pairs

local _M = {}

local pending = {}

function _M.inc(name, n)
    pending[name] = (pending[name] or 0) + (n or 1)
end

function _M.flush()
    for k, v in pairs(pending) do
        dict:incr(k, v, 0)
        pending[k] = nil
    end
end

function _M.snapshot()
    local out = {}
    for _, k in ipairs(dict:get_keys(0)) do
        out[k] = dict:get(k)
    end
    return out
end

return _M
