-- The persisted snapshot, <state>/snapshot.json: written after every full
-- snapshot from the platform or --snapshot-file, read back on start
-- (portico.snapshot.load_persisted), with the journal (portico.journal)
-- holding what changed since. Written through portico.durable, so a full disk
-- keeps the previous file; the failure is kept in portico_state ("persist_error")
-- for /_portico/status and the heartbeat until a write succeeds again.
local durable = require "portico.durable"
local journal = require "portico.journal"
local settings = require "portico.settings"

local state = ngx.shared.portico_state

local _M = { ERROR = "persist_error", ERROR_AT = "persist_error_at" }

local WRITE_STEP = 1024 * 1024 -- bytes written between two yields

local function path()
    return settings.state_dir .. "/snapshot.json"
end

-- remembers (err) or clears (nil) the latest persistence failure
function _M.note(err)
    if err then
        ngx.log(ngx.ERR, "config state not persisted: ", err)
        state:set(_M.ERROR, err)
        state:set(_M.ERROR_AT, ngx.now())
    else
        state:delete(_M.ERROR)
        state:delete(_M.ERROR_AT)
    end
end

-- the latest persistence failure and when, or nil
function _M.error()
    local err = state:get(_M.ERROR)
    return err, err and state:get(_M.ERROR_AT)
end

-- saves the snapshot (JSON text) of `version`; the journal keeps only newer deltas
-- returns true, or nil, err
function _M.save(text, version)
    local ok, err = durable.replace(path(), text, WRITE_STEP)
    if ok then
        ok, err = journal.trim(version)
    end
    _M.note(err)
    if ok then
        state:delete("journal_gap") -- deltas whose journal line was lost are in this snapshot
    end
    return ok, err
end

-- the persisted snapshot's text, or nil
function _M.read()
    local f = io.open(path(), "rb")
    if not f then
        return nil
    end
    local text = f:read("*a")
    f:close()
    return text
end

return _M
