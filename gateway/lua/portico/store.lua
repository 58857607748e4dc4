-- Config store. The active configuration lives in one of two shared dicts
-- ("slots" a and b). A full snapshot is loaded into the idle slot in chunks
-- while requests keep reading the active one; one write of the "ptr" key then
-- swaps slots, so a request never sees half a snapshot. Deltas are applied to
-- the active slot in place, in version order, and journaled so that a restart
-- without the platform comes back at the same version.
--
-- Slot layout: raw 32-byte SHA-256 digest -> key record (portico.keyrecord;
-- revoked keys are simply absent), plus META (apis/plans/subscriptions JSON),
-- VERSION and COUNT entries whose names cannot collide with a digest.
local cjson = require "cjson.safe"
local lrucache = require "resty.lrucache"
local compile = require "portico.compile"
local crypto = require "portico.crypto"
local jsonscan = require "portico.jsonscan"
local keyformat = require "portico.keyformat"
local keyrecord = require "portico.keyrecord"
local lock = require "portico.lock"
local settings = require "portico.settings"

local type, tonumber, tostring, ipairs = type, tonumber, tostring, ipairs
local sub = string.sub
local concat, sort = table.concat, table.sort
local null = cjson.null

local state = ngx.shared.portico_state
local SLOTS = { a = ngx.shared.portico_keys_a, b = ngx.shared.portico_keys_b }
local META, VERSION, COUNT = "\0meta", "\0version", "\0count"
local KEY_CHUNK = 2000
local PREFIX_LEN = keyformat.PREFIX_LEN

local _M = { SLOTS = SLOTS }

-- returns "new" | "replaced" | "deleted" | "absent", or nil, err
local function put_key(slot, k, fresh)
    if type(k) ~= "table" then
        return nil, "key is not an object"
    end
    local raw = crypto.hex32_to_raw(k.digest)
    if not raw then
        return nil, "bad digest"
    end
    if k.status ~= "active" then
        if fresh then
            return "absent"
        end
        return slot:delete(raw) and "deleted"
    end
    local existed = not fresh and slot:get(raw) ~= nil
    local ok, err = slot:safe_set(raw, keyrecord.encode(k))
    if not ok then
        return nil, err
    end
    return existed and "replaced" or "new"
end

local function delete_key(slot, hex)
    local raw = crypto.hex32_to_raw(hex)
    if not raw then
        return "absent"
    end
    local existed = slot:get(raw) ~= nil
    slot:delete(raw)
    return existed and "deleted" or "absent"
end

---------------------------------------------------------------------------
-- request-time reads (hot path)
---------------------------------------------------------------------------

local cur_rev, cur_slot, cur_meta
local key_cache = assert(lrucache.new(20000)) -- raw digest -> record
local secret_cache = assert(lrucache.new(20000)) -- presented key -> record (skips checksum + SHA-256)

-- compiled meta + active slot, or nil before the first config. Checks the
-- numeric "rev" (no string to intern) on every call, so a change is seen by
-- the next request on every worker; "ptr" is only read when rev moved.
function _M.current()
    local rev = state:get("rev")
    if rev ~= cur_rev then
        local p = state:get("ptr")
        if not p then
            return nil
        end
        local slot = SLOTS[sub(p, 1, 1)]
        local meta = cjson.decode(slot:get(META) or "")
        if type(meta) ~= "table" then
            return nil
        end
        cur_meta, cur_slot, cur_rev = compile.compile(meta), slot, rev
        key_cache:flush_all()
        secret_cache:flush_all()
    end
    return cur_meta, cur_slot
end

-- the compiled meta as of this worker's last current() call (balancer phase)
function _M.cached()
    return cur_meta
end

-- raw digest -> key record or nil (call after current()); `secret` is the
-- presented key, remembered so its next use skips the checksum and SHA-256
function _M.key(raw, secret)
    local rec = key_cache:get(raw)
    if not rec then
        local v = cur_slot:get(raw)
        if not v then
            return nil
        end
        rec = keyrecord.decode(v)
        if not rec then
            return nil
        end
        rec.digest = raw
        rec.lid = sub(raw, 1, 12) -- limiter id: 96 bits of the digest keep counter keys short
        key_cache:set(raw, rec)
    end
    if secret then
        rec.prefix = sub(secret, 1, PREFIX_LEN) -- computed once per key, not per request
        secret_cache:set(secret, rec)
    end
    return rec
end

function _M.cached_key(secret)
    return secret_cache:get(secret)
end

---------------------------------------------------------------------------
-- writes
---------------------------------------------------------------------------

local function active()
    local p = state:get("ptr")
    if not p then
        return nil
    end
    local name = sub(p, 1, 1)
    return SLOTS[name], name
end

function _M.version()
    local slot = active()
    return slot and slot:get(VERSION)
end

-- ptr first, then rev: a worker that sees the new rev always finds the new ptr
local function swap_to(name)
    state:set("ptr", name .. ":" .. ((state:get("rev") or 0) + 1))
    state:incr("rev", 1, 0)
end

local function by_id(list, id)
    for i, x in ipairs(list) do
        if type(x) == "table" and x.id == id then
            return i
        end
    end
end

local META_KIND = { api = "apis", plan = "plans", subscription = "subscriptions" }

-- applies one change to slot/meta; returns true if meta changed
local function apply_one(slot, meta, c)
    if c.kind == "key" then
        local r
        if c.op == "delete" then
            r = delete_key(slot, c.id)
        else
            local data = type(c.data) == "table" and c.data or {}
            if data.digest == nil then
                data.digest = c.id
            end
            r = assert(put_key(slot, data))
        end
        if r == "new" then
            slot:incr(COUNT, 1, 0)
        elseif r == "deleted" then
            slot:incr(COUNT, -1, 0)
        end
        return false
    end
    local field = META_KIND[c.kind]
    if not field then
        return false -- unknown kinds are ignored so the platform can add some
    end
    local l = meta[field] or {}
    meta[field] = l
    local i = by_id(l, c.id)
    if c.op == "delete" then
        if i then
            table.remove(l, i)
        end
    elseif type(c.data) == "table" then
        if c.data.id == nil then
            c.data.id = c.id
        end
        l[i or #l + 1] = c.data
    end
    return true
end

local function by_version(x, y)
    return (tonumber(x.version) or 0) < (tonumber(y.version) or 0)
end

-- applies changes newer than `after`; returns whether meta changed
local function apply_list(slot, meta, changes, after)
    local sorted = {}
    for _, c in ipairs(changes) do
        if type(c) == "table" then
            sorted[#sorted + 1] = c
        end
    end
    sort(sorted, by_version)
    local changed = false
    for _, c in ipairs(sorted) do
        if (tonumber(c.version) or 0) > after then
            changed = apply_one(slot, meta, c) or changed
        end
    end
    return changed
end

local function journal_path()
    return settings.state_dir .. "/journal.jsonl"
end

local function journal_append(doc)
    local f = io.open(journal_path(), "a")
    if f then
        f:write(cjson.encode(doc), "\n")
        f:close()
    end
end

local function journal_entries()
    local out = {}
    local f = io.open(journal_path(), "r")
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

-- Applies a delta document {from, to, changes} to the active slot.
-- Returns "applied" | "stale" | "gap", version; or nil, err.
function _M.apply_changes(doc)
    if type(doc) ~= "table" or type(doc.to) ~= "number" or type(doc.changes) ~= "table" then
        return nil, "malformed delta"
    end
    local from = tonumber(doc.from) or 0
    if not lock.acquire("cfg_lock", 5) then
        return nil, "config store busy"
    end
    local ok, res, ver = pcall(function()
        local slot, name = active()
        if not slot then
            state:set("need_full", true)
            return "gap", nil
        end
        local cur = slot:get(VERSION) or 0
        if doc.to <= cur then
            return "stale", cur
        end
        if from > cur then
            state:set("need_full", true)
            return "gap", cur
        end
        local meta = cjson.decode(slot:get(META))
        if apply_list(slot, meta, doc.changes, cur) then
            slot:set(META, cjson.encode(meta))
        end
        slot:set(VERSION, doc.to)
        journal_append(doc)
        swap_to(name) -- same slot, new revision: workers drop their caches
        return "applied", doc.to
    end)
    lock.release("cfg_lock")
    if not ok then
        return nil, res
    end
    return res, ver
end

local function write_file_chunked(path, text)
    local tmp = path .. ".tmp"
    local f, err = io.open(tmp, "wb")
    if not f then
        return nil, err
    end
    local step = 1024 * 1024
    for i = 1, #text, step do
        f:write(sub(text, i, i + step - 1))
        ngx.sleep(0.001) -- a big snapshot must not stall this worker's requests
    end
    f:close()
    return os.rename(tmp, path)
end

local function persist(text, version)
    local ok, err = write_file_chunked(settings.state_dir .. "/snapshot.json", text)
    if not ok then
        return nil, err
    end
    -- keep only journal entries newer than the snapshot
    local keep = {}
    for _, doc in ipairs(journal_entries()) do
        if doc.to > version then
            keep[#keep + 1] = cjson.encode(doc)
        end
    end
    local f = io.open(journal_path() .. ".tmp", "w")
    if f then
        f:write(concat(keep, "\n"), #keep > 0 and "\n" or "")
        f:close()
        os.rename(journal_path() .. ".tmp", journal_path())
    end
    return true
end

-- Loads a full snapshot (JSON text) into the idle slot and swaps it in.
-- Returns true; false, "not newer"; or nil, err.
function _M.load_snapshot(text, opts)
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
    local cur = _M.version()
    if cur and version <= cur and not opts.force then
        return false, "not newer"
    end
    local meta = { version = version }
    for _, f in ipairs({ "apis", "plans", "subscriptions" }) do
        local v = member(f)
        meta[f] = type(v) == "table" and v or {}
    end
    if not lock.acquire("load_lock", 0, 600) then
        return nil, "another snapshot load is in progress"
    end
    local started = ngx.now()
    local ok, res, detail = pcall(function()
        local _, active_name = active()
        local target = active_name == "a" and "b" or "a"
        local slot = SLOTS[target]
        slot:flush_all() -- marks old entries expired; inserts below reclaim them
        local count = 0
        if m.keys then
            local ok2, err2 = jsonscan.each_chunk(text, m.keys, KEY_CHUNK, function(chunk)
                local keys = cjson.decode(chunk)
                if type(keys) ~= "table" then
                    error("malformed keys array")
                end
                for i = 1, #keys do
                    local r, e = put_key(slot, keys[i], true)
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
        assert(lock.acquire("cfg_lock", 10), "config store busy")
        local ok3, e3 = pcall(function()
            -- deltas that reached the active slot during the load are replayed
            local to = version
            for _, doc in ipairs(journal_entries()) do
                if doc.to > version then
                    if apply_list(slot, meta, doc.changes, version) then
                        meta.version = doc.to
                    end
                    to = doc.to > to and doc.to or to
                end
            end
            assert(slot:safe_set(META, cjson.encode(meta)))
            slot:set(VERSION, to)
            swap_to(target)
        end)
        lock.release("cfg_lock")
        if not ok3 then
            error(e3)
        end
        return count
    end)
    lock.release("load_lock")
    if not ok then
        return nil, tostring(res)
    end
    ngx.update_time()
    state:set("last_load_seconds", ngx.now() - started)
    state:set("last_load_keys", res)
    if opts.persist then
        local pok, perr = persist(text, version)
        if not pok then
            ngx.log(ngx.WARN, "could not persist snapshot: ", perr)
        end
    end
    return true, detail
end

-- last persisted snapshot (+ journal, replayed by load_snapshot)
function _M.load_persisted()
    local f = io.open(settings.state_dir .. "/snapshot.json", "rb")
    if not f then
        return false, "no persisted snapshot"
    end
    local text = f:read("*a")
    f:close()
    return _M.load_snapshot(text, { persist = false })
end

function _M.status()
    local slot = active()
    local out = {
        version = slot and slot:get(VERSION) or null,
        keys = slot and slot:get(COUNT) or 0,
        last_load_seconds = state:get("last_load_seconds") or null,
        shared_dicts = {},
    }
    for _, name in ipairs({ "portico_keys_a", "portico_keys_b", "portico_limits", "portico_state", "portico_stats" }) do
        local d = ngx.shared[name]
        out.shared_dicts[name] = { capacity = d:capacity(), free = d:free_space() }
    end
    return out
end

return _M
