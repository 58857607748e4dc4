-- Full snapshots (docs/gateway-protocol.md, §2): loaded in slices into the
-- idle slot while requests keep reading the active one, the journal's newer
-- deltas replayed onto it, then swapped in (portico.slots). A snapshot with a
-- malformed key is rejected whole and the previous config stays.
local cjson = require "cjson.safe"
local deltas = require "portico.deltas"
local journal = require "portico.journal"
local jsonscan = require "portico.jsonscan"
local lock = require "portico.lock"
local persist = require "portico.persist"
local slots = require "portico.slots"

local type, tostring, ipairs, pcall, error, assert = type, tostring, ipairs, pcall, error, assert
local sub = string.sub

local state = ngx.shared.portico_state
local META, VERSION, COUNT, WRITE_LOCK = slots.META, slots.VERSION, slots.COUNT, slots.WRITE_LOCK
local KEY_CHUNK = 2000 -- keys decoded and stored per slice
local LOAD_LOCK = "load_lock"

local _M = {}

-- Loads a full snapshot (JSON text) into the idle slot and swaps it in.
-- opts: force (load even if not newer), persist (save it as the persisted snapshot).
-- Returns true; false, "not newer"; or nil, err.
function _M.load(text, opts)
    opts = opts or {}
    local m, err = jsonscan.members(text)
    if not m then
        return nil, err
    end
    local function member(name)
        local span = m[name]
        return span and cjson.decode(sub(text, span[1], span[2])) or nil
    end
    local version = member("version")
    if type(version) ~= "number" then
        return nil, "snapshot has no numeric version"
    end
    local cur = slots.version()
    if cur and version <= cur and not opts.force then
        return false, "not newer"
    end
    local meta = { version = version }
    for _, f in ipairs({ "apis", "plans", "subscriptions" }) do
        local v = member(f)
        meta[f] = type(v) == "table" and v or {}
    end
    if not lock.acquire(LOAD_LOCK, 0, 600) then
        return nil, "another snapshot load is in progress"
    end
    local started = ngx.now()
    local ok, res, detail = pcall(function()
        local slot, target = slots.idle()
        slot:flush_all() -- marks old entries expired; inserts below reclaim them
        local count = 0
        if m.keys then
            local ok2, err2 = jsonscan.each_chunk(text, m.keys, KEY_CHUNK, function(chunk)
                local keys = cjson.decode(chunk)
                if type(keys) ~= "table" then
                    error("malformed keys array")
                end
                for i = 1, #keys do
                    local r, e = slots.put_key(slot, keys[i], true)
                    if r == "new" then
                        count = count + 1
                    elseif not r then
                        error("key " .. i .. ": " .. tostring(e))
                    end
                end
                slot:flush_expired(KEY_CHUNK * 2)
            end)
            if not ok2 then
                error(err2)
            end
        end
        slot:set(COUNT, count)
        assert(lock.acquire(WRITE_LOCK, 10), "config store busy")
        local ok3, e3 = pcall(function()
            -- deltas that reached the active slot during the load are replayed
            local to = version
            for _, doc in ipairs(journal.entries()) do
                if doc.to > version then
                    if deltas.apply_list(slot, meta, doc.changes, version) then
                        meta.version = doc.to
                    end
                    to = doc.to > to and doc.to or to
                end
            end
            assert(slot:safe_set(META, cjson.encode(meta)))
            slot:set(VERSION, to)
            slots.swap_to(target)
        end)
        lock.release(WRITE_LOCK)
        if not ok3 then
            error(e3)
        end
        return count
    end)
    lock.release(LOAD_LOCK)
    if not ok then
        return nil, tostring(res)
    end
    ngx.update_time()
    state:set("last_load_seconds", ngx.now() - started)
    state:set("last_load_keys", res)
    if opts.persist then
        local pok, perr = persist.save(text, version)
        if not pok then
            ngx.log(ngx.WARN, "could not persist snapshot: ", perr)
        end
    end
    return true, detail
end

-- the last persisted snapshot, with the journal's newer deltas replayed by load()
function _M.load_persisted()
    local text = persist.read()
    if not text then
        return false, "no persisted snapshot"
    end
    return _M.load(text, { persist = false })
end

return _M
