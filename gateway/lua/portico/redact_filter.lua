-- Response redaction (docs/redaction.md, "Responses"): header and body
-- filters of the @portico_redact* locations, which the access phase picks
-- only for APIs whose rules ask for it; other requests never run them.
-- JSON bodies (application/json, application/*+json) are buffered up to
-- MAX_RESPONSE and sent masked at their end (X-Portico-Redaction: applied).
-- A body declared bigger, or compressed, passes as it is
-- (X-Portico-Redaction: skipped); one that turns out bigger while streaming
-- is masked piece by piece from there (portico.redact.mask_stream), counted
-- as redaction_partial in /_portico/status.
local redact = require "portico.redact"
local store = require "portico.store"
local stats = require "portico.stats"

local ngx = ngx
local var = ngx.var
local re_find = ngx.re.find
local type, tonumber = type, tonumber
local byte, sub, lower = string.byte, string.sub, string.lower
local concat = table.concat

local MAX_RESPONSE = 1024 * 1024
local JSON_TYPE_RE = [[^application/(?:[a-z0-9.-]*\+)?json(?:$|[ ;])]]

local _M = { MAX_RESPONSE = MAX_RESPONSE }

-- the body masked; a PCRE failure (the fallback still masked) is counted as redaction_fallback
local function masked(rd, body)
    local out, err = redact.mask_json(rd, body)
    if err then
        stats.inc("redaction_fallback")
    end
    return out
end

function _M.header()
    local meta = store.current()
    local api = meta and meta.by_id[var.pt_api or ""]
    local rd = api and api.redact
    if not rd then
        return
    end
    local h = ngx.header
    local ct = h["Content-Type"]
    if type(ct) ~= "string" or not re_find(lower(ct), JSON_TYPE_RE, "jo") then
        return -- not JSON: passed as it is
    end
    local cl = tonumber(h["Content-Length"])
    local ce = h["Content-Encoding"]
    if (cl and cl > MAX_RESPONSE) or (ce and ce ~= "identity") then
        h["X-Portico-Redaction"] = "skipped"
        stats.inc("redaction_skipped")
        return
    end
    h["Content-Length"] = nil
    h["X-Portico-Redaction"] = "applied"
    ngx.ctx.redact = { rd = rd, buf = {}, n = 0, size = 0 }
end

-- In streaming mode a piece is cut after its last "," (within TAIL bytes of
-- its end) and the rest held for the next one, so a value is never split
-- between two pieces unless it runs past TAIL bytes.
local TAIL = 4096
local COMMA = 44

local function cut(text)
    local n = #text
    for i = n, n > TAIL and n - TAIL or 1, -1 do
        if byte(text, i) == COMMA then
            return sub(text, 1, i), sub(text, i + 1)
        end
    end
    return text, nil
end

local function stream(st, text, eof)
    if st.tail then
        text = st.tail .. text
        st.tail = nil
    end
    if not eof then
        text, st.tail = cut(text)
    end
    return redact.mask_stream(st.rd, text)
end

function _M.body()
    local st = ngx.ctx.redact
    if not st then
        return
    end
    local chunk, eof = ngx.arg[1], ngx.arg[2]
    if st.streaming then
        ngx.arg[1] = stream(st, chunk, eof)
        return
    end
    st.size = st.size + #chunk
    st.n = st.n + 1
    st.buf[st.n] = chunk
    if st.size > MAX_RESPONSE then
        st.streaming = true
        stats.inc("redaction_partial")
        ngx.arg[1] = stream(st, concat(st.buf, "", 1, st.n), eof)
        st.buf = nil
        return
    end
    if not eof then
        ngx.arg[1] = nil
        return
    end
    ngx.arg[1] = masked(st.rd, concat(st.buf, "", 1, st.n))
end

return _M
