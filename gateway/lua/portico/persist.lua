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
_M.path = path

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

-- after a snapshot file of `version` was written (ok, err): the journal keeps only newer deltas
local function saved(version, ok, err)
    if ok then
        ok, err = journal.trim(version)
    end
    _M.note(err)
    if ok then
        state:delete("journal_gap") -- deltas whose journal line was lost are in this snapshot
    end
    return ok, err
end

-- saves the snapshot (JSON text) of `version`; true, or nil, err
function _M.save(text, version)
    return saved(version, durable.replace(path(), text, WRITE_STEP))
end

-- makes the complete download `file` (snapshot of `version`) the persisted snapshot
function _M.adopt(file, version)
    return saved(version, durable.adopt(file, path()))
end

-- persists a copy of the snapshot file `file` (--snapshot-file) of `version`
function _M.copy(file, version)
    return saved(version, durable.copy(file, path()))
end

-- where a snapshot is downloaded before it is loaded and adopted
function _M.download_path()
    return path() .. ".part"
end

return _M
