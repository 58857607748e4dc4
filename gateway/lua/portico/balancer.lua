-- Picks the API's upstream for the shared keepalive upstream block. nginx keeps
-- idle connections per peer address, so every API gets its own keepalive pool.
local balancer = require "ngx.balancer"

local _M = {}

function _M.run()
    local api = ngx.ctx.api
    local up = api.upstream
    local ok, err = balancer.set_current_peer(up.addr, up.port)
    if not ok then
        ngx.log(ngx.ERR, "cannot set upstream for API ", api.id, ": ", err)
        return ngx.exit(502)
    end
    balancer.set_timeouts(api.connect_timeout, api.send_timeout, api.read_timeout)
end

return _M
