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

local type, tostring, ipairs, pairs, pcall, error, assert = type, tostring, ipairs, pairs, pcall, error, assert
local sub = string.sub

local state = ngx.shared.portico_state
local META, VERSION, COUNT, WRITE_LOCK = slots.META, slots.VERSION, slots.COUNT, slots.WRITE_LOCK
local KEY_CHUNK = 2000 -- keys decoded and stored per slice
local LOAD_LOCK = "load_lock"
local NO_MEMORY = "no memory" -- what safe_set says when the dict is full

local _M = {}

-- Replays the journal's deltas newer than `version` onto the loaded slot and
-- swaps it in (the caller holds WRITE_LOCK). A damaged line or a gap stops
-- the replay there: the journal is cut back to what was replayed, and
-- "catch_up" makes portico.sync fetch the rest before the gateway is ready.
-- Returns why the replay stopped early, or nil.
local function replay_journal(slot, target, meta, version)
    local entries, reached, stop = journal.replay(version)
    local after = version
    for _, doc in ipairs(entries) do
        if deltas.apply_list(slot, meta, doc.changes, after) then
            meta.version = doc.to
        end
        after = doc.to
    end
    if stop then
        ngx.log(ngx.ERR, "config journal replay stopped at version ", reached, ": ", stop)
        state:set("catch_up", stop)
        local ok, err = journal.rewrite_locked(entries)
        if not ok then
            persist.note(err)
        end
    elseif reached < (slots.version() or 0) then
        -- the active slot is further on than the journal (a delta's line was lost): fetch what is missing
        state:set("catch_up", "journal ends at version " .. reached .. ", before the active config")
    end
    assert(slots.safe_set(slot, META, cjson.encode(meta)), "the config does not fit in the keys dict")
    slot:set(VERSION, reached) -- in place: reserved before the keys
    slots.swap_to(target)
    return stop
end

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
    for _, f in ipairs({ "apis", "plans", "subscriptions", "client_certs" }) do
        local v = member(f)
        meta[f] = type(v) == "table" and v or {}
    end
    local oauth = member("oauth") -- §11: verification keys and deny lists for access tokens
    if type(oauth) == "table" then
        meta.oauth = oauth
    end
    local loading = lock.acquire(LOAD_LOCK, 0, 600)
    if not loading then
        return nil, "another snapshot load is in progress"
    end
    local started = ngx.now()
    local ok, res, detail = pcall(function()
        local slot, target = slots.idle()
        slot:flush_all() -- marks old entries expired; inserts below reclaim them
        -- the config entries first, so keys filling the dict cannot crowd them out (a plain set
        -- would evict the oldest entry to make room; numbers are later replaced in place)
        for k, v in pairs({ [META] = cjson.encode(meta), [VERSION] = 0, [COUNT] = 0 }) do
            assert(slots.safe_set(slot, k, v), "the config does not fit in the keys dict")
        end
        local count, not_held = 0, 0
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
                    elseif e == NO_MEMORY then
                        not_held = not_held + 1 -- counted for the alarm; revocations still take effect
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
        slots.not_held_set(slot, not_held)
        local held = assert(lock.acquire(WRITE_LOCK, 10), "config store busy")
        local ok3, e3 = pcall(replay_journal, slot, target, meta, version)
        lock.release(WRITE_LOCK, held)
        if not ok3 then
            error(e3)
        end
        return count, e3
    end)
    lock.release(LOAD_LOCK, loading)
    if not ok then
        return nil, tostring(res)
    end
    ngx.update_time()
    state:set("last_load_seconds", ngx.now() - started)
    state:set("last_load_keys", res)
    if opts.persist then
        persist.save(text, version) -- a failure is reported in /_portico/status and the heartbeat
    end
    return true, detail
end

-- a snapshot's version (JSON text), or nil
function _M.version_of(text)
    local m = jsonscan.members(text)
    local span = m and m.version
    local v = span and cjson.decode(sub(text, span[1], span[2]))
    return type(v) == "number" and v or nil
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
