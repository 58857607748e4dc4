-- Request pipeline (access phase): route -> credential -> key lookup -> policy
-- -> limits -> rewrite headers/URI for the proxy. Each step denies with a
-- problem+json answer; the partial log record is left in $portico_rec so it
-- survives the internal redirect nginx makes for 502/504 error pages.
local store = require "portico.store"
local keyformat = require "portico.keyformat"
local crypto = require "portico.crypto"
local ip = require "portico.ip"
local limits = require "portico.limits"
local problem = require "portico.problem"

local ngx = ngx
local var = ngx.var
local req = ngx.req
local get_method, clear_header, set_header, get_headers = req.get_method, req.clear_header, req.set_header,
    req.get_headers
local byte, sub, find, match, gsub, format = string.byte, string.sub, string.find, string.match, string.gsub,
    string.format
local tonumber, tostring, pairs = tonumber, tostring, pairs
local now = ngx.now

local _M = {}

local function route(meta, uri, host)
    local routes = meta.routes
    for i = 1, #routes do
        local r = routes[i]
        if not r.host or r.host == host then
            if r.plen == 1 then
                return r
            end
            if sub(uri, 1, r.plen) == r.prefix then
                local nb = byte(uri, r.plen + 1)
                if nb == nil or nb == 47 then
                    return r
                end
            end
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

local function deny(rec, cause, extra, headers)
    var.portico_rec = rec
    return problem.send(cause, extra, headers)
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

function _M.run()
    local ctx = ngx.ctx
    local rid = var.http_x_request_id
    if not rid or #rid > 64 then
        rid = var.request_id
        set_header("X-Request-Id", rid)
    end
    ctx.rid = rid

    local meta = store.current()
    if not meta then
        return problem.send("not-ready")
    end
    local api = route(meta, var.uri, var.host)
    if not api then
        return problem.send("no-route")
    end
    local rec = '"api":' .. api.id

    -- credential: Bearer, then the API's key header, then (if allowed) the query
    local src = 1
    local key
    local authz = var.http_authorization
    if authz then
        key = match(authz, "^[Bb][Ee][Aa][Rr][Ee][Rr] +([^ ]+) *$")
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
        return deny(rec, "missing-key", nil, { ["WWW-Authenticate"] = 'Bearer realm="portico"' })
    end
    if not keyformat.valid(key) then
        return deny(rec, "invalid-key")
    end
    local prefix = sub(key, 1, 16)
    rec = rec .. ',"key":"' .. prefix .. '"'
    local digest = crypto.sha256(key)
    local k = store.key(digest)
    if not k then
        return deny(rec, "invalid-key")
    end
    local t = now()
    rec = rec .. ',"app":' .. (k.app or 0) .. ',"org":' .. (k.org or 0)
    if k.exp and k.exp <= t then
        return deny(rec, "expired-key")
    end

    -- policy: scope (key restriction + active subscription), client IP, method, body size
    if k.apis and not k.apis[api.id] then
        return deny(rec, "forbidden-api")
    end
    local subs = meta.subs[k.app]
    local s = subs and subs[api.id]
    local plan = s and s.status == "active" and meta.plans[s.plan_id]
    if not plan then
        return deny(rec, "forbidden-api")
    end
    rec = rec .. ',"sub":' .. s.id .. ',"plan":' .. plan.id
    if k.cidrs and not ip.match(k.cidrs, var.remote_addr) then
        return deny(rec, "forbidden-ip")
    end
    if api.methods and not api.methods[get_method()] then
        return deny(rec, "method-not-allowed", nil, { Allow = api.allow })
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
            return deny(rec, "body-too-large", { max_body_bytes = api.max_body })
        end
    end

    -- limits
    local ok, info = limits.check(digest, s, plan, t)
    if not ok then
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
        return deny(rec .. ',"lim":"' .. info.outcome .. '"',
            info.outcome == "rate" and "rate-limited" or "quota-exceeded", extra, headers)
    end
    var.portico_rec = rec .. ',"lim":"ok"'
    ctx.lim = info

    -- forward: upstream URI, credential stripped, identity headers replaced
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
    for name in pairs(get_headers(200)) do
        if byte(name, 1) == 120 and sub(name, 1, 10) == "x-portico-" then
            clear_header(name)
        end
    end
    set_header("X-Portico-Application", tostring(k.app))
    set_header("X-Portico-Organisation", tostring(k.org))
    set_header("X-Portico-Plan", tostring(plan.id))
    set_header("X-Portico-Key-Prefix", prefix)
    var.portico_upstream_uri = upstream_path(api, q and sub(ru, 1, q - 1) or ru) .. args
    if up.scheme == "https" then
        var.portico_scheme = "https"
        var.portico_upstream_host = up.host
    end
    ctx.api = api
end

function _M.header_filter()
    local ctx = ngx.ctx
    local h = ngx.header
    if ctx.rid then
        h["X-Request-Id"] = ctx.rid
    end
    local info = ctx.lim
    if info then
        if info.limit then
            h["RateLimit-Limit"] = info.limit
            h["RateLimit-Remaining"] = info.remaining
            h["RateLimit-Reset"] = info.reset
        end
        if info.day_limit then
            h["X-Quota-Limit-Day"] = info.day_limit
            h["X-Quota-Remaining-Day"] = info.day_remaining
        end
        if info.month_limit then
            h["X-Quota-Limit-Month"] = info.month_limit
            h["X-Quota-Remaining-Month"] = info.month_remaining
        end
    end
end

return _M
