-- What requests read (hot path): the compiled active config and key records,
-- with per-worker caches. The shared-memory layout is portico.slots; writes
-- are portico.snapshot (full loads) and portico.deltas (changes in place).
local cjson = require "cjson.safe"
local lrucache = require "resty.lrucache"
local compile = require "portico.compile"
local keyformat = require "portico.keyformat"
local keyrecord = require "portico.keyrecord"
local slots = require "portico.slots"

local type = type
local sub = string.sub

local state = ngx.shared.portico_state
local REV, META = slots.REV, slots.META
local PREFIX_LEN = keyformat.PREFIX_LEN
local LIMITER_ID_LEN = 12 -- bytes of the raw digest: 96 bits keep the limiters' counter keys short

local _M = {}

local cur_rev, cur_slot, cur_meta
local key_cache = assert(lrucache.new(20000)) -- raw digest -> record
local secret_cache = assert(lrucache.new(20000)) -- presented key -> record (skips checksum + SHA-256)

-- compiled meta + active slot, or nil before the first config. Checks the
-- numeric "rev" (no string to intern) on every call, so a change is seen by
-- the next request on every worker; "ptr" is only read when rev moved.
function _M.current()
    local rev = state:get(REV)
    if rev ~= cur_rev then
        local slot = slots.active()
        if not slot then
            return nil
        end
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
        rec.lid = sub(raw, 1, LIMITER_ID_LEN) -- limiter id
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

return _M
