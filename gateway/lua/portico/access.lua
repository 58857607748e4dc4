-- Request pipeline (access phase): route -> credential -> key lookup -> policy
-- -> limits -> rewrite headers/URI for the proxy. Each step denies with a
-- problem+json answer. Results go into nginx variables ($pt_*) that the
-- config turns into proxy_set_header / add_header lines and the access log
-- (log_format portico): a variable write is far cheaper than ngx.header,
-- ngx.req.set_header or building a record in Lua, and variables survive the
-- internal redirect nginx makes for 502/504 error pages (ngx.ctx does not).
-- The request id is made by nginx itself (map $portico_rid in the config).
--
-- Cost notes (measured with callgrind, see docs/benchmarks.md): every
-- ngx.var read looks the name up in a hash and copies the value into a new
-- Lua string, so request headers are read in one pass over nginx's header
-- list (portico.reqheaders); variables are written only when they carry a value.
local routes = require "portico.routes"
local store = require "portico.store"
local keyformat = require "portico.keyformat"
local tokens = require "portico.tokens"
local crypto = require "portico.crypto"
local ip = require "portico.ip"
local limits = require "portico.limits"
local cors = require "portico.cors"
local problem = require "portico.problem"
local refusals = require "portico.refusals"
local reqheaders = require "portico.reqheaders"
local validate = require("portico.validate").run
local redact = require "portico.redact"
local redact_request, redact_location = redact.request, redact.location
local mtls = require "portico.mtls"
local mtls_run = mtls.run
local signatures = require("portico.signatures").run
local divert = require("portico.testmode").divert

local ngx = ngx
local var = ngx.var
local req = ngx.req
local get_method, clear_header, get_headers = req.get_method, req.clear_header, req.get_headers
local byte, sub, find, lower, gsub, format = string.byte, string.sub, string.find, string.lower, string.gsub,
    string.format
local tonumber, tostring, pairs, floor = tonumber, tostring, pairs, math.floor
local now = ngx.now
local route = routes.match
local PREFIX_LEN = keyformat.PREFIX_LEN
local KEY_LEN = keyformat.KEY_LEN
local resolve_token, token_cached = tokens.resolve, tokens.cached
local refuse, invalid_key, flood_blocked, deny_limit = refusals.refuse, refusals.invalid_key,
    refusals.flood_blocked, refusals.limit
local flooding_checked = refusals.FLOOD_CHECKED
local read_headers = reqheaders.read
local X_PORTICO, X_PORTICO_LEN, BYTE_X = reqheaders.X_PORTICO, reqheaders.X_PORTICO_LEN, reqheaders.BYTE_X
-- the gateway's body ceiling (--max-body), checked here for location / (see gateway.conf.tmpl)
local MAX_BODY = tonumber(require("portico.settings").max_body_bytes) or 0
if MAX_BODY <= 0 then
    MAX_BODY = math.huge -- --max-body 0: no ceiling, as in nginx
end
local MAX_BODY_DIGITS = #tostring(MAX_BODY)
local SLASH, QUESTION_MARK, SPACE = byte("/"), byte("?"), byte(" ")

-- Header values for counters: tostring() of a number takes LuaJIT's generic
-- float formatting (about as slow as a shared-dict operation), so the values
-- real plans produce are cached per worker.
local NUMS = {}
local function num_s(n)
    if n >= 100000 then
        return n == floor(n) and format("%d", n) or tostring(n)
    end
    local s = NUMS[n]
    if not s then
        s = tostring(n)
        NUMS[n] = s
    end
    return s
end

local _M = {}

---------------------------------------------------------------------------
-- upstream URI and credential
---------------------------------------------------------------------------

local function escape_path(s)
    return (gsub(s, "[^%w%-%._~/!$&'()*+,;=:@%%]", function(c)
        return format("%%%02X", byte(c))
    end))
end

-- request URI (path + query) to send upstream, honouring strip_prefix
local function upstream_uri(api, ru)
    if api.strip then
        local plen = api.plen
        if plen > 1 then
            local nb = byte(ru, plen + 1)
            if sub(ru, 1, plen) == api.prefix and (nb == nil or nb == SLASH or nb == QUESTION_MARK) then
                ru = sub(ru, plen + 1)
            else
                -- the raw path only matched after normalisation (%-escapes, dot
                -- segments): forward the normalised form, never the raw one
                local q = find(ru, "?", 1, true)
                ru = escape_path(sub(var.uri, plen + 1)) .. (q and sub(ru, q) or "")
            end
        end
        if byte(ru, 1) ~= SLASH then
            ru = "/" .. ru
        end
    end
    local b = api.upstream.path
    if b ~= "" then
        ru = b .. ru
    end
    return ru
end

local function strip_query_key(ru, param)
    local q = find(ru, "?", 1, true)
    if not q then
        return ru
    end
    local t = ngx.decode_args(sub(ru, q + 1), 100)
    t[param] = nil
    local s = ngx.encode_args(t)
    return sub(ru, 1, q - 1) .. (s ~= "" and "?" .. s or "")
end

local MISSING_KEY_HEADERS = { ["WWW-Authenticate"] = 'Bearer realm="portico"' }

-- "Bearer <key>" without Lua patterns (they are not JIT-compiled)
local BEARER = "Bearer "
local BEARER_LEN, BEARER_LOWER = #BEARER, lower(BEARER)
-- "Bearer " and a key, with a few spaces to spare: anything longer is an access token or nothing
local BEARER_KEY_LEN = BEARER_LEN + KEY_LEN + 8
local function is_bearer(authz)
    local p = sub(authz, 1, BEARER_LEN)
    return p == BEARER or lower(p) == BEARER_LOWER
end

local function bearer(authz)
    if not is_bearer(authz) then
        return nil
    end
    local i, j = BEARER_LEN + 1, #authz
    while byte(authz, i) == SPACE do
        i = i + 1
    end
    while j >= i and byte(authz, j) == SPACE do
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

---------------------------------------------------------------------------
-- stages. The pipeline is split into stages on purpose: as one function it
-- was too big for a single LuaJIT trace and ran interpreted; each stage now
-- compiles on its own. A stage returns nil after denying.
---------------------------------------------------------------------------

-- RFC 6750 §3: the error a client reads in the challenge (every 401 of a token, and a scope refusal)
local INVALID_TOKEN_HEADERS = { ["WWW-Authenticate"] = 'Bearer realm="portico", error="invalid_token"' }
local SCOPE_HEADERS = { ["WWW-Authenticate"] = 'Bearer realm="portico", error="insufficient_scope"' }

-- credential: an OAuth2 access token (portico.tokens) instead of a key, in
-- the Authorization header value `authz`
local function stage_token(meta, api, authz)
    local addr
    if flooding_checked and not token_cached(authz) then
        -- a signature check per unknown token: throttled per address like unknown keys
        addr = var.remote_addr
        local retry = flood_blocked(addr)
        if retry then
            return refuse(api, nil, "too-many-invalid-keys", nil, { ["Retry-After"] = retry })
        end
    end
    local t, cause = resolve_token(meta, authz, now())
    if not t then
        if cause == "token-invalid" and addr then
            return invalid_key(api, addr, cause, INVALID_TOKEN_HEADERS)
        end
        return refuse(api, nil, cause, nil, INVALID_TOKEN_HEADERS)
    end
    var.pt_client = t.client -- X-Portico-Client upstream, "cl" in the access log
    var.pt_app = t.app_s
    var.pt_org = t.org_s
    return t, 1
end

-- credential: Bearer, then the API's key header, then (if allowed) the query
local function stage_key(meta, api, authz, header_key)
    local src = 1
    local key
    if authz then
        if #authz > BEARER_KEY_LEN and is_bearer(authz) then
            return stage_token(meta, api, authz) -- longer than any key: a JWT access token
        end
        key = bearer(authz)
    end
    if not key then
        src = 2
        key = header_key
        if not key and api.query_var then
            src = 3
            key = var[api.query_var]
            key = key and ngx.unescape_uri(key)
        end
    end
    if not key then
        return refuse(api, nil, "missing-key", nil, MISSING_KEY_HEADERS)
    end
    -- a key seen recently skips the checksum and SHA-256 (cache flushed on any config change)
    local k = store.cached_key(key)
    if not k then
        -- the expensive path: throttled per address when it keeps failing
        local addr
        if flooding_checked then
            addr = var.remote_addr
            local retry = flood_blocked(addr)
            if retry then
                return refuse(api, nil, "too-many-invalid-keys", nil, { ["Retry-After"] = retry })
            end
        end
        if not keyformat.valid(key) then
            return invalid_key(api, addr)
        end
        k = store.key(crypto.sha256(key), key)
        if not k then
            var.pt_key = sub(key, 1, PREFIX_LEN)
            return invalid_key(api, addr)
        end
    end
    var.pt_key = k.prefix
    var.pt_app = k.app_s
    var.pt_org = k.org_s
    if k.exp and k.exp <= now() then
        return refuse(api, nil, "expired-key")
    end
    return k, src
end

-- scope (key restriction + active subscription), client IP, method, body size
local function stage_policy(meta, api, k, cl, te)
    if k.apis and not k.apis[api.id] then
        if k.token then
            return refuse(api, nil, "token-scope", nil, SCOPE_HEADERS)
        end
        return refuse(api, nil, "forbidden-api")
    end
    local subs = meta.subs[k.app]
    local s = subs and subs[api.id]
    local plan = s and s.status == "active" and meta.plans[s.plan_id]
    if not plan then
        return refuse(api, nil, "forbidden-api")
    end
    var.pt_plan = plan.id_s
    if k.cidrs and not ip.match(k.cidrs, var.remote_addr) then
        return refuse(api, s, "forbidden-ip")
    end
    if api.methods and not api.methods[get_method()] then
        return refuse(api, s, "method-not-allowed", nil, { Allow = api.allow })
    end
    if api.max_body then
        local size
        if cl then
            size = tonumber(cl)
        elseif te then
            size = body_size()
        end
        if size and size > api.max_body then
            return refuse(api, s, "body-too-large", { max_body_bytes = api.max_body })
        end
    end
    return s, plan
end

local function stage_limits(api, k, s, plan)
    local ok, info = limits.check(k, s, plan, now())
    if not ok then
        return deny_limit(api, s, info)
    end
    local rl = info.limit
    if rl then
        var.pt_rl = rl == plan.rate_per_second and plan.rate_per_second_s or plan.rate_per_minute_s
        var.pt_rlr = num_s(info.remaining)
        var.pt_rlt = num_s(info.reset)
    end
    if info.day_remaining then
        var.pt_qd = plan.quota_per_day_s
        var.pt_qdr = num_s(info.day_remaining)
    end
    if info.month_remaining then
        var.pt_qm = plan.quota_per_month_s
        var.pt_qmr = num_s(info.month_remaining)
    end
    return true
end

-- a client's x-portico-* headers (rare): the identity headers come from
-- proxy_set_header (which also drops a client's copy), the others go here
local function strip_portico_headers()
    for name in pairs(get_headers(200)) do
        if byte(name, 1) == BYTE_X and sub(name, 1, X_PORTICO_LEN) == X_PORTICO then
            clear_header(name)
        end
    end
end

-- The log record's ids for an admitted request, one string per key and
-- subscription (the subscription fixes the API; a config change brings new
-- subscription tables, so stale entries just stop being used).
local function ids_of(k, api, s, plan)
    local by_sub = k.ids
    if not by_sub then
        by_sub = setmetatable({}, { __mode = "k" })
        k.ids = by_sub
    end
    local ids = by_sub[s]
    if not ids then
        ids = '"api":' .. api.id_s .. ',"key":"' .. k.prefix .. '","app":' .. k.app_s .. ',"org":' .. k.org_s
            .. ',"sub":' .. s.id_s .. ',"plan":' .. plan.id_s
        by_sub[s] = ids
    end
    return ids
end

-- The access log's record format for an admitted request. log_format
-- portico_full takes the ids as one preformatted variable ($pt_ids, which
-- also selects the format), has "lim":"ok" built in and does no per-byte
-- escaping (escape=none), so it is used only when nothing in the record
-- needs escaping: every id known (numbers and the key's own prefix), no
-- quote or backslash in the URI (nginx refuses control characters there
-- with a 400), and no client request id holding one or a control character.
-- Anything else, and every denial, goes through log_format portico
-- (escape=json).
local function mark_admitted(k, api, s, plan, ru, rid_unsafe)
    if k.loggable and not rid_unsafe and not find(ru, '"', 1, true) and not find(ru, "\\", 1, true) then
        var.pt_ids = ids_of(k, api, s, plan)
    else
        var.pt_api = api.id_s
        var.pt_sub = s.id_s
        var.pt_lim = "ok"
    end
end

-- upstream URI, credential stripped
local function stage_forward(api, src, ru, authz, xak, portico, quiet)
    local up = api.upstream
    if not up then
        return refuse(api, nil, "bad-gateway")
    end
    -- Authorization and X-API-Key are always replaced by proxy_set_header
    -- ($pt_authz, $pt_xak): the client's value is passed on unless it was the
    -- credential, with no header-list edit for the usual credentials
    if authz and src ~= 1 and not (src == 2 and api.key_lname == "authorization") then
        var.pt_authz = authz
    end
    if xak and not (src == 2 and api.key_lname == "x-api-key") then
        var.pt_xak = xak
    end
    if src == 2 and api.key_lname ~= "x-api-key" then
        clear_header(api.key_header)
    elseif src == 3 then
        ru = strip_query_key(ru, api.query_key)
    end
    if portico then
        strip_portico_headers()
    end
    -- upstream name and URI in one variable (proxy_pass http://$pt_t)
    var.pt_t = api.up_name .. upstream_uri(api, ru)
    if api.balanced then
        var.pt_api = api.id_s -- how the balancer finds the API: no ngx.ctx table per request
    end
    if api.redact_out then
        return ngx.exec(redact_location(api, up))
    end
    if up.scheme == "https" then
        var.pt_uhost = up.host
        if api.up_cert then
            return mtls.to_upstream(api, quiet) -- the API's own client certificate towards its upstream
        end
        if not api.tls_verify then
            return ngx.exec(quiet and "@portico_query_key_https_unverified" or "@portico_https_unverified")
        end
        return ngx.exec(quiet and "@portico_query_key_https" or "@portico_https")
    end
end

-- mode: nil in location /; "quiet" in @portico_query_key, whose error lines
-- are not written (nginx would print the client's request line, key
-- included); "chunked" in @portico_chunked, where the body ceiling applies
function _M.run(mode)
    local quiet = mode == "quiet"
    local meta = store.current()
    if not meta then
        return problem.send("not-ready")
    end
    local api = route(meta, var.uri, meta.host_routing and var.host)
    if not api then
        return problem.send("no-route")
    end
    -- redaction (docs/redaction.md): the logged path masked; a request line holding
    -- anything to hide runs where nginx writes no error lines, like a query key
    if api.redact and redact_request(api.redact, var.request_uri) and not mode then
        return ngx.exec("@portico_query_key")
    end
    if not mode and api.query_var and var[api.query_var] then
        return ngx.exec("@portico_query_key")
    end
    local authz, header_key, xak, cl, te, portico, rid_unsafe, origin = read_headers(api.key_lname, #api.key_lname)
    if te and not mode then
        return ngx.exec("@portico_chunked") -- location / has no body ceiling (gateway.conf.tmpl)
    end
    if cl and #cl >= MAX_BODY_DIGITS and tonumber(cl) > MAX_BODY then
        return refuse(api, nil, "body-too-large", { max_body_bytes = MAX_BODY })
    end
    if origin and cors.grant(api, origin) then
        return -- a preflight, answered
    end
    local k, src
    if api.mtls then -- client certificate required (portico.mtls): the only cost to other APIs is this check
        k, src = mtls_run(meta, api, stage_key, authz, header_key)
    else
        k, src = stage_key(meta, api, authz, header_key)
    end
    if not k then
        return
    end
    local s, plan = stage_policy(meta, api, k, cl, te)
    if not s then
        return
    end
    if k.test then
        api, s, plan = divert(api, s, plan) -- test mode (portico.testmode)
        if not api then
            return
        end
    end
    if not stage_limits(api, k, s, plan) then
        return
    end
    local ru = var.request_uri
    mark_admitted(k, api, s, plan, ru, rid_unsafe)
    if api.signatures and not signatures(api, s) then
        return -- refused: an attack signature matched (docs/protection.md), checked before validation
    end
    if api.validator and not validate(api, s) then
        return -- refused: the request does not match the API's OpenAPI document (docs/protection.md)
    end
    return stage_forward(api, src, ru, authz, xak, portico, quiet)
end

return _M
