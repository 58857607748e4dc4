-- Routes: the config's APIs compiled (per worker, once per config change) into
-- a lookup index with their upstreams, and the request-time match against it.
-- Matching is on whole path segments, longest prefix first; at equal length
-- a host-bound API beats a host-less one (docs/gateway-protocol.md, §2).
local settings = require "portico.settings"
local url = require "portico.url"
local validate = require "portico.validate"
local redact = require "portico.redact"
local signatures = require "portico.signatures"

local type, tostring, pairs, ipairs = type, tostring, pairs, ipairs
local byte, sub, find, match, gmatch, lower, upper, gsub = string.byte, string.sub, string.find, string.match,
    string.gmatch, string.lower, string.upper, string.gsub
local concat, sort = table.concat, table.sort

local SLASH = byte("/")
-- proxy.conf.tmpl's proxy_*_timeout (seconds), the defaults of an API's *_timeout_ms
local CONNECT_TIMEOUT, SEND_TIMEOUT, READ_TIMEOUT = 5, 30, 30

local _M = {}

---------------------------------------------------------------------------
-- compile (per worker, on a config change)
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

-- { scheme, host, addr (nil when unresolvable), port, path (no trailing "/") } or nil
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
    local cors_origins
    if type(a.cors_origins) == "table" and #a.cors_origins > 0 then
        cors_origins = {}
        for _, origin in ipairs(a.cors_origins) do
            cors_origins[origin] = true
        end
    end
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
        cors_origins = cors_origins, -- origin -> true: browsers from these get CORS grants
        query_key = a.allow_query_key == true and (type(a.query_key_param) == "string" and a.query_key_param
            or "api_key") or nil,
        upstream = up and up.addr and up or nil,
        -- an https upstream's certificate is checked unless the API says otherwise (access.lua picks the location)
        tls_verify = a.upstream_tls_verify ~= false,
        connect_timeout = ms(a.connect_timeout_ms, CONNECT_TIMEOUT * 1000),
        send_timeout = ms(a.send_timeout_ms, SEND_TIMEOUT * 1000),
        read_timeout = ms(a.read_timeout_ms, READ_TIMEOUT * 1000),
        validator = validate.compile(a.validation), -- nil unless request validation is on (portico.validate)
        signatures = signatures.compile(a.signatures), -- nil unless attack signatures are on (portico.signatures)
    }
end

-- redaction rules (portico.redact): nil for an API without any, so requests test one field
local function with_redaction(api, a)
    api.redact = redact.compile(a.redaction)
    api.redact_out = api.redact and api.redact.responses or nil -- JSON responses masked too (@portico_redact*)
    return api
end

-- Sets api.up_name (and api.balanced): an upstream block rendered at start
-- for this address skips the balancer phase (which is the only place per-API
-- timeouts can be set).
local function place_upstream(api)
    local up = api.upstream
    local static = settings.static_upstreams
    up = up and up.addr and type(static) == "table" and not api.custom_timeouts
        and static[(up.addr:find(":", 1, true) and "[" .. up.addr .. "]" or up.addr) .. ":" .. up.port]
    api.up_name = up or "portico_upstream"
    api.balanced = not up -- through balancer_by_lua, which needs $pt_api
end

-- The API as test keys reach it (issue #15, portico.testmode): the same
-- API with the sandbox upstream (nil when unusable: a 502, like any API's).
local function sandbox_of(api, sandbox_url)
    local sb = {}
    for f, v in pairs(api) do
        sb[f] = v
    end
    local up = parse_upstream(sandbox_url)
    sb.upstream = up and up.addr and up or nil
    place_upstream(sb)
    return sb
end

-- Adds the route index for the snapshot's `apis` to the compiled config `c`:
-- routes (longest prefix first), by_id (id string -> API, for the balancer),
-- by_seg (first path segment -> candidates), roots (APIs at "/"), host_routing.
function _M.compile(c, apis)
    c.routes, c.by_id = {}, {}
    for _, a in ipairs(apis) do
        if type(a) == "table" then
            local api = with_redaction(compile_api(a), a)
            api.query_var = api.query_key and "arg_" .. api.query_key
            -- the config's proxy_*_timeout are these defaults: the balancer skips set_timeouts
            api.custom_timeouts = api.connect_timeout ~= CONNECT_TIMEOUT or api.send_timeout ~= SEND_TIMEOUT
                or api.read_timeout ~= READ_TIMEOUT
            place_upstream(api)
            if type(a.sandbox_upstream_url) == "string" and a.sandbox_upstream_url ~= "" then
                api.sandbox = sandbox_of(api, a.sandbox_upstream_url)
            end
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
    return c
end

---------------------------------------------------------------------------
-- match (hot path)
---------------------------------------------------------------------------

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
    return nb == nil or nb == SLASH
end

-- the API for this path (and host, when c.host_routing), or nil
function _M.match(c, uri, host)
    local slash = find(uri, "/", 2, true)
    local list = c.by_seg[slash and sub(uri, 2, slash - 1) or sub(uri, 2)] or c.roots
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

return _M
