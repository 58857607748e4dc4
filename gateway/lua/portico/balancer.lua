-- Picks the API's upstream for the shared keepalive upstream block. nginx keeps
-- idle connections per peer address, so every API gets its own keepalive pool.
local balancer = require "ngx.balancer"
local store = require "portico.store"

local _M = {}

function _M.run()
    -- the access phase just called store.current() and set $pt_api
    local meta = store.cached()
    local api = meta and meta.by_id[ngx.var.pt_api]
    if api and api.sandbox and ngx.var.pt_env == "t" then
        api = api.sandbox -- a test key's request (portico.testmode)
    end
    local up = api and api.upstream
    if not up then
        return ngx.exit(502) -- the API vanished with a config change mid-request
    end
    local ok, err = balancer.set_current_peer(up.addr, up.port)
    if not ok then
        ngx.log(ngx.ERR, "cannot set upstream for API ", api.id, ": ", err)
        return ngx.exit(502)
    end
    if api.custom_timeouts then
        balancer.set_timeouts(api.connect_timeout, api.send_timeout, api.read_timeout)
    end
end

return _M
