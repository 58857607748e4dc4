-- Access log: one compact JSON object per request, buffered per worker and
-- written to the spool by a timer every log_flush_interval (default 0.5 s) and
-- when the worker exits (reload/stop). Building a record is string
-- concatenation only; strings that may come from clients are escaped so a
-- quote, newline or control character cannot forge a record.
-- Record: t (start, epoch s), id, m, p (path, no query), s, rt/ut (total and
-- upstream ms), bi/bo (bytes in/out), ip, and when known api, key (prefix),
-- app, org, sub, plan, lim (ok|rate|quota|blocked).
local spool = require "portico.spool"
local stats = require "portico.stats"
local settings = require "portico.settings"

local ngx = ngx
local var = ngx.var
local find, sub, gsub, match, format, char = string.find, string.sub, string.gsub, string.match, string.format,
    string.char
local tonumber, floor, concat = tonumber, math.floor, table.concat
local start_time, now = ngx.req.start_time, ngx.now

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

local function esc(s)
    if not find(s, UNSAFE) then
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

local function ms(v)
    local x = tonumber(v)
    if not x and v then
        x = tonumber(match(v, "^[%d.]+")) -- "0.001, 0.002" after retries
    end
    return x and floor(x * 1000 + 0.5) or "null"
end

local flush

function _M.log()
    stats.inc("requests")
    if n >= MAX_BUFFER then
        stats.inc("log_records_dropped")
        return
    end
    local ru = var.request_uri or ""
    local q = find(ru, "?", 1, true)
    local path = q and sub(ru, 1, q - 1) or ru
    local st = start_time()
    local rec = var.portico_rec
    local line = '{"t":' .. st .. ',"id":"' .. esc(var.http_x_request_id or var.request_id)
        .. '","m":"' .. esc(var.request_method) .. '","p":"' .. esc(path)
        .. '","s":' .. ngx.status .. ',"rt":' .. floor((now() - st) * 1000 + 0.5)
        .. ',"ut":' .. ms(var.upstream_response_time) .. ',"bi":' .. (var.request_length or 0)
        .. ',"bo":' .. (var.bytes_sent or 0) .. ',"ip":"' .. esc(var.remote_addr or "") .. '"'
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
    assert(ngx.timer.every(settings.log_flush_interval or 0.5, flush))
end

return _M
