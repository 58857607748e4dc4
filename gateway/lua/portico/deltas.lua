-- Deltas ({from, to, changes}, pulled by portico.sync or pushed to
-- portico.admin; docs/gateway-protocol.md, §3): applied to the active slot in
-- place, in version order, journaled (portico.journal), then the slot's
-- revision is bumped so every worker drops its caches.
local cjson = require "cjson.safe"
local journal = require "portico.journal"
local lock = require "portico.lock"
local slots = require "portico.slots"

local type, tonumber, ipairs, pcall, assert = type, tonumber, ipairs, pcall, assert
local sort, remove = table.sort, table.remove

local state = ngx.shared.portico_state
local META, VERSION, COUNT, WRITE_LOCK = slots.META, slots.VERSION, slots.COUNT, slots.WRITE_LOCK

local _M = {}

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
            r = slots.delete_key(slot, c.id)
        else
            local data = type(c.data) == "table" and c.data or {}
            if data.digest == nil then
                data.digest = c.id
            end
            r = assert(slots.put_key(slot, data))
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
            remove(l, i)
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

-- Applies the changes newer than `after` to slot and meta (the slot's META,
-- decoded), in version order; returns whether meta changed. The caller holds
-- WRITE_LOCK. Also replays the journal onto a freshly loaded snapshot.
function _M.apply_list(slot, meta, changes, after)
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
local apply_list = _M.apply_list

-- Applies a delta document {from, to, changes} to the active slot.
-- Returns "applied" | "stale" | "gap", version; or nil, err.
function _M.apply(doc)
    if type(doc) ~= "table" or type(doc.to) ~= "number" or type(doc.changes) ~= "table" then
        return nil, "malformed delta"
    end
    local from = tonumber(doc.from) or 0
    if not lock.acquire(WRITE_LOCK, 5) then
        return nil, "config store busy"
    end
    local ok, res, ver = pcall(function()
        local slot, name = slots.active()
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
        journal.append(doc)
        slots.swap_to(name) -- same slot, new revision: workers drop their caches
        return "applied", doc.to
    end)
    lock.release(WRITE_LOCK)
    if not ok then
        return nil, res
    end
    return res, ver
end

return _M
