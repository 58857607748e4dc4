-- Settings rendered by gateway/launcher.py into <runtime>/conf/portico.json.
-- Read once in the master (init_by_lua); workers inherit the table via fork.
local cjson = require "cjson.safe"

local _M = {}

function _M.load(path)
    local f = assert(io.open(path, "rb"))
    local text = f:read("*a")
    f:close()
    local t = assert(cjson.decode(text), "malformed settings file " .. path)
    for k, v in pairs(t) do
        if v ~= cjson.null then
            _M[k] = v
        end
    end
    return _M
end

return _M
