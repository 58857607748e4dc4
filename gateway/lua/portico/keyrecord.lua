-- Key record codec: a snapshot's key object <-> the string a slot stores under
-- the key's raw digest, "app|org|expires|api_ids|cidrs" (portico.slots), and
-- that string -> the record requests read (portico.store). A test key's
-- record ends in "|t" (issue #15): a live key's string is unchanged, so the
-- snapshot loader's fast path (portico.snapshot) can keep building it itself.
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
        .. (k.environment == "test" and "|t" or "")
end

-- { app, org, exp, app_s, org_s, loggable, apis (set of API ids), cidrs, test } or nil
function _M.decode(v)
    local app, org, exp, apis, cidrs, env = match(v, "^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)(.*)$")
    if not app or (env ~= "" and env ~= "|t") then
        return nil
    end
    local rec = { app = tonumber(app), org = tonumber(org), exp = tonumber(exp), app_s = app, org_s = org,
        loggable = app ~= "" and org ~= "", -- both ids present: the log's fast format applies
        test = env == "|t" or nil } -- a test key: sandbox upstream, its own counters (portico.testmode)
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
