-- nginx entry points for init (master) and init_worker.
local _M = {}

function _M.init(settings_path)
    -- the request pipeline is one long path through several modules; LuaJIT's
    -- default trace limits abort it ("trace too long") and fall back to the
    -- interpreter, which costs several microseconds per request
    jit.opt.start("maxtrace=8000", "maxrecord=32000", "maxirconst=4000", "maxside=400", "loopunroll=100",
        "sizemcode=128", "maxmcode=16384", "maxsnap=1000")
    require("portico.settings").load(settings_path)
    -- load everything in the master so workers share the compiled modules
    for _, m in ipairs({ "crypto", "keyformat", "ip", "jsonscan", "lock", "url", "keyrecord", "slots", "routes", "tokens",
        "compile", "store", "durable", "journal", "persist", "deltas", "snapshot", "stats", "problem", "limits_local", "limits",
        "refusals", "testmode", "cors", "reqheaders", "access", "balancer", "spool", "logging", "httpc", "sync", "admin" }) do
        require("portico." .. m)
    end
    if require("portico.settings").redis then
        require("portico.limits").enable_shared(require("portico.limits_shared"))
    end
    require("portico.spool").recover()
end

function _M.init_worker()
    require("portico.logging").start()
    require("portico.sync").start()
end

return _M
