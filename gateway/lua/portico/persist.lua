-- The persisted snapshot, <state>/snapshot.json: written after every full
-- snapshot from the platform or --snapshot-file, read back on start
-- (portico.snapshot.load_persisted), with the journal (portico.journal)
-- holding what changed since.
local journal = require "portico.journal"
local settings = require "portico.settings"

local sub = string.sub

local _M = {}

local WRITE_STEP = 1024 * 1024 -- bytes written between two yields

local function path()
    return settings.state_dir .. "/snapshot.json"
end

-- writes `text` to `file` atomically (temporary file + rename)
local function write_file_chunked(file, text)
    local tmp = file .. ".tmp"
    local f, err = io.open(tmp, "wb")
    if not f then
        return nil, err
    end
    for i = 1, #text, WRITE_STEP do
        f:write(sub(text, i, i + WRITE_STEP - 1))
        ngx.sleep(0.001) -- a big snapshot must not stall this worker's requests
    end
    f:close()
    return os.rename(tmp, file)
end

-- saves the snapshot (JSON text) of `version`; the journal keeps only newer deltas
-- returns true, or nil, err
function _M.save(text, version)
    local ok, err = write_file_chunked(path(), text)
    if not ok then
        return nil, err
    end
    journal.trim(version)
    return true
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
