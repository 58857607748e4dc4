-- Request validation against the API's OpenAPI document (docs/protection.md).
-- The platform compiles the document (protection/openapi.py) and ships the
-- result with the API ("validation" in its snapshot entry); compile() turns
-- it into Lua tables once per config (cached per worker by digest, so an
-- unrelated config change does not redo it) and access.lua calls run() only
-- for APIs that have a validator: an API with validation off costs one nil
-- check. A refusal names the field (a JSON Pointer) and the rule broken,
-- never the value. In report mode nothing is refused: the first finding goes
-- into the access-log record ("vf") and the platform counts it.
local problem = require "portico.problem"
local schema = require "portico.schema"
local json = require("cjson.safe").new()

local ngx = ngx
local var = ngx.var
local req = ngx.req
local re_find = ngx.re.find
local type, pairs, ipairs, tonumber = type, pairs, ipairs, tonumber
local byte, sub, find, upper, lower, gsub = string.byte, string.sub, string.find, string.upper, string.lower,
    string.gsub
local concat, sort = table.concat, table.sort
local floor = math.floor

json.decode_max_depth(64) -- compiled schemas nest at most 32 deep (protection/openapi.py)
json.decode_invalid_numbers(false) -- no NaN, Infinity or hex in a JSON body

local MAX_ARGS = 100 -- query arguments and headers read per request (nginx's defaults)
local SLASH = byte("/")

local compile_schema, pointer_token, check = schema.compile, schema.pointer_token, schema.check

local _M = {}

---------------------------------------------------------------------------
-- compile (per worker, once per document)
---------------------------------------------------------------------------

-- where each parameter's text is read: a path segment's index, the nginx
-- variable of a header (one lookup, no table of every header), or the
-- query arguments (parsed once per request, all values of a repeated key)
local function compile_op(op)
    local params = {}
    for _, p in ipairs(op.params or {}) do
        p.s = compile_schema(p.s)
        p.ptr = "/" .. p["in"] .. "/" .. pointer_token(p.name)
        params[#params + 1] = p
        if p["in"] == "path" then
            for i, seg in ipairs(op.segs) do
                if seg == "{" .. p.name .. "}" then
                    p.idx = i
                end
            end
        elseif p["in"] == "header" then
            p.var = "http_" .. gsub(lower(p.name), "-", "_")
        else
            op.reads_query = true
        end
    end
    op.params = params
    if type(op.body) == "table" then
        op.body.s = compile_schema(op.body.s)
    else
        op.body = nil
    end
    return op
end

local cache = setmetatable({}, { __mode = "v" })

-- the operations of a compiled document: paths grouped by segment count,
-- most literal segments first (OpenAPI: concrete paths before templated ones)
local function compile_paths(ops)
    local by_n = {}
    local templates = {}
    for _, op in ipairs(ops) do
        if type(op) == "table" and type(op.segs) == "table" and type(op.m) == "string" then
            local key = concat(op.segs, "/")
            local t = templates[key]
            if not t then
                local segs, literals = {}, 0
                for i, s in ipairs(op.segs) do
                    if byte(s, 1) == byte("{") then
                        segs[i] = false
                    else
                        segs[i] = s
                        literals = literals + 1
                    end
                end
                t = { segs = segs, n = #segs, literals = literals, methods = {}, names = {} }
                templates[key] = t
                local l = by_n[t.n]
                if not l then
                    l = {}
                    by_n[t.n] = l
                end
                l[#l + 1] = t
            end
            local m = upper(op.m)
            t.methods[m] = compile_op(op)
            t.names[#t.names + 1] = m
        end
    end
    for _, l in pairs(by_n) do
        sort(l, function(a, b)
            return a.literals > b.literals
        end)
    end
    for _, t in pairs(templates) do
        if t.methods.GET and not t.methods.HEAD then
            t.methods.HEAD = t.methods.GET -- HEAD is GET without the body (RFC 9110)
        end
        sort(t.names)
        t.allow = concat(t.names, ", ")
    end
    return by_n
end

-- A validator for an API's "validation" entry, or nil (mode off, or garbage)
function _M.compile(v)
    if type(v) ~= "table" or (v.mode ~= "enforce" and v.mode ~= "report") or type(v.ops) ~= "table" then
        return nil
    end
    local by_n = type(v.digest) == "string" and cache[v.digest]
    if not by_n then
        by_n = compile_paths(v.ops)
        if type(v.digest) == "string" then
            cache[v.digest] = by_n
        end
    end
    return { report = v.mode == "report", by_n = by_n }
end

---------------------------------------------------------------------------
-- checks (run only for APIs with a validator)
---------------------------------------------------------------------------

local B0, B9, MINUS, DOT, E_LOWER, E_UPPER, PLUS = byte("0"), byte("9"), byte("-"), byte("."), byte("e"),
    byte("E"), byte("+")

-- decimal text only (tonumber alone takes hex, spaces and "inf"): digits with
-- a leading "-", and for a number also ".", "e", "E", "+"
local function numeric(text, fraction)
    local n = #text
    if n == 0 or n > 40 then
        return false
    end
    for i = 1, n do
        local b = byte(text, i)
        if not ((b >= B0 and b <= B9) or (b == MINUS and (i == 1 or fraction))
            or (fraction and (b == DOT or b == E_LOWER or b == E_UPPER or b == PLUS))) then
            return false
        end
    end
    return true
end

-- a parameter's text as the JSON value its schema types allow, or nil
local function coerce(text, s)
    local tset = s.tset
    if not tset or tset.string then
        return text
    end
    if (tset.integer or tset.number) and numeric(text, tset.number) then
        local v = tonumber(text)
        if v and (tset.number or v == floor(v)) then
            return v
        end
    end
    if tset.boolean and (text == "true" or text == "false") then
        return text == "true"
    end
end

local function check_param(p, raw)
    local s = p.s
    if raw == nil or raw == true then -- absent, or a query key without a value
        if raw == nil and not p.req then
            return
        end
        if raw == nil then
            return "required", p.ptr
        end
        raw = ""
    end
    if s.tset and s.tset.array then
        local list = type(raw) == "table" and raw or { raw }
        local values = {}
        for i, text in ipairs(list) do
            local v = coerce(text == true and "" or text, s.items or {})
            if v == nil then
                return "type", p.ptr .. "/" .. (i - 1)
            end
            values[i] = v
        end
        return check(values, s, p.ptr)
    end
    if type(raw) == "table" then
        -- repeated: every value must pass, whichever one the upstream reads
        for _, text in ipairs(raw) do
            local rule, at = check_param(p, text)
            if rule then
                return rule, at
            end
        end
        return
    end
    local v = coerce(raw, s)
    if v == nil then
        return "type", p.ptr
    end
    return check(v, s, p.ptr)
end

local function body_text()
    req.read_body()
    local data = req.get_body_data()
    if data then
        return data
    end
    local file = req.get_body_file()
    if not file then
        return nil
    end
    local f = io.open(file, "rb")
    if not f then
        return nil
    end
    data = f:read("*a")
    f:close()
    return data
end

local function check_body(body)
    local ct = var.content_type
    local text = body_text()
    if not text or text == "" then
        if body.req then
            return "required", "/body"
        end
        return
    end
    if not ct or not (re_find(ct, [[^application/([^;]*\+)?json\s*(;|$)]], "joi")) then
        return "media-type", "/header/content-type"
    end
    local v = json.decode(text)
    if v == nil then
        return "json", "/body"
    end
    return check(v, body.s, "/body")
end

local function check_op(op, segs)
    -- parsed before the loop: a local that changes type inside it (nil, then
    -- a table) keeps LuaJIT from compiling the loop ("type instability")
    local args = op.reads_query and req.get_uri_args(MAX_ARGS)
    for _, p in ipairs(op.params) do
        local raw
        if p.idx then
            raw = segs[p.idx]
        elseif p.var then
            raw = var[p.var]
        else
            raw = args[p.name]
        end
        local rule, at = check_param(p, raw)
        if rule then
            return rule, at
        end
    end
    if op.body then
        return check_body(op.body)
    end
end

-- the path template matching the request's segments (most literal first)
local function find_template(by_n, segs)
    local list = by_n[#segs]
    if not list then
        return nil
    end
    for _, t in ipairs(list) do
        local ok = true
        for i = 1, t.n do
            local lit = t.segs[i]
            if lit and lit ~= segs[i] then
                ok = false
                break
            end
        end
        if ok then
            return t
        end
    end
end

local function split(path)
    local segs, i = {}, 2
    if path == "/" or path == "" then
        return segs
    end
    while true do
        local j = find(path, "/", i, true)
        if not j then
            segs[#segs + 1] = sub(path, i)
            return segs
        end
        segs[#segs + 1] = sub(path, i, j - 1)
        i = j + 1
    end
end

-- the path the document describes: the upstream's, after the prefix is stripped
local function api_path(api)
    local uri = var.uri
    if api.strip and api.plen > 1 then
        uri = sub(uri, api.plen + 1)
        if byte(uri, 1) ~= SLASH then
            uri = "/" .. uri
        end
    end
    return uri
end

local function refuse(api, s, cause, extra, headers)
    -- the access phase took the request as admitted: its record becomes a denial's (log_format portico)
    var.pt_ids = ""
    var.pt_lim = ""
    var.pt_api = api.id_s
    var.pt_sub = s.id_s
    return problem.send(cause, extra, headers)
end

-- report mode: the request's first finding goes into its record (attack
-- signatures, checked first, and validation share the field)
local function report(cause, op_id, rule, ptr)
    local finding = cause .. "|" .. op_id .. "|" .. rule .. "|" .. ptr
    local ids = var.pt_ids
    local vf = var.pt_vf
    if (vf and vf ~= "") or (ids and find(ids, ',"vf":"', 1, true)) then
        return true -- a finding is already recorded
    end
    if ids and ids ~= "" then
        -- log_format portico_full does no escaping: pointers hold names a client chose
        var.pt_ids = ids .. ',"vf":"' .. require("portico.logging").escape(finding) .. '"'
    else
        var.pt_vf = finding -- log_format portico escapes it (escape=json)
    end
    return true
end

_M.refuse, _M.report = refuse, report -- shared with portico.signatures

-- true when the request may go on (valid, or report mode); refuses otherwise
function _M.run(api, s)
    local v = api.validator
    local segs = split(api_path(api))
    local t = find_template(v.by_n, segs)
    if not t then
        if v.report then
            return report("unknown-operation", "", "path", "/path")
        end
        return refuse(api, s, "unknown-operation")
    end
    local method = req.get_method()
    local op = t.methods[method]
    if not op then
        if v.report then
            return report("method-not-allowed", "", "method", "/method")
        end
        return refuse(api, s, "method-not-allowed", nil, { Allow = t.allow })
    end
    local rule, at = check_op(op, segs)
    if not rule then
        return true
    end
    if v.report then
        return report("request-invalid", op.id, rule, at)
    end
    return refuse(api, s, "request-invalid", { pointer = at, rule = rule, operation = op.id })
end

return _M
