-- The delta journal: every applied delta, one line each, in
-- <state>/journal.jsonl beside the persisted snapshot (portico.persist), so a
-- restart without the platform comes back at the latest version, and deltas
-- that reach the active slot while a snapshot loads are replayed onto it.
--
-- A line is "<crc32, 8 hex> <delta JSON>", appended and fsync'ed before the
-- delta is answered (portico.durable). Replay trusts a line only if its
-- checksum matches and it continues the version reached so far: it stops at
-- the first damaged line or gap, and the gateway fetches the rest from the
-- platform (portico.sync), so a lost line can never be skipped over.
local cjson = require "cjson.safe"
local durable = require "portico.durable"
local lock = require "portico.lock"
local settings = require "portico.settings"
local slots = require "portico.slots"

local type, tonumber, ipairs = type, tonumber, ipairs
local format, match = string.format, string.match
local concat = table.concat
local crc32 = ngx.crc32_long

local state = ngx.shared.portico_state
local ENTRIES, BYTES = "journal_entries", "journal_bytes" -- for the compaction threshold (portico.sync)
local WRITE_LOCK = slots.WRITE_LOCK

local _M = { ENTRIES = ENTRIES, BYTES = BYTES }

local function path()
    return settings.state_dir .. "/journal.jsonl"
end

local function line_of(json)
    return format("%08x %s\n", crc32(json), json)
end

-- Journals a delta; `doc` must start where the active slot was ({from = the
-- version it was applied to}). true or nil, err
function _M.append(doc)
    local line = line_of(cjson.encode(doc))
    local ok, err = durable.append(path(), line)
    if not ok then
        return nil, err
    end
    state:incr(ENTRIES, 1, 0)
    state:incr(BYTES, #line, 0)
    return true
end

-- the delta of one journal line, or nil when the line is damaged
local function decode(line)
    local sum, json = match(line, "^(%x%x%x%x%x%x%x%x) (.+)$")
    if not sum or tonumber(sum, 16) ~= crc32(json) then
        return nil
    end
    local doc = cjson.decode(json)
    if type(doc) ~= "table" or type(doc.to) ~= "number" or type(doc.changes) ~= "table" then
        return nil
    end
    doc.line = json
    return doc
end

-- The journaled deltas that continue `version`, oldest first, and the version
-- they reach; plus why the replay stopped early (a damaged line or a gap), or nil.
function _M.replay(version)
    local out, reached = {}, version
    local f = io.open(path(), "rb")
    if not f then
        return out, reached
    end
    local n, stop = 0, nil
    for line in f:lines() do
        n = n + 1
        local doc = decode(line)
        if not doc then
            stop = "journal line " .. n .. " is damaged"
            break
        end
        if doc.to > reached then
            local from = tonumber(doc.from) or 0
            if from > reached then
                stop = "journal line " .. n .. " starts at version " .. from .. ", after " .. reached
                break
            end
            out[#out + 1] = doc
            reached = doc.to
        end
    end
    if not stop then -- the whole journal was read: what the compaction threshold counts
        state:set(ENTRIES, n)
        state:set(BYTES, f:seek("end") or 0)
    end
    f:close()
    return out, reached, stop
end

-- Replaces the journal with these entries (from replay()); the caller holds
-- the write lock, so no delta is appended meanwhile. true or nil, err
function _M.rewrite_locked(entries)
    local lines = {}
    for i, doc in ipairs(entries) do
        lines[i] = line_of(doc.line)
    end
    local text = concat(lines)
    local ok, err = durable.replace(path(), text)
    if not ok then
        return nil, err
    end
    state:set(ENTRIES, #lines)
    state:set(BYTES, #text)
    return true
end

-- keeps only the deltas that continue `version` (a snapshot of it was persisted)
function _M.trim(version)
    local held = lock.acquire(WRITE_LOCK, 10)
    if not held then
        return nil, "config store busy"
    end
    local ok, res, err = pcall(function()
        return _M.rewrite_locked((_M.replay(version)))
    end)
    lock.release(WRITE_LOCK, held)
    if not ok then
        return nil, res
    end
    return res, err
end

return _M
