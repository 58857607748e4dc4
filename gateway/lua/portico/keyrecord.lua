-- Key record codec: a snapshot's key object <-> the string a slot stores under
-- the key's raw digest, "app|org|expires|api_ids|cidrs" (portico.slots), and
-- that string -> the record requests read (portico.store).
local ip = require "portico.ip"

local type, tonumber, tostring, ipairs = type, tonumber, tostring, ipairs
local match, gmatch = string.match, string.gmatch
local concat = table.concat

local _M = {}

local function num(v)
    return type(v) == "number" and tostring(v) or ""
end

local function list(v, ok_type)
    if type(v) ~= "table" then
        return ""
    end
    local out = {}
    for _, x in ipairs(v) do
        if type(x) == ok_type then
            out[#out + 1] = tostring(x)
        end
    end
    return concat(out, ",")
end

function _M.encode(k)
    return num(k.application_id) .. "|" .. num(k.organisation_id) .. "|" .. num(k.expires_at) .. "|"
        .. list(k.api_ids, "number") .. "|" .. list(k.allowed_cidrs, "string")
end

-- { app, org, exp, app_s, org_s, loggable, apis (set of API ids), cidrs } or nil
function _M.decode(v)
    local app, org, exp, apis, cidrs = match(v, "^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$")
    if not app then
        return nil
    end
    local rec = { app = tonumber(app), org = tonumber(org), exp = tonumber(exp), app_s = app, org_s = org,
        loggable = app ~= "" and org ~= "" } -- both ids present: the log's fast format applies
    if apis ~= "" then
        rec.apis = {}
        for id in gmatch(apis, "[^,]+") do
            rec.apis[tonumber(id)] = true
        end
    end
    if cidrs ~= "" then
        -- an allowlist whose entries are all invalid stays empty: deny, not allow
        rec.cidrs = {}
        for c in gmatch(cidrs, "[^,]+") do
            rec.cidrs[#rec.cidrs + 1] = ip.parse_cidr(c)
        end
    end
    return rec
end

return _M
