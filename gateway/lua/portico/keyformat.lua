-- API key syntax and checksum, checked before any lookup so malformed or random
-- keys are rejected without touching the shared dict.
-- Format: "ptc_live_" | "ptc_test_" + 43 base62 + 6 base62 checksum, where the
-- checksum is base62(zlib CRC32 of the first 52 chars), zero-padded, MSB first.
local byte, sub, find = string.byte, string.sub, string.find
local crc32 = ngx.crc32_long
local floor = math.floor

-- the same format as keys/tokens.py (the platform's reference)
local KEY_LEN = 58
local BODY_LEN = 52
-- the display prefix humans, logs and X-Portico-Key-Prefix see: keys/tokens.py DISPLAY_PREFIX_LENGTH
local PREFIX_LEN = 16

local _M = { PREFIX_LEN = PREFIX_LEN, KEY_LEN = KEY_LEN }

local ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
local DIGIT = {}
for i = 1, 62 do DIGIT[i - 1] = byte(ALPHABET, i) end

function _M.valid(key)
    if #key ~= KEY_LEN then
        return false
    end
    local p = sub(key, 1, 9)
    if p ~= "ptc_live_" and p ~= "ptc_test_" then
        return false
    end
    if find(key, "[^0-9A-Za-z]", 10) then
        return false
    end
    -- compare base62 digits of the CRC from the least significant end, no allocation
    local n = crc32(sub(key, 1, BODY_LEN))
    for i = KEY_LEN, BODY_LEN + 1, -1 do
        local d = n % 62
        if byte(key, i) ~= DIGIT[d] then
            return false
        end
        n = floor(n / 62)
    end
    return true
end

function _M.prefix(key)
    return sub(key, 1, PREFIX_LEN)
end

return _M
