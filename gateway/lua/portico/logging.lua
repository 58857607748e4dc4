-- Access log: one compact JSON object per request, buffered per worker and
-- written to the spool by a timer every log_flush_interval (default 0.2 s) and
-- when the worker exits (reload/stop). The hot path is kept small: the access
-- phase leaves the escaped path/request id and the identity fragment in
-- ngx.ctx, and nginx renders the numeric tail ($portico_log_tail) in C, so a
-- record costs one variable read and one concatenation. Strings that may come
-- from clients are escaped so a quote, newline or control character cannot
-- forge a record. Fields: see docs/gateway-protocol.md.
local spool = require "portico.spool"
local stats = require "portico.stats"
local settings = require "portico.settings"

local ngx = ngx
local var = ngx.var
local find, sub, gsub, format, char = string.find, string.sub, string.gsub, string.format, string.char
local concat = table.concat
local re_find = ngx.re.find
local start_time, get_method = ngx.req.start_time, ngx.req.get_method

local _M = {}

local ESC = {}
for i = 0, 255 do
    local c = char(i)
    if i < 32 or i == 127 or i >= 128 then
        ESC[c] = format("\\u%04x", i)
    end
end
ESC['"'] = '\\"'
ESC["\\"] = "\\\\"
local UNSAFE = '[%c"\\\128-\255]'
local UNSAFE_RE = [=[["\\\x00-\x1f\x7f-\xff]]=] -- same set; ngx.re is JIT-friendly, Lua patterns are not

local function esc(s)
    if not re_find(s, UNSAFE_RE, "jo") then
        return s
    end
    return (gsub(s, UNSAFE, ESC))
end
_M.escape = esc

local buf, n = {}, 0
local carry, carry_count = nil, 0
local MAX_BUFFER = 200000
local EARLY_FLUSH = 20000
local early_pending = false

local flush

function _M.log()
    stats.inc("requests")
    if n >= MAX_BUFFER then
        stats.inc("log_records_dropped")
        return
    end
    local ctx = ngx.ctx
    local path, rid, rec = ctx.path, ctx.rid, ctx.rec
    if not path then
        -- never reached the access phase, or ngx.ctx was reset by an error_page redirect
        local ru = var.request_uri or ""
        local q = find(ru, "?", 1, true)
        path = esc(q and sub(ru, 1, q - 1) or ru)
        rid = var.portico_rid
        rid = esc((rid and rid ~= "") and rid or var.request_id)
        rec = var.portico_rec
    end
    local line = '{"t":' .. start_time() .. ',"id":"' .. rid .. '","m":"' .. get_method() .. '","p":"' .. path
        .. '","s":' .. ngx.status .. "," .. var.portico_log_tail
    if rec and rec ~= "" then
        line = line .. "," .. rec
    end
    n = n + 1
    buf[n] = line .. "}"
    if n >= EARLY_FLUSH and not early_pending then
        early_pending = true
        ngx.timer.at(0, flush)
    end
end

flush = function(premature)
    early_pending = false
    stats.flush()
    if n == 0 and not carry then
        return
    end
    local records, count = nil, n + carry_count
    if n > 0 then
        records = concat(buf, ",", 1, n)
        if carry then
            records = carry .. "," .. records
        end
    else
        records = carry
    end
    buf, n = {}, 0
    carry, carry_count = nil, 0
    local seq, err = spool.append(records, count, not premature)
    if not seq then
        if premature then
            stats.inc("log_records_dropped", count)
            ngx.log(ngx.ERR, "access log: ", count, " records lost at exit: ", err)
        else
            carry, carry_count = records, count -- retry on the next tick
            ngx.log(ngx.WARN, "access log flush deferred: ", err)
        end
    end
    if premature then
        stats.flush()
    end
end
_M.flush = flush

function _M.start()
    assert(ngx.timer.every(settings.log_flush_interval or 0.2, flush))
end

return _M
