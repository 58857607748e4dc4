-- nginx entry points for init (master) and init_worker.
local _M = {}

function _M.init(settings_path)
    require("portico.settings").load(settings_path)
    -- load everything in the master so workers share the compiled modules
    for _, m in ipairs({ "crypto", "keyformat", "ip", "jsonscan", "lock", "store", "stats", "problem",
        "limits_local", "limits", "access", "balancer", "spool", "logging", "httpc", "sync", "admin" }) do
        require("portico." .. m)
    end
    require("portico.spool").recover()
end

function _M.init_worker()
    require("portico.logging").start()
    require("portico.sync").start()
end

return _M
