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
local crypto = require "portico.crypto"
local jsonscan = require "portico.jsonscan"
local keyformat = require "portico.keyformat"
local keyrecord = require "portico.keyrecord"
local lock = require "portico.lock"
local settings = require "portico.settings"
local url = require "portico.url"

local type, tonumber, tostring, pairs, ipairs = type, tonumber, tostring, pairs, ipairs
local sub, match, gmatch, lower, upper, gsub, find = string.sub, string.match, string.gmatch, string.lower,
    string.upper, string.gsub, string.find
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
-- compiled (per-worker) view of apis/plans/subscriptions
---------------------------------------------------------------------------

local hosts_cache
local function resolve_host(host)
    if match(host, "^%d+%.%d+%.%d+%.%d+$") or find(host, ":", 1, true) then
        return host
    end
    if host == "localhost" then
        return "127.0.0.1"
    end
    -- no resolver in the data path: static names come from /etc/hosts
    if not hosts_cache then
        hosts_cache = {}
        local f = io.open("/etc/hosts", "r")
        if f then
            for line in f:lines() do
                line = gsub(line, "#.*", "")
                local addr, names = match(line, "^%s*(%S+)%s+(.+)$")
                if addr then
                    for n in gmatch(names, "%S+") do
                        hosts_cache[lower(n)] = hosts_cache[lower(n)] or addr
                    end
                end
            end
            f:close()
        end
    end
    return hosts_cache[lower(host)]
end

local function parse_upstream(upstream_url)
    local u = url.parse(upstream_url)
    if not u then
        return nil
    end
    local path = gsub(u.path, "/+$", "")
    return { scheme = u.scheme, host = u.host, addr = resolve_host(u.host), port = u.port, path = path }
end

local function ms(v, default)
    return (type(v) == "number" and v > 0 and v or default) / 1000
end

local function compile_api(a)
    local up = parse_upstream(a.upstream_url)
    local prefix = type(a.path_prefix) == "string" and a.path_prefix or "/"
    if prefix ~= "/" then
        prefix = gsub(prefix, "/+$", "")
    end
    local methods
    if type(a.methods) == "table" and #a.methods > 0 then
        methods = {}
        for _, m in ipairs(a.methods) do
            methods[upper(m)] = true
        end
    end
    local header = type(a.key_header) == "string" and a.key_header ~= "" and a.key_header or "X-API-Key"
    return {
        id = a.id,
        id_s = tostring(a.id),
        slug = a.slug,
        host = type(a.host) == "string" and a.host ~= "" and lower(a.host) or nil,
        prefix = prefix,
        plen = #prefix,
        strip = a.strip_prefix == true,
        methods = methods,
        allow = methods and concat(a.methods, ", ") or nil,
        max_body = type(a.max_body_bytes) == "number" and a.max_body_bytes or nil,
        key_header = header,
        key_lname = lower(header), -- matched against nginx's lower-cased header names
        query_key = a.allow_query_key == true and (type(a.query_key_param) == "string" and a.query_key_param
            or "api_key") or nil,
        upstream = up and up.addr and up or nil,
        connect_timeout = ms(a.connect_timeout_ms, 5000),
        send_timeout = ms(a.send_timeout_ms, 30000),
        read_timeout = ms(a.read_timeout_ms, 30000),
    }
end

local function compile(meta)
    local c = { version = meta.version, routes = {}, plans = {}, subs = {}, by_id = {} }
    for _, a in ipairs(meta.apis or {}) do
        if type(a) == "table" then
            local api = compile_api(a)
            api.query_var = api.query_key and "arg_" .. api.query_key
            -- the config's proxy_*_timeout are these defaults: the balancer skips set_timeouts
            api.custom_timeouts = api.connect_timeout ~= 5 or api.send_timeout ~= 30 or api.read_timeout ~= 30
            -- an upstream block rendered at start for this address skips the balancer phase
            -- (which is the only place per-API timeouts can be set)
            local up = api.upstream
            local static = settings.static_upstreams
            up = up and up.addr and type(static) == "table" and not api.custom_timeouts
                and static[(up.addr:find(":", 1, true) and "[" .. up.addr .. "]" or up.addr) .. ":" .. up.port]
            api.up_name = up or "portico_upstream"
            api.balanced = not up -- through balancer_by_lua, which needs $pt_api
            c.routes[#c.routes + 1] = api
            c.by_id[api.id_s] = api
            c.host_routing = c.host_routing or api.host ~= nil -- otherwise $host is never read
        end
    end
    -- longest prefix first; at equal length a host-bound API beats a host-less one
    sort(c.routes, function(x, y)
        if x.plen ~= y.plen then
            return x.plen > y.plen
        end
        return (x.host and 1 or 0) > (y.host and 1 or 0)
    end)
    -- candidates per first path segment, so a request usually tests one route
    local roots = {}
    for _, r in ipairs(c.routes) do
        r.seg = r.plen > 1 and (match(r.prefix, "^/([^/]*)") or "") or nil
        if not r.seg then
            roots[#roots + 1] = r
        end
    end
    c.by_seg, c.roots = {}, roots
    for _, r in ipairs(c.routes) do
        if r.seg then
            local l = c.by_seg[r.seg]
            if not l then
                l = {}
                c.by_seg[r.seg] = l
            end
            l[#l + 1] = r
        end
    end
    for _, l in pairs(c.by_seg) do
        for _, r in ipairs(roots) do
            l[#l + 1] = r
        end
    end
    for _, p in ipairs(meta.plans or {}) do
        if type(p) == "table" and p.id then
            p.id_s = tostring(p.id)
            -- header values as strings once, not per request
            for _, f in ipairs({ "rate_per_second", "rate_per_minute", "quota_per_day", "quota_per_month" }) do
                if type(p[f]) == "number" then
                    p[f .. "_s"] = tostring(p[f])
                elseif p[f] ~= nil then
                    p[f] = nil -- null or garbage: unlimited
                end
            end
            c.plans[p.id] = p
        end
    end
    for _, s in ipairs(meta.subscriptions or {}) do
        if type(s) == "table" and s.application_id and s.api_id then
            local per_app = c.subs[s.application_id]
            if not per_app then
                per_app = {}
                c.subs[s.application_id] = per_app
            end
            local prev = per_app[s.api_id]
            -- several subscriptions to one API: the active one wins
            if not prev or (prev.status ~= "active" and s.status == "active") then
                s.blocked_until = tonumber(s.blocked_until)
                s.id_s = tostring(s.id)
                -- quota counter names (the period index is appended by the limiter)
                s.q_id_d, s.q_id_m = "d" .. (s.id or 0) .. ":", "M" .. (s.id or 0) .. ":"
                per_app[s.api_id] = s
            end
        end
    end
    return c
end
_M.compile = compile

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
        cur_meta, cur_slot, cur_rev = compile(meta), slot, rev
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
