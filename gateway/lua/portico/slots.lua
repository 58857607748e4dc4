-- The config store's shared memory. The active configuration lives in one of
-- two shared dicts ("slots" a and b): a full snapshot is loaded into the idle
-- slot (portico.snapshot) while requests keep reading the active one, then
-- one write of state's "ptr" swaps them, so a request never sees half a
-- snapshot; deltas change the active slot in place (portico.deltas). Every
-- swap also bumps state's numeric "rev", which workers check per request
-- (portico.store).
--
-- Slot layout: raw 32-byte SHA-256 digest -> key record (portico.keyrecord;
-- revoked keys are simply absent), plus META (apis/plans/subscriptions JSON),
-- VERSION and COUNT entries whose names cannot collide with a digest.
local cjson = require "cjson.safe"
local crypto = require "portico.crypto"
local keyrecord = require "portico.keyrecord"

local type, ipairs, pairs = type, ipairs, pairs
local sub = string.sub

local state = ngx.shared.portico_state
local SLOTS = { a = ngx.shared.portico_keys_a, b = ngx.shared.portico_keys_b }

local META, VERSION, COUNT = "\0meta", "\0version", "\0count"
local REV = "rev" -- in portico_state, beside "ptr"

local _M = {
    SLOTS = SLOTS,
    META = META,
    VERSION = VERSION,
    COUNT = COUNT,
    REV = REV,
    WRITE_LOCK = "cfg_lock", -- held by every write to the active slot (portico.lock)
}

-- the active slot and its name ("a" | "b"), or nil before the first config
local function active()
    local p = state:get("ptr")
    if not p then
        return nil
    end
    local name = sub(p, 1, 1)
    return SLOTS[name], name
end
_M.active = active

-- the slot a snapshot loads into while requests read the active one
function _M.idle()
    local _, name = active()
    local target = name == "a" and "b" or "a"
    return SLOTS[target], target
end

-- the active config's version, or nil before the first config
function _M.version()
    local slot = active()
    return slot and slot:get(VERSION)
end

-- ptr first, then rev: a worker that sees the new rev always finds the new ptr
function _M.swap_to(name)
    state:set("ptr", name .. ":" .. ((state:get(REV) or 0) + 1))
    state:incr(REV, 1, 0)
end

-- safe_set (never evicts) that first reclaims entries a flush_all left
-- expired when the dict looks full; true or nil, err ("no memory": full)
local function safe_set(slot, k, v)
    while true do
        local ok, err = slot:safe_set(k, v)
        if ok or err ~= "no memory" or slot:flush_expired(1000) == 0 then
            return ok, err
        end
    end
end
_M.safe_set = safe_set

-- stores one snapshot/delta key object; `fresh`: the slot was just flushed.
-- returns "new" | "replaced" | "deleted" | "absent", or nil, err
function _M.put_key(slot, k, fresh)
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
    local ok, err = safe_set(slot, raw, keyrecord.encode(k))
    if not ok then
        return nil, err
    end
    return existed and "replaced" or "new"
end

-- stores an active key already encoded (portico.keyrecord) in a freshly
-- flushed slot (a snapshot load); "new", or nil, err
function _M.put_record(slot, hex, record)
    local raw = crypto.hex32_to_raw(hex)
    if not raw then
        return nil, "bad digest"
    end
    local ok, err = safe_set(slot, raw, record)
    if not ok then
        return nil, err
    end
    return "new"
end

-- Keys a slot could not hold (its dict was full) since its last full load:
-- kept beside the slot in portico_state, per slot name, for the fleet alarm.
-- A later revocation of such a key is not told apart, so it may overcount
-- until the next full load recounts.
local function not_held_name(slot)
    for name, s in pairs(SLOTS) do
        if s == slot then
            return "not_held:" .. name
        end
    end
end

function _M.not_held_set(slot, n)
    state:set(not_held_name(slot), n)
end

function _M.not_held_add(slot, n)
    if n > 0 then
        state:incr(not_held_name(slot), n, 0)
    end
end

-- the active slot's count of keys it could not hold
function _M.not_held()
    local slot = active()
    return slot and state:get(not_held_name(slot)) or 0
end

-- the "config" part of /_portico/status
function _M.status()
    local slot = active()
    local null = cjson.null
    local out = {
        version = slot and slot:get(VERSION) or null,
        keys = slot and slot:get(COUNT) or 0,
        keys_not_held = _M.not_held(),
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
