-- Sequenced on-disk spool of access-log batches, read by the platform by cursor
-- and acknowledged. One line per batch:
--   {"sequence":17,"count":3,"src":"0:52311","digest":"<sha256 hex>","records":[{...},{...},{...}]}
-- ("src" is where the batch ended in nginx's access.log, see portico.logging;
-- "digest" is the SHA-256 of the batch's identity: the spool's random epoch,
-- sequence, src and count. The platform compares it to tell a lost ack from a
-- spool that started over under the same sequence: a new spool has a new
-- epoch. Hashing the records' text instead cost 11% more CPU per request.)
-- Lines go to segment files "seg-<first sequence>.log"; a segment is closed at
-- spool_segment_bytes, acknowledged segments are deleted, and when the spool
-- exceeds spool_max_bytes the oldest segments are dropped (and counted).
-- Appends and acks hold a cross-worker lock (with_lock), so sequence order is
-- file order, a reader never sees sequence N+1 before N is complete
-- ("log_committed"), and the segment index has one writer at a time.
-- The sequence survives restarts: recover() re-reads the index and the tail
-- of the current segment (truncating a line torn by a crash).
local cjson = require "cjson.safe"
local crypto = require "portico.crypto"
local lock = require "portico.lock"
local stats = require "portico.stats"
local settings = require "portico.settings"

local state = ngx.shared.portico_state
local tonumber, ipairs, format = tonumber, ipairs, string.format
local sub, match, gmatch, find = string.sub, string.match, string.gmatch, string.find
local concat = table.concat

local _M = {}

-- The spool lock: acks wait up to LOCK_WAIT s for it (ingestion gives it up
-- every HOLD_BUDGET s, see portico.logging); LOCK_TTL only matters when a
-- holder died, since live holders renew it.
local LOCK, LOCK_WAIT, LOCK_TTL = "spool_lock", 2, 30
_M.HOLD_BUDGET = 0.5

local function dir()
    return settings.spool_dir
end

local function seg_path(first)
    return format("%s/seg-%020d.log", dir(), first)
end

local function read_file(path)
    local f = io.open(path, "rb")
    if not f then
        return nil
    end
    local s = f:read("*a")
    f:close()
    return s
end

local function segments()
    return cjson.decode(state:get("log_segments") or "[]") or {}
end

local function write_index(segs)
    state:set("log_segments", cjson.encode(segs))
    local doc = cjson.encode({
        epoch = state:get("log_epoch"),
        segments = segs,
        acked = state:get("log_acked") or 0,
        last_seq = state:get("log_seq") or 0,
    })
    local tmp = dir() .. "/index.json.tmp"
    local f = io.open(tmp, "wb")
    if f then
        f:write(doc)
        f:close()
        os.rename(tmp, dir() .. "/index.json")
    end
end

-- a new spool's identity (see "digest" above): random, not secret
local function new_epoch()
    local f = io.open("/dev/urandom", "rb")
    local raw = f and f:read(16)
    if f then
        f:close()
    end
    return crypto.to_hex(raw or crypto.sha256(ngx.now() .. ":" .. ngx.worker.pid())):sub(1, 32)
end

-- called in the master at start (not on reload: the shared dict survives it)
function _M.recover()
    if state:get("log_segments") then
        return
    end
    local idx = cjson.decode(read_file(dir() .. "/index.json") or "") or {}
    state:set("log_epoch", type(idx.epoch) == "string" and idx.epoch or new_epoch())
    local segs = type(idx.segments) == "table" and idx.segments or {}
    local seq = tonumber(idx.last_seq) or 0
    local bytes, records = 0, 0
    local cur = segs[#segs]
    if cur then
        local path = seg_path(cur.first)
        local content = read_file(path) or ""
        if content ~= "" and sub(content, -1) ~= "\n" then
            -- a crash mid-write left a torn line: cut it so the file stays parseable
            local last_nl = 0
            for i = #content, 1, -1 do
                if content:byte(i) == 10 then
                    last_nl = i
                    break
                end
            end
            content = sub(content, 1, last_nl)
            local f = io.open(path, "wb")
            if f then
                f:write(content)
                f:close()
            end
        end
        for s, c in gmatch(content, '{"sequence":(%d+),"count":(%d+)') do
            s = tonumber(s)
            if s > seq then
                seq = s
            end
            records = records + tonumber(c)
        end
        bytes = #content
        -- resume nginx's access.log where the last batch ended
        local gen, off
        for g, o in gmatch(content, '"src":"(%d+):(%d+)"') do
            gen, off = g, o
        end
        if gen then
            state:set("ing_gen", tonumber(gen))
            state:set("ing_off", tonumber(off))
        end
    end
    local rotated = io.open(dir() .. "/access.log." .. (state:get("ing_gen") or 0), "rb")
    if rotated then
        -- stopped in the middle of a rotation: drain the renamed file first
        rotated:close()
        state:set("ing_rotating", true)
        state:set("ing_rotated_at", 0)
    end
    state:set("log_seq", seq)
    state:set("log_committed", seq)
    state:set("log_acked", tonumber(idx.acked) or 0)
    state:set("log_seg_bytes", bytes)
    state:set("log_seg_records", records)
    state:set("log_segments", cjson.encode(segs))
end

-- drop the oldest closed segments while the spool is over its size bound
local function enforce_bound(segs)
    local total = state:get("log_seg_bytes") or 0
    for i = 1, #segs - 1 do
        total = total + (segs[i].bytes or 0)
    end
    local acked = state:get("log_acked") or 0
    while total > settings.spool_max_bytes and #segs > 1 do
        local s = table.remove(segs, 1)
        os.remove(seg_path(s.first))
        total = total - (s.bytes or 0)
        if segs[1].first - 1 > acked then
            stats.inc("log_records_dropped", s.records or 0)
        end
    end
end

-- appends one batch; caller holds the spool lock (see with_lock)
function _M.append_locked(records, count, src)
    local seq = (state:get("log_seq") or 0) + 1
    local digest = crypto.to_hex(crypto.sha256(state:get("log_epoch") .. ":" .. seq .. ":" .. src .. ":" .. count))
    local head = '{"sequence":' .. seq .. ',"count":' .. count .. ',"src":"' .. src .. '","digest":"' .. digest
        .. '","records":['
    local size = #head + #records + 3
    local segs = segments()
    local cur = segs[#segs]
    local bytes = state:get("log_seg_bytes") or 0
    if not cur or (bytes > 0 and bytes + size > settings.spool_segment_bytes) then
        if cur then
            cur.bytes, cur.records = bytes, state:get("log_seg_records") or 0
        end
        cur = { first = seq, bytes = 0, records = 0 }
        segs[#segs + 1] = cur
        bytes = 0
        state:set("log_seg_bytes", 0)
        state:set("log_seg_records", 0)
        enforce_bound(segs)
        write_index(segs)
    end
    local f = assert(io.open(seg_path(cur.first), "ab"))
    local ok, werr = f:write(head, records, "]}\n") -- no concatenated copy of a big batch
    f:close()
    assert(ok, werr)
    state:set("log_seq", seq)
    state:set("log_committed", seq)
    state:set("log_seg_bytes", bytes + size)
    state:incr("log_seg_records", count, 0)
    return seq
end

-- Runs fn(still_held) holding the cross-worker spool lock; returns true, fn's
-- first result or nil, err. The lock is held for LOCK_TTL seconds at a time:
-- work of several steps calls still_held() between them, which renews it and
-- says whether it is still ours (if not, the work must stop: another worker
-- may be changing the segment index). Only our own lock is released.
function _M.with_lock(fn)
    local token = lock.acquire(LOCK, LOCK_WAIT, LOCK_TTL)
    if not token then
        return nil, "spool busy"
    end
    local function still_held()
        return lock.renew(LOCK, token, LOCK_TTL)
    end
    local ok, res = pcall(fn, still_held)
    lock.release(LOCK, token)
    if not ok then
        return nil, res
    end
    return res == nil and true or res
end

-- batches with after < sequence <= committed, oldest first
function _M.read(after, max_batches, max_bytes)
    local committed = state:get("log_committed") or 0
    local segs = segments()
    local out, bytes, last = {}, 0, after
    for i, s in ipairs(segs) do
        local seg_last = segs[i + 1] and segs[i + 1].first - 1 or committed
        if seg_last > after then
            local content = read_file(seg_path(s.first)) or ""
            -- plain find (memchr) per line: Lua patterns walk every byte of a segment
            local pos = 1
            while true do
                local nl = find(content, "\n", pos, true)
                if not nl then
                    break
                end
                local seq = tonumber(match(sub(content, pos, pos + 40), '^{"sequence":(%d+)'))
                if seq and seq > after and seq <= committed then
                    local size = nl - pos
                    if #out >= max_batches or (#out > 0 and bytes + size > max_bytes) then
                        return out, last
                    end
                    out[#out + 1] = sub(content, pos, nl - 1)
                    bytes = bytes + size
                    last = seq
                end
                pos = nl + 1
            end
        end
    end
    return out, last
end

-- acknowledges everything up to seq; deletes fully acknowledged segments
function _M.ack(seq)
    return _M.with_lock(function()
        local committed = state:get("log_committed") or 0
        if seq > committed then
            seq = committed
        end
        local acked = state:get("log_acked") or 0
        if seq > acked then
            acked = seq
            state:set("log_acked", acked)
        end
        local segs = segments()
        while #segs > 1 and segs[2].first - 1 <= acked do
            os.remove(seg_path(segs[1].first))
            table.remove(segs, 1)
        end
        write_index(segs)
        return acked
    end)
end

function _M.status()
    local segs = segments()
    local total = state:get("log_seg_bytes") or 0
    for i = 1, #segs - 1 do
        total = total + (segs[i].bytes or 0)
    end
    return {
        sequence = state:get("log_committed") or 0,
        acked = state:get("log_acked") or 0,
        segments = #segs,
        bytes = total,
    }
end

return _M
