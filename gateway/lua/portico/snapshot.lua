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
local sub, byte, match, find = string.sub, string.byte, string.match, string.find
local concat = table.concat

local state = ngx.shared.portico_state
local META, VERSION, COUNT, WRITE_LOCK = slots.META, slots.VERSION, slots.COUNT, slots.WRITE_LOCK
local KEY_CHUNK = 2000 -- keys decoded and stored per slice
local LOAD_LOCK = "load_lock"
local NO_MEMORY = "no memory" -- what safe_set says when the dict is full
local STREAMED_HEAD = '"keys":[' -- how the first line of the platform's streamed layout ends

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

-- Loads a snapshot into the idle slot and swaps it in. `member(name)` gives a
-- decoded top-level member; `each_keys(fn, put)` calls fn with "[obj,...]" texts
-- of the keys array, KEY_CHUNK at a time, or put(hex digest, encoded record) for
-- a key already encoded, and returns true or nil, err; `save(version)`
-- persists it. opts: force (load even if not newer), persist (call save),
-- persist_current (call save when it is the version already applied).
-- Returns true; false, "not newer"; or nil, err.
local function load(member, each_keys, save, opts)
    local version = member("version")
    if type(version) ~= "number" then
        return nil, "snapshot has no numeric version"
    end
    local cur = slots.version()
    if cur and version <= cur and not opts.force then
        if opts.persist_current and version == cur then
            save(version) -- the snapshot of the version applied: the journal can be emptied
        end
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
        local function counted(r, e, where)
            if r == "new" then
                count = count + 1
            elseif e == NO_MEMORY then
                not_held = not_held + 1 -- counted for the alarm; revocations still take effect
            elseif not r then
                error("key " .. where .. ": " .. tostring(e))
            end
        end
        local ok2, err2 = each_keys(function(chunk)
            local keys = cjson.decode(chunk)
            if type(keys) ~= "table" then
                error("malformed keys array")
            end
            for i = 1, #keys do
                local r, e = slots.put_key(slot, keys[i], true)
                counted(r, e, i)
            end
            slot:flush_expired(KEY_CHUNK * 2)
        end, function(hex, record)
            local r, e = slots.put_record(slot, hex, record)
            counted(r, e, hex)
        end)
        if not ok2 then
            error(err2)
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
        save(version) -- a failure is reported in /_portico/status and the heartbeat
    end
    return true, detail
end

-- Loads a snapshot held whole as JSON text (any layout).
function _M.load(text, opts)
    local m, err = jsonscan.members(text)
    if not m then
        return nil, err
    end
    local function member(name)
        local span = m[name]
        return span and cjson.decode(sub(text, span[1], span[2])) or nil
    end
    local function each_keys(fn)
        if not m.keys then
            return true
        end
        return jsonscan.each_chunk(text, m.keys, KEY_CHUNK, fn)
    end
    return load(member, each_keys, function(version)
        persist.save(text, version)
    end, opts or {})
end

-- A key line exactly as the platform writes the common case (an active key,
-- no address allowlist): its fields are cut out by one match instead of a JSON
-- decode, and stored as the record portico.keyrecord would encode. Anything
-- else (or any doubt) takes the JSON path: a test key's line, for one, ends in
-- "environment":"test" after the allowlist and so never matches (issue #15).
local PLAIN_KEY = '^{"digest":"(' .. string.rep("%x", 64) .. ')","prefix":"[^"\\]*","application_id":(%d+),'
    .. '"organisation_id":(%d+),"status":"active","expires_at":([%dnul]+),"api_ids":%[([%d,]*)%],'
    .. '"allowed_cidrs":%[%]},?$'

-- Reads a streamed snapshot's keys (one per line, "]}" on the last) a slice
-- of KEY_CHUNK lines at a time: plain keys go to put(hex, record), the others
-- to fn("[obj,...]"). The file is never held whole.
local function each_key_line_chunk(file, fn, put)
    local buf, n, seen = {}, 0, 0
    local function flush()
        if n > 0 then
            local text = concat(buf, "", 1, n)
            if byte(text, -1) == 44 then -- the slice's last key is followed by a comma
                text = sub(text, 1, -2)
            end
            fn("[" .. text .. "]")
        end
        n, seen = 0, 0
        ngx.sleep(0.001) -- requests of this worker run between slices
    end
    for line in file:lines() do
        if sub(line, 1, 2) == "]}" then
            flush()
            return true
        end
        local hex, app, org, exp, apis = match(line, PLAIN_KEY)
        if hex and (exp == "null" or not find(exp, "%D")) then
            put(hex, app .. "|" .. org .. "|" .. (exp == "null" and "" or exp) .. "|" .. apis .. "|")
        else
            n = n + 1
            buf[n] = line
        end
        seen = seen + 1
        if seen >= KEY_CHUNK then
            flush()
        end
    end
    return nil, "truncated snapshot: no end of the keys array"
end

-- Loads a snapshot file. The platform's layout (docs/gateway-protocol.md §2:
-- everything but the keys on the first line, ending `"keys":[`, then one key
-- per line) is read a slice at a time; any other JSON is read whole.
-- opts.keep: "adopt" (a download: it becomes the persisted snapshot once
-- loaded, and is removed otherwise), "copy" (--snapshot-file: persisted as a
-- copy) or nil (the persisted snapshot itself); force and persist_current as for load.
function _M.load_file(path, opts)
    opts = opts or {}
    local file, err = io.open(path, "rb")
    if not file then
        return nil, "open " .. path .. ": " .. tostring(err)
    end
    local first = file:read("*l") or ""
    local res, detail
    if sub(first, -#STREAMED_HEAD) ~= STREAMED_HEAD then
        local text = first .. "\n" .. (file:read("*a") or "")
        file:close()
        res, detail = _M.load(text, { force = opts.force, persist = opts.keep ~= nil,
            persist_current = opts.persist_current })
    else
        local head = cjson.decode(first .. "]}")
        local ok
        if type(head) ~= "table" then
            ok, res, detail = true, nil, "malformed snapshot head"
        else
            ok, res, detail = pcall(load, function(name)
                return head[name]
            end, function(fn, put)
                return each_key_line_chunk(file, fn, put)
            end, function(version)
                if opts.keep then
                    persist[opts.keep](path, version)
                end
            end, { force = opts.force, persist = opts.keep ~= nil, persist_current = opts.persist_current })
        end
        file:close()
        if not ok then
            res, detail = nil, tostring(res)
        end
    end
    if opts.keep == "adopt" then
        os.remove(path) -- gone already when adopted; a download not adopted is not kept
    end
    return res, detail
end

-- the last persisted snapshot, with the journal's newer deltas replayed by load()
function _M.load_persisted()
    local f = io.open(persist.path(), "rb")
    if not f then
        return false, "no persisted snapshot"
    end
    f:close()
    return _M.load_file(persist.path())
end

return _M
