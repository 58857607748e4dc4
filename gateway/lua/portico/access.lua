-- Request pipeline (access phase): route -> credential -> key lookup -> policy
-- -> limits -> rewrite headers/URI for the proxy. Each step denies with a
-- problem+json answer. Results go into nginx variables ($portico_*) that the
-- config turns into proxy_set_header / add_header lines and the access log
-- (log_format portico): a variable write is far cheaper than ngx.header,
-- ngx.req.set_header or building a record in Lua, and variables survive the
-- internal redirect nginx makes for 502/504 error pages (ngx.ctx does not).
local store = require "portico.store"
local keyformat = require "portico.keyformat"
local crypto = require "portico.crypto"
local ip = require "portico.ip"
local limits = require "portico.limits"
local problem = require "portico.problem"

local ngx = ngx
local var = ngx.var
local req = ngx.req
local get_method, clear_header, get_headers, raw_header = req.get_method, req.clear_header, req.get_headers,
    req.raw_header
local re_find = ngx.re.find
local byte, sub, find, lower, gsub, format = string.byte, string.sub, string.find, string.lower, string.gsub,
    string.format
local tonumber, pairs = tonumber, pairs
local now = ngx.now

local _M = {}

-- Request ids: nginx's $request_id draws from the CSPRNG on every request
-- (~1 us); a random per-worker prefix plus a counter is unique and near free.
local rid_prefix, rid_seq
local function new_request_id()
    if not rid_prefix then
        local seed = ngx.worker.pid() .. ":" .. ngx.now() .. ":" .. var.request_id
        rid_prefix = sub(crypto.to_hex(crypto.sha256(seed)), 1, 16) .. "-"
        rid_seq = 0
    end
    rid_seq = rid_seq + 1
    return rid_prefix .. rid_seq
end

local function matches(r, uri, host)
    if r.host and r.host ~= host then
        return false
    end
    if r.plen == 1 then
        return true
    end
    if sub(uri, 1, r.plen) ~= r.prefix then
        return false
    end
    local nb = byte(uri, r.plen + 1)
    return nb == nil or nb == 47
end

-- longest matching prefix; candidates are pre-grouped by first path segment
local function route(meta, uri, host)
    local slash = find(uri, "/", 2, true)
    local list = meta.by_seg[slash and sub(uri, 2, slash - 1) or sub(uri, 2)] or meta.roots
    local r = list[1]
    if r and matches(r, uri, host) then
        return r -- the usual case, kept free of loops for the JIT
    end
    for i = 2, #list do
        r = list[i]
        if matches(r, uri, host) then
            return r
        end
    end
end

local function escape_path(s)
    return (gsub(s, "[^%w%-%._~/!$&'()*+,;=:@%%]", function(c)
        return format("%%%02X", byte(c))
    end))
end

-- path (no query) to send upstream, honouring strip_prefix
local function upstream_path(api, raw)
    if api.strip then
        local p = api.prefix
        if api.plen > 1 then
            local nb = byte(raw, api.plen + 1)
            if sub(raw, 1, api.plen) == p and (nb == nil or nb == 47 or nb == 63) then
                raw = sub(raw, api.plen + 1)
            else
                -- the raw path only matched after normalisation (%-escapes, dot
                -- segments): forward the normalised form, never the raw one
                raw = escape_path(sub(var.uri, api.plen + 1))
            end
        end
        if byte(raw, 1) ~= 47 then
            raw = "/" .. raw
        end
    end
    local base = api.upstream.path
    if base ~= "" then
        raw = base .. raw
    end
    return raw
end

local function strip_query_key(args, param)
    local t = ngx.decode_args(args, 100)
    t[param] = nil
    local s = ngx.encode_args(t)
    return s ~= "" and "?" .. s or ""
end

local MISSING_KEY_HEADERS = { ["WWW-Authenticate"] = 'Bearer realm="portico"' }

-- "Bearer <key>" without Lua patterns (they are not JIT-compiled)
local function bearer(authz)
    local p = sub(authz, 1, 7)
    if p ~= "Bearer " and lower(p) ~= "bearer " then
        return nil
    end
    local i, j = 8, #authz
    while byte(authz, i) == 32 do
        i = i + 1
    end
    while j >= i and byte(authz, j) == 32 do
        j = j - 1
    end
    if j < i or find(sub(authz, i, j), " ", 1, true) then
        return nil
    end
    return sub(authz, i, j)
end

local function body_size()
    req.read_body()
    local data = req.get_body_data()
    if data then
        return #data
    end
    local file = req.get_body_file()
    if not file then
        return 0
    end
    local f = io.open(file, "rb")
    if not f then
        return 0
    end
    local size = f:seek("end")
    f:close()
    return size
end

-- The pipeline is split into stages on purpose: as one function it was too
-- big for a single LuaJIT trace ("too many spill slots") and ran interpreted;
-- each stage now compiles on its own. A stage returns nil after denying.

-- request id, config, route
local function stage_route()
    local rid = var.http_x_request_id
    if not rid or #rid > 64 then
        rid = new_request_id()
    end
    var.portico_rid = rid -- echoed in the answer, sent upstream, logged, and in problem bodies

    local meta = store.current()
    if not meta then
        return problem.send("not-ready")
    end
    local api = route(meta, var.uri, var.host)
    if not api then
        return problem.send("no-route")
    end
    -- $portico_* variables feed the access log (log_format portico) as they become known
    var.portico_api = api.id_s
    return meta, api
end

-- credential: Bearer, then the API's key header, then (if allowed) the query
local function stage_key(api)
    local src = 1
    local key
    local authz = var.http_authorization
    if authz then
        key = bearer(authz)
    end
    if not key then
        src = 2
        key = var[api.key_var]
        if not key and api.query_key then
            src = 3
            key = var["arg_" .. api.query_key]
            key = key and ngx.unescape_uri(key)
        end
    end
    if not key then
        return problem.send("missing-key", nil, MISSING_KEY_HEADERS)
    end
    -- a key seen recently skips the checksum and SHA-256 (cache flushed on any config change)
    local k = store.cached_key(key)
    if not k then
        if not keyformat.valid(key) then
            return problem.send("invalid-key")
        end
        k = store.key(crypto.sha256(key), key)
        if not k then
            var.portico_key = sub(key, 1, 16)
            return problem.send("invalid-key")
        end
    end
    var.portico_key = k.prefix
    var.portico_app = k.app_s
    var.portico_org = k.org_s
    if k.exp and k.exp <= now() then
        return problem.send("expired-key")
    end
    return k, src
end

-- scope (key restriction + active subscription), client IP, method, body size
local function stage_policy(meta, api, k)
    if k.apis and not k.apis[api.id] then
        return problem.send("forbidden-api")
    end
    local subs = meta.subs[k.app]
    local s = subs and subs[api.id]
    local plan = s and s.status == "active" and meta.plans[s.plan_id]
    if not plan then
        return problem.send("forbidden-api")
    end
    var.portico_sub = s.id_s
    var.portico_plan = plan.id_s
    if k.cidrs and not ip.match(k.cidrs, var.remote_addr) then
        return problem.send("forbidden-ip")
    end
    if api.methods and not api.methods[get_method()] then
        return problem.send("method-not-allowed", nil, { Allow = api.allow })
    end
    if api.max_body then
        local cl = var.http_content_length
        local size
        if cl then
            size = tonumber(cl)
        elseif var.http_transfer_encoding then
            size = body_size()
        end
        if size and size > api.max_body then
            return problem.send("body-too-large", { max_body_bytes = api.max_body })
        end
    end
    return s, plan
end

local function deny_limit(info)
    local headers = { ["Retry-After"] = info.retry_after }
    local extra = { limit = info.outcome == "rate" and "rate" or "quota", window = info.window,
        retry_after = info.retry_after }
    if info.outcome == "rate" then
        headers["RateLimit-Limit"] = info.limit
        headers["RateLimit-Remaining"] = 0
        headers["RateLimit-Reset"] = info.reset
    elseif info.reason and info.reason ~= ngx.null then
        extra.reason = info.reason
    end
    return problem.send(info.outcome == "rate" and "rate-limited" or "quota-exceeded", extra, headers)
end

local function stage_limits(k, s, plan)
    local ok, info = limits.check(k.digest, s, plan, now())
    var.portico_lim = info.outcome
    if not ok then
        return deny_limit(info)
    end
    if info.limit then
        var.portico_rl_limit = info.limit
        var.portico_rl_remaining = info.remaining
        var.portico_rl_reset = info.reset
    end
    if info.day_limit then
        var.portico_qd_limit = info.day_limit
        var.portico_qd_remaining = info.day_remaining
    end
    if info.month_limit then
        var.portico_qm_limit = info.month_limit
        var.portico_qm_remaining = info.month_remaining
    end
    return true
end

local function strip_portico_headers()
    -- the identity headers come from proxy_set_header (which also drops a
    -- client's copy); any other x-portico-* header is removed here. A regex
    -- over the raw header block finds them without iterating a table (pairs()
    -- is not JIT-compiled); HTTP/2 has no raw block, so it always scans.
    local ok_raw, raw = pcall(raw_header, true)
    if not ok_raw or re_find(raw, [[^x-portico-]], "joim") then
        for name in pairs(get_headers(200)) do
            if byte(name, 1) == 120 and sub(name, 1, 10) == "x-portico-" then
                clear_header(name)
            end
        end
    end
end

-- upstream URI, credential stripped
local function stage_forward(api, src)
    local up = api.upstream
    if not up then
        return problem.send("bad-gateway")
    end
    local ru = var.request_uri
    local q = find(ru, "?", 1, true)
    local args = q and sub(ru, q) or ""
    if src == 1 then
        clear_header("Authorization")
    elseif src == 2 then
        clear_header(api.key_header)
    else
        args = strip_query_key(sub(args, 2), api.query_key)
    end
    strip_portico_headers()
    var.portico_upstream_uri = upstream_path(api, q and sub(ru, 1, q - 1) or ru) .. args
    if up.scheme == "https" then
        var.portico_scheme = "https"
        var.portico_upstream_host = up.host
    end
    -- the balancer finds the API again through $portico_api: no ngx.ctx table per request
end

function _M.run()
    local meta, api = stage_route()
    if not meta then
        return
    end
    local k, src = stage_key(api)
    if not k then
        return
    end
    local s, plan = stage_policy(meta, api, k)
    if not s then
        return
    end
    if not stage_limits(k, s, plan) then
        return
    end
    return stage_forward(api, src)
end

return _M
