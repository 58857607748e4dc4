-- Cross-worker mutex on a shared dict: `add` is atomic; the value is the
-- holder's token, so only the holder renews or releases it (a lock that
-- expired and was taken by another worker is left alone). The TTL frees a
-- lock whose holder crashed; long work renews it between steps, so it never
-- expires under a live holder. There is no compare-and-delete on a shared
-- dict: the check and the delete are two calls, with nothing that yields
-- between them, on a lock renewed long before it could expire.
local state = ngx.shared.portico_state
local sleep, now, update_time = ngx.sleep, ngx.now, ngx.update_time

local _M = {}

local taken = 0 -- per worker: with the pid, every token is unique

-- waits up to `timeout` seconds (yielding); returns the holder's token, or nil
function _M.acquire(name, timeout, ttl)
    taken = taken + 1
    local token = ngx.worker.pid() .. ":" .. taken
    local deadline = now() + (timeout or 5)
    while true do
        if state:add(name, token, ttl or 30) then
            return token
        end
        if now() >= deadline then
            return nil
        end
        sleep(0.002)
        update_time()
    end
end

-- true (and the TTL is `ttl` again) while `token` holds the lock
function _M.renew(name, token, ttl)
    if state:get(name) ~= token then
        return false
    end
    return state:expire(name, ttl or 30) == true
end

-- releases the lock only if `token` (from acquire) still holds it; true if it did
function _M.release(name, token)
    if state:get(name) ~= token then
        return false
    end
    state:delete(name)
    return true
end

return _M
