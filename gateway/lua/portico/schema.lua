-- JSON Schema checks for request validation (portico.validate): the subset
-- protection/openapi.py compiles (types, enum, string lengths and formats,
-- numeric bounds, array sizes and items, required, properties,
-- additionalProperties). A check answers the rule broken and a JSON Pointer
-- to where, never the value.
local json = require("cjson.safe")

local re_find = ngx.re.find
local type, pairs, ipairs, next, tostring = type, pairs, ipairs, next, tostring
local byte, find, gsub = string.byte, string.find, string.gsub
local floor, huge = math.floor, math.huge
local null = json.null

local INT32, INT64 = 2 ^ 31, 2 ^ 63

local _M = {}

local function compile_schema(s)
    if type(s) ~= "table" then
        return {}
    end
    if type(s.type) == "table" and #s.type > 0 then
        s.tset = {}
        for _, t in ipairs(s.type) do
            s.tset[t] = true
        end
    end
    if type(s.enum) == "table" then
        s.eset = {}
        for _, v in ipairs(s.enum) do
            s.eset[v] = true
        end
    end
    if s.items then
        s.items = compile_schema(s.items)
    end
    if type(s.props) == "table" then
        for name, sub_schema in pairs(s.props) do
            s.props[name] = compile_schema(sub_schema)
        end
    end
    if type(s.addl) == "table" then
        s.addl = compile_schema(s.addl)
    end
    s.checks_strings = s.minLength or s.maxLength or s.format
    return s
end

local function pointer_token(name)
    if find(name, "[~/]") then
        name = gsub(gsub(name, "~", "~0"), "/", "~1")
    end
    return name
end

local FORMATS = {
    date = [[^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$]],
    ["date-time"] = [[^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$]],
    uuid = [[^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$]],
    email = [[^[^@\s]+@[^@\s]+\.[^@\s]+$]],
    ipv4 = [[^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$]],
    uri = [[^[A-Za-z][A-Za-z0-9+.-]*:\S*$]],
}

local function json_type(v)
    local t = type(v)
    if t == "string" then
        return "string"
    elseif t == "number" then
        if v == floor(v) and v > -huge and v < huge then
            return "integer"
        end
        return "number"
    elseif t == "boolean" then
        return "boolean"
    elseif v == null then
        return "null"
    elseif t == "table" then
        local k = next(v)
        if k == nil then
            return "empty" -- lua-cjson decodes [] and {} alike: either type will do
        end
        return type(k) == "number" and "array" or "object"
    end
    return "unknown"
end

local function chars(s)
    local n = 0
    for i = 1, #s do
        local b = byte(s, i)
        if b < 0x80 or b >= 0xC0 then -- not a UTF-8 continuation byte
            n = n + 1
        end
    end
    return n
end

local check

local function check_string(v, s)
    local n = #v
    if s.minLength and (n < s.minLength or chars(v) < s.minLength) then
        return "minLength"
    end
    if s.maxLength and n > s.maxLength and chars(v) > s.maxLength then
        return "maxLength"
    end
    local f = s.format and FORMATS[s.format]
    if f and not re_find(v, f, "jo") then
        return "format"
    end
end

local function check_number(v, s)
    local min, max = s.minimum, s.maximum
    if min and (v < min or (s.xmin and v == min)) then
        return s.xmin and "exclusiveMinimum" or "minimum"
    end
    if max and (v > max or (s.xmax and v == max)) then
        return s.xmax and "exclusiveMaximum" or "maximum"
    end
    local m = s.multipleOf
    if m then
        local q = v / m
        if q ~= floor(q) then
            return "multipleOf"
        end
    end
    local f = s.format
    if (f == "int32" and (v < -INT32 or v >= INT32)) or (f == "int64" and (v < -INT64 or v >= INT64)) then
        return "format"
    end
end

local function check_array(v, s, ptr)
    local n = #v
    if s.minItems and n < s.minItems then
        return "minItems", ptr
    end
    if s.maxItems and n > s.maxItems then
        return "maxItems", ptr
    end
    local items = s.items
    if items then
        for i = 1, n do
            local rule, at = check(v[i], items, ptr .. "/" .. (i - 1))
            if rule then
                return rule, at
            end
        end
    end
end

local function check_object(v, s, ptr)
    local required = s.required
    if required then
        for _, name in ipairs(required) do
            if v[name] == nil then
                return "required", ptr .. "/" .. pointer_token(name)
            end
        end
    end
    local props, addl, count = s.props, s.addl, 0
    for name, value in pairs(v) do
        count = count + 1
        local ps = props and props[name]
        if ps then
            local rule, at = check(value, ps, ptr .. "/" .. pointer_token(name))
            if rule then
                return rule, at
            end
        elseif addl == false then
            return "additionalProperties", ptr .. "/" .. pointer_token(tostring(name))
        elseif addl then
            local rule, at = check(value, addl, ptr .. "/" .. pointer_token(tostring(name)))
            if rule then
                return rule, at
            end
        end
    end
    if s.minProperties and count < s.minProperties then
        return "minProperties", ptr
    end
    if s.maxProperties and count > s.maxProperties then
        return "maxProperties", ptr
    end
end

-- nil when v satisfies s, else the rule broken and the pointer to where
check = function(v, s, ptr)
    local t = json_type(v)
    local tset = s.tset
    if tset and not (tset[t] or (t == "integer" and tset.number)
        or (t == "empty" and (tset.array or tset.object))) then
        return "type", ptr
    end
    if s.eset and (type(v) == "table" or not s.eset[v]) then
        return "enum", ptr
    end
    local rule
    if t == "string" then
        if s.checks_strings then
            rule = check_string(v, s)
        end
    elseif t == "integer" or t == "number" then
        rule = check_number(v, s)
    elseif t == "array" then
        return check_array(v, s, ptr)
    elseif t == "object" then
        return check_object(v, s, ptr)
    elseif t == "empty" then
        if (s.minItems or 0) > 0 and not (tset and tset.object) then
            return "minItems", ptr
        end
        return check_object(v, s, ptr)
    end
    if rule then
        return rule, ptr
    end
end

_M.compile = compile_schema
_M.pointer_token = pointer_token
_M.check = check

return _M
