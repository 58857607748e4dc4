-- Cross-worker mutex on a shared dict: `add` is atomic, the TTL frees a lock
-- whose holder crashed.
local state = ngx.shared.portico_state
local sleep, now, update_time = ngx.sleep, ngx.now, ngx.update_time

local _M = {}

-- waits up to `timeout` seconds (yielding); returns true when held
function _M.acquire(name, timeout, ttl)
    local deadline = now() + (timeout or 5)
    while true do
        if state:add(name, ngx.worker.pid(), ttl or 30) then
            return true
        end
        if now() >= deadline then
            return false
        end
        sleep(0.002)
        update_time()
    end
end

function _M.release(name)
    state:delete(name)
end

return _M
