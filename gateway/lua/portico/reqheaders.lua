-- The access phase's request-header reader: one pass over nginx's header list
-- (FFI, no table), strings only for the headers the pipeline uses. Split out
-- of portico.access to keep that module readable; it is its hot path.
local ffi = require "ffi"
local base = require "resty.core.base"

local C = ffi.C
local ffi_str = ffi.string
local get_request = base.get_request
local byte, find = string.byte, string.find

pcall(ffi.cdef, "int memcmp(const void *a, const void *b, size_t n);")

local _M = {}

---------------------------------------------------------------------------
-- request headers in one pass
---------------------------------------------------------------------------

local MAX_HEADERS = 100
local hbuf = ffi.new("ngx_http_lua_ffi_table_elt_t[?]", MAX_HEADERS)
local htrunc = ffi.new("int[1]")

-- The header names the reader looks for (nginx's lower-cased form), their
-- lengths and first bytes: a length and a byte compare rule out nearly every
-- other header before any memcmp. Constant upvalues: LuaJIT compiles them in
-- as literals.
local X_API_KEY = "x-api-key"
local X_API_KEY_LEN = #X_API_KEY
local AUTHORIZATION = "authorization"
local AUTHORIZATION_LEN = #AUTHORIZATION
local CONTENT_LENGTH = "content-length"
local CONTENT_LENGTH_LEN = #CONTENT_LENGTH
local TRANSFER_ENCODING = "transfer-encoding"
local TRANSFER_ENCODING_LEN = #TRANSFER_ENCODING
local X_PORTICO = "x-portico-" -- a name prefix: any header starting with it
local X_PORTICO_LEN = #X_PORTICO
local X_REQUEST_ID = "x-request-id"
local X_REQUEST_ID_LEN = #X_REQUEST_ID
local ORIGIN = "origin" -- sent by browsers on cross-origin calls (CORS)
local ORIGIN_LEN = #ORIGIN
local BYTE_A, BYTE_C, BYTE_O, BYTE_T, BYTE_X = byte("a"), byte("c"), byte("o"), byte("t"), byte("x")

-- what a client's X-Request-Id must not hold to be logged unescaped (see mark_admitted)
local UNSAFE_RID = '[%c"\\]'

-- Returns authz, key, xak, cl, te, portico, rid_unsafe, origin for the current
-- request. They are passed along as locals, never kept in upvalues: the
-- pipeline can yield (reading a body, a Redis round trip) and the worker
-- runs other requests meanwhile. Keys are nginx's lower-cased names; only
-- the first of repeated headers counts.
function _M.read(key_lname, key_len)
    local authz, key, xak, cl, te, portico, rid_unsafe, origin = nil, nil, nil, nil, nil, false, false, nil
    local rid_seen = false
    local k0 = byte(key_lname, 1)
    local r = get_request()
    local n = C.ngx_http_lua_ffi_req_get_headers_count(r, MAX_HEADERS, htrunc)
    if n <= 0 or C.ngx_http_lua_ffi_req_get_headers(r, hbuf, n, 0) ~= 0 then
        return nil, nil, nil, nil, nil, false, false, nil
    end
    for i = 0, n - 1 do
        local h = hbuf[i]
        local len, d = h.key.len, h.key.data
        local c = d[0]
        if len == key_len and c == k0 and C.memcmp(d, key_lname, len) == 0 then
            if not key then
                key = ffi_str(h.value.data, h.value.len)
            end
            if len == X_API_KEY_LEN and not xak and C.memcmp(d, X_API_KEY, X_API_KEY_LEN) == 0 then
                xak = key
            end
        elseif len == X_API_KEY_LEN and c == BYTE_X and C.memcmp(d, X_API_KEY, X_API_KEY_LEN) == 0 then
            xak = xak or ffi_str(h.value.data, h.value.len)
        elseif len == AUTHORIZATION_LEN and c == BYTE_A and C.memcmp(d, AUTHORIZATION, AUTHORIZATION_LEN) == 0 then
            if not authz then
                authz = ffi_str(h.value.data, h.value.len)
            end
        elseif len == CONTENT_LENGTH_LEN and c == BYTE_C and C.memcmp(d, CONTENT_LENGTH, CONTENT_LENGTH_LEN) == 0 then
            cl = cl or ffi_str(h.value.data, h.value.len)
        elseif len == TRANSFER_ENCODING_LEN and c == BYTE_T
            and C.memcmp(d, TRANSFER_ENCODING, TRANSFER_ENCODING_LEN) == 0 then
            te = true
        elseif len >= X_PORTICO_LEN and c == BYTE_X and C.memcmp(d, X_PORTICO, X_PORTICO_LEN) == 0 then
            portico = true
        elseif len == X_REQUEST_ID_LEN and c == BYTE_X and not rid_seen
            and C.memcmp(d, X_REQUEST_ID, X_REQUEST_ID_LEN) == 0 then
            rid_seen = true -- nginx's $http_x_request_id is the first one too
            rid_unsafe = find(ffi_str(h.value.data, h.value.len), UNSAFE_RID) ~= nil
        elseif len == ORIGIN_LEN and c == BYTE_O and not origin and C.memcmp(d, ORIGIN, ORIGIN_LEN) == 0 then
            origin = ffi_str(h.value.data, h.value.len)
        end
    end
    if htrunc[0] ~= 0 then
        portico = true -- more headers than we looked at: let the slow path scan them all
        rid_unsafe = true -- and a request id we did not see is logged escaped
    end
    if key_len == AUTHORIZATION_LEN and key_lname == AUTHORIZATION then
        authz = key -- an API whose key header is Authorization itself
    end
    return authz, key, xak, cl, te, portico, rid_unsafe, origin
end

_M.X_PORTICO, _M.X_PORTICO_LEN, _M.BYTE_X = X_PORTICO, X_PORTICO_LEN, BYTE_X

return _M
