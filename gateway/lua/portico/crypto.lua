-- SHA-256 / HMAC-SHA256 through LuaJIT FFI into the libcrypto nginx already links,
-- so the gateway needs no extra Lua packages. Digests are raw 32-byte strings:
-- the key store is indexed by raw digest, which halves shared-dict memory per key.
local ffi = require "ffi"
local C = ffi.C
local byte = string.byte

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
int EVP_Digest(const void *data, size_t count, unsigned char *md,
               unsigned int *size, const EVP_MD *type, void *impl);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
]]

local _M = {}

local md = ffi.new("unsigned char[32]")
local mdlen = ffi.new("unsigned int[1]")
local hexbuf = ffi.new("unsigned char[64]")
local rawbuf = ffi.new("unsigned char[32]")
local sha256 = C.EVP_sha256()
local HEX = ffi.new("const char[17]", "0123456789abcdef")

-- nibble value per byte, -1 for non-hex characters
local NIB = ffi.new("int8_t[256]")
for i = 0, 255 do NIB[i] = -1 end
for i = 0, 9 do NIB[48 + i] = i end
for i = 0, 5 do NIB[97 + i] = 10 + i; NIB[65 + i] = 10 + i end

function _M.sha256(s)
    if C.EVP_Digest(s, #s, md, mdlen, sha256, nil) ~= 1 then
        return nil
    end
    return ffi.string(md, 32)
end

function _M.hmac_sha256(key, s)
    if C.HMAC(sha256, key, #key, s, #s, md, mdlen) == nil then
        return nil
    end
    return ffi.string(md, 32)
end

function _M.to_hex(raw)
    local n = #raw
    local p = ffi.cast("const uint8_t *", raw)
    local out = n <= 32 and hexbuf or ffi.new("unsigned char[?]", n * 2)
    for i = 0, n - 1 do
        local b = p[i]
        out[2 * i] = HEX[b / 16]
        out[2 * i + 1] = HEX[b % 16]
    end
    return ffi.string(out, n * 2)
end

-- 64 hex chars -> 32 raw bytes; nil if malformed. Hot at snapshot load (once per key).
function _M.hex32_to_raw(hex)
    if type(hex) ~= "string" or #hex ~= 64 then
        return nil
    end
    local p = ffi.cast("const uint8_t *", hex)
    for i = 0, 31 do
        local hi, lo = NIB[p[2 * i]], NIB[p[2 * i + 1]]
        if hi < 0 or lo < 0 then
            return nil
        end
        rawbuf[i] = hi * 16 + lo
    end
    return ffi.string(rawbuf, 32)
end

-- Constant-time comparison for signatures (plain == leaks the mismatch position).
function _M.equal(a, b)
    if type(a) ~= "string" or type(b) ~= "string" or #a ~= #b then
        return false
    end
    local diff = 0
    for i = 1, #a do
        diff = bit.bor(diff, bit.bxor(byte(a, i), byte(b, i)))
    end
    return diff == 0
end

return _M
