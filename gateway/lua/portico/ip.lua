-- IPv4/IPv6 parsing and CIDR matching for per-key allowlists.
-- Addresses are compared as 8 x 16-bit groups (IPv4 uses the IPv4-mapped form),
-- so one matcher serves both families.
local tonumber, floor = tonumber, math.floor
local find, sub, gmatch, match = string.find, string.sub, string.gmatch, string.match

local _M = {}

local function v4_groups(s)
    local a, b, c, d = match(s, "^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    if not a then
        return nil
    end
    a, b, c, d = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
    if a > 255 or b > 255 or c > 255 or d > 255 then
        return nil
    end
    return a * 256 + b, c * 256 + d
end

local function parse_part(part, out)
    if part == "" then
        return true
    end
    if sub(part, 1, 1) == ":" or sub(part, -1) == ":" or find(part, "::", 1, true) then
        return false
    end
    for g in gmatch(part, "[^:]+") do
        if find(g, ".", 1, true) then
            local hi, lo = v4_groups(g)
            if not hi then
                return false
            end
            out[#out + 1] = hi
            out[#out + 1] = lo
        else
            if #g > 4 or find(g, "[^%x]") then
                return false
            end
            out[#out + 1] = tonumber(g, 16)
        end
    end
    return true
end

-- returns an array of 8 numbers (16-bit groups), or nil
function _M.parse(s)
    if type(s) ~= "string" then
        return nil
    end
    local hi, lo = v4_groups(s)
    if hi then
        return { 0, 0, 0, 0, 0, 0xffff, hi, lo }, 4
    end
    local pct = find(s, "%", 1, true) -- drop an IPv6 zone id
    if pct then
        s = sub(s, 1, pct - 1)
    end
    local head, tail = s, nil
    local dc = find(s, "::", 1, true)
    if dc then
        head, tail = sub(s, 1, dc - 1), sub(s, dc + 2)
    end
    local h, t = {}, {}
    if not parse_part(head, h) then
        return nil
    end
    if tail and not parse_part(tail, t) then
        return nil
    end
    local n = #h + #t
    if (dc and n > 7) or (not dc and n ~= 8) then
        return nil
    end
    local g = h
    for _ = 1, 8 - n do g[#g + 1] = 0 end
    for i = 1, #t do g[#g + 1] = t[i] end
    return g, 6
end

-- "10.0.0.0/8" or "2001:db8::/32" -> { groups, bits } (bits in the 128-bit space)
function _M.parse_cidr(s)
    local addr, bits = match(s, "^([^/]+)/(%d+)$")
    if not addr then
        addr = s
    end
    local g, family = _M.parse(addr)
    if not g then
        return nil
    end
    local max = family == 4 and 32 or 128
    bits = bits and tonumber(bits) or max
    if bits > max then
        return nil
    end
    if family == 4 then
        bits = bits + 96
    end
    return { g, bits }
end

local function in_cidr(g, c)
    local net, bits = c[1], c[2]
    for i = 1, 8 do
        if bits <= 0 then
            return true
        end
        if bits >= 16 then
            if g[i] ~= net[i] then
                return false
            end
        else
            local div = 2 ^ (16 - bits)
            return floor(g[i] / div) == floor(net[i] / div)
        end
        bits = bits - 16
    end
    return true
end

-- list: array of compiled CIDRs; addr: textual client address
function _M.match(list, addr)
    local g = _M.parse(addr)
    if not g then
        return false
    end
    for i = 1, #list do
        if in_cidr(g, list[i]) then
            return true
        end
    end
    return false
end

return _M
