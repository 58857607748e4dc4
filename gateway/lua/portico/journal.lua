-- The delta journal: every applied delta document, one JSON line each, in
-- <state>/journal.jsonl beside the persisted snapshot (portico.persist), so a
-- restart without the platform comes back at the latest version, and deltas
-- that reach the active slot while a snapshot loads are replayed onto it.
local cjson = require "cjson.safe"
local settings = require "portico.settings"

local type, ipairs = type, ipairs
local concat = table.concat

local _M = {}

local function path()
    return settings.state_dir .. "/journal.jsonl"
end

function _M.append(doc)
    local f = io.open(path(), "a")
    if f then
        f:write(cjson.encode(doc), "\n")
        f:close()
    end
end

-- the journaled delta documents, oldest first
function _M.entries()
    local out = {}
    local f = io.open(path(), "r")
    if not f then
        return out
    end
    for line in f:lines() do
        local doc = cjson.decode(line)
        if type(doc) == "table" and type(doc.changes) == "table" then
            out[#out + 1] = doc
        end
    end
    f:close()
    return out
end

-- keeps only the entries newer than `version` (a snapshot of it was persisted)
function _M.trim(version)
    local keep = {}
    for _, doc in ipairs(_M.entries()) do
        if doc.to > version then
            keep[#keep + 1] = cjson.encode(doc)
        end
    end
    local tmp = path() .. ".tmp"
    local f = io.open(tmp, "w")
    if f then
        f:write(concat(keep, "\n"), #keep > 0 and "\n" or "")
        f:close()
        os.rename(tmp, path())
    end
end

return _M
