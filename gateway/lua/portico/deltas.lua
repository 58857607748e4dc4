-- Deltas ({from, to, changes}, pulled by portico.sync or pushed to
-- portico.admin; docs/gateway-protocol.md, §3): applied to the active slot in
-- place, in version order, journaled (portico.journal), then the slot's
-- revision is bumped so every worker drops its caches.
--
-- All or nothing: every change is checked before the slot is touched, each
-- write keeps what it replaced, and any failure puts that back and asks for a
-- full pull ("need_full"), so a delta never half applies. One exception: a key
-- that does not fit in a full slot is counted (slots.not_held) and skipped,
-- so the revocations and deletions beside it, which free space, always apply.
local cjson = require "cjson.safe"
local crypto = require "portico.crypto"
local journal = require "portico.journal"
local keyrecord = require "portico.keyrecord"
local lock = require "portico.lock"
local persist = require "portico.persist"
local slots = require "portico.slots"

local type, tonumber, tostring, ipairs, pairs, pcall, error = type, tonumber, tostring, ipairs, pairs, pcall, error
local sort, remove = table.sort, table.remove

local state = ngx.shared.portico_state
local META, VERSION, COUNT, WRITE_LOCK = slots.META, slots.VERSION, slots.COUNT, slots.WRITE_LOCK
local NO_MEMORY = "no memory" -- what safe_set says when the dict is full

local _M = {}

local function by_id(list, id, field)
    for i, x in ipairs(list) do
        if type(x) == "table" and x[field] == id then
            return i
        end
    end
end

-- client_cert: pinned client certificates (portico.mtls), by fingerprint (the change's id)
local META_KIND = { api = "apis", plan = "plans", subscription = "subscriptions", client_cert = "client_certs" }
-- the field naming an entry of each meta list (api, plan and subscription entries are named by "id")
local ID_FIELD = { client_certs = "fingerprint" }

-- applies an api/plan/subscription change to meta (a Lua table)
local function apply_meta(meta, c, field)
    local l = meta[field] or {}
    meta[field] = l
    local id_field = ID_FIELD[field] or "id"
    local i = by_id(l, c.id, id_field)
    if c.op == "delete" then
        if i then
            remove(l, i)
        end
    elseif type(c.data) == "table" then
        if c.data[id_field] == nil then
            c.data[id_field] = c.id
        end
        l[i or #l + 1] = c.data
    end
end

-- §11's kinds: where each keeps its entries in meta.oauth, and their id and expiry fields
local OAUTH_DENY = {
    oauth_token = { "revoked_tokens", "jti", "exp" },
    oauth_client = { "revoked_clients", "client_id", "until" },
}
-- deny entries are dropped this long after they end (well beyond any --token-leeway)
local DENY_KEPT = 3600

local function table_member(t, field)
    local v = t[field]
    if type(v) ~= "table" then
        v = {}
        t[field] = v
    end
    return v
end

-- applies a signing_key, oauth_token or oauth_client change to meta.oauth
local function apply_oauth(meta, c)
    local oauth = table_member(meta, "oauth")
    if c.kind == "signing_key" then
        local keys = table_member(table_member(oauth, "jwks"), "keys")
        local at
        for i, jwk in ipairs(keys) do
            if type(jwk) == "table" and jwk.kid == c.id then
                at = i
            end
        end
        if c.op == "delete" then
            if at then
                remove(keys, at)
            end
        elseif type(c.data) == "table" then
            keys[at or #keys + 1] = c.data
        end
        return
    end
    local field, id_field, until_field = OAUTH_DENY[c.kind][1], OAUTH_DENY[c.kind][2], OAUTH_DENY[c.kind][3]
    if c.op == "delete" or type(c.data) ~= "table" then
        return -- entries leave by expiry only
    end
    -- the list is rebuilt without the entries that ended long ago: it stays small
    local old, kept, horizon = table_member(oauth, field), {}, ngx.time() - DENY_KEPT
    for _, e in ipairs(old) do
        if type(e) == "table" and e[id_field] ~= c.id and (tonumber(e[until_field]) or 0) > horizon then
            kept[#kept + 1] = e
        end
    end
    if c.data[id_field] == nil then
        c.data[id_field] = c.id
    end
    kept[#kept + 1] = c.data
    oauth[field] = kept
end

-- a key change as {raw digest, record string or nil (absent)}; nil, err if malformed
local function key_op(c)
    if c.op == "delete" then
        local raw = crypto.hex32_to_raw(c.id)
        return raw and { raw } or nil, "bad key id"
    end
    if type(c.data) ~= "table" then
        return nil, "key upsert without data"
    end
    local data = c.data
    if data.digest == nil then
        data.digest = c.id
    end
    local raw = crypto.hex32_to_raw(data.digest)
    if not raw then
        return nil, "bad digest"
    end
    return { raw, data.status == "active" and keyrecord.encode(data) or nil }
end

local function by_version(x, y)
    return (tonumber(x.version) or 0) < (tonumber(y.version) or 0)
end

-- Checks the changes newer than `after` and applies the meta ones to `meta`:
-- returns the key operations in version order and whether meta changed, or
-- nil, err without touching anything.
local function prepare(meta, changes, after)
    local sorted = {}
    for _, c in ipairs(changes) do
        if type(c) == "table" and (tonumber(c.version) or 0) > after then
            sorted[#sorted + 1] = c
        end
    end
    sort(sorted, by_version)
    local ops, meta_changed = {}, false
    for _, c in ipairs(sorted) do
        if c.kind == "key" then
            local op, err = key_op(c)
            if not op then
                return nil, "change " .. tostring(c.version) .. ": " .. err
            end
            ops[#ops + 1] = op
        elseif META_KIND[c.kind] then -- unknown kinds are ignored so the platform can add some
            apply_meta(meta, c, META_KIND[c.kind])
            meta_changed = true
        elseif c.kind == "signing_key" or OAUTH_DENY[c.kind] then
            apply_oauth(meta, c)
            meta_changed = true
        end
    end
    return ops, meta_changed
end

-- Writes the key operations to slot; `undo` (a list, or nil for a slot no
-- request reads) collects {entry, previous value}. Returns the change in the
-- key count and how many keys did not fit.
local function write_keys(slot, ops, undo)
    local count, final, failed = 0, {}, {}
    for i, op in ipairs(ops) do
        final[op[1]] = i
    end
    for i, op in ipairs(ops) do
        local raw, value = op[1], op[2]
        local old = slot:get(raw)
        if undo then
            undo[#undo + 1] = { raw, old }
        end
        if value then
            local ok, err = slots.safe_set(slot, raw, value)
            if not ok and err ~= NO_MEMORY then
                error("key store: " .. tostring(err))
            end
            failed[i] = not ok or nil
        else
            slot:delete(raw)
        end
        count = count + (slot:get(raw) and 1 or 0) - (old and 1 or 0)
    end
    -- deletions later in the delta may have freed room for the keys that did not fit
    local not_held = 0
    for i in pairs(failed) do
        local raw = ops[i][1]
        if final[raw] == i then
            if slots.safe_set(slot, raw, ops[i][2]) then
                count = count + 1
            else
                not_held = not_held + 1
            end
        end
    end
    return count, not_held
end

-- Applies the changes newer than `after` to slot and meta (the slot's META,
-- decoded); for a slot no request reads yet (portico.snapshot's journal
-- replay), so a failure raises and the caller discards the slot. Returns
-- whether meta changed.
function _M.apply_list(slot, meta, changes, after)
    local ops, meta_changed = prepare(meta, changes, after)
    if not ops then
        error(meta_changed)
    end
    local count, not_held = write_keys(slot, ops, nil)
    slot:incr(COUNT, count, 0)
    slots.not_held_add(slot, not_held)
    return meta_changed
end

-- puts back what a failed delta wrote, newest first; false if some of it did not fit
local function undo_all(slot, undo)
    local whole = true
    for i = #undo, 1, -1 do
        local k, old = undo[i][1], undo[i][2]
        if old == nil then
            slot:delete(k)
        elseif not slots.safe_set(slot, k, old) then
            whole = false
        end
    end
    return whole
end

-- the delta written to the active slot: status, version, journal error or nil;
-- or nil, err when nothing was applied
local function apply_locked(doc, from)
    local slot, name = slots.active()
    if not slot then
        return "gap", nil
    end
    local cur = slot:get(VERSION) or 0
    if doc.to <= cur then
        return "stale", cur
    end
    if from > cur then
        return "gap", cur
    end
    local meta = cjson.decode(slot:get(META))
    local ops, meta_changed = prepare(meta, doc.changes, cur)
    if not ops then
        return nil, meta_changed
    end
    local undo = {}
    local ok, res, not_held = pcall(function()
        if meta_changed then
            undo[1] = { META, slot:get(META) }
            local set, err = slots.safe_set(slot, META, cjson.encode(meta))
            if not set then
                error("config does not fit in the keys dict: " .. tostring(err))
            end
        end
        return write_keys(slot, ops, undo)
    end)
    if not ok then
        if not undo_all(slot, undo) then
            slots.swap_to(name) -- what could not be put back is gone: workers must not serve it from cache
        end
        return nil, res
    end
    slot:incr(COUNT, res, 0)
    slots.not_held_add(slot, not_held)
    slot:set(VERSION, doc.to)
    local changes = {}
    for _, c in ipairs(doc.changes) do
        if type(c) == "table" and (tonumber(c.version) or 0) > cur then
            changes[#changes + 1] = c
        end
    end
    -- journaled as applied: starting at the version it was applied to, so replay can check continuity
    local _, jerr = journal.append({ from = cur, to = doc.to, changes = changes })
    slots.swap_to(name) -- same slot, new revision: workers drop their caches
    return "applied", doc.to, jerr
end

-- Applies a delta document {from, to, changes} to the active slot. Returns
-- status, version, detail:
--   "applied", to, nil | journal error (applied, but not durable: see portico.persist)
--   "stale", V  (nothing newer)   "gap", V  (changes missing before it: full pull asked for)
--   "failed", V, err  (nothing applied: full pull asked for)
-- or nil, err for a malformed document or a busy store.
function _M.apply(doc)
    if type(doc) ~= "table" or type(doc.to) ~= "number" or type(doc.changes) ~= "table" then
        return nil, "malformed delta"
    end
    local from = tonumber(doc.from) or 0
    local held = lock.acquire(WRITE_LOCK, 5)
    if not held then
        return nil, "config store busy"
    end
    local ok, res, ver, detail = pcall(apply_locked, doc, from)
    lock.release(WRITE_LOCK, held)
    if not ok or not res then
        res, ver, detail = "failed", slots.version(), ok and ver or res
    end
    if res == "gap" or res == "failed" then
        state:set("need_full", true) -- the platform's snapshot repairs what this delta could not
    elseif detail then
        persist.note(detail)
        state:set("journal_gap", true) -- only a newly persisted snapshot makes the state durable again
    end
    return res, ver, detail
end

return _M
