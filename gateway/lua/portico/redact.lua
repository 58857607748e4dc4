-- Redaction (docs/redaction.md): an API's named fields and detector hits
-- (payment cards with a Luhn check, US SSN, UK NINO, email addresses) never
-- reach the access log or nginx's error log, and, for APIs that opt in, are
-- masked in JSON responses. The same patterns and masking rule as the
-- platform's redaction/detectors.py (tests/redaction runs one table of cases
-- on both). Every pattern is linear (bounded repeats over disjoint classes,
-- fixed-width lookarounds) and JIT-compiled once ("jo").
--
-- Cost: an API without rules has api.redact == nil and access.lua tests just
-- that; this module only runs for APIs with rules.
local ngx = ngx
local var = ngx.var
local re_gsub, re_find = ngx.re.gsub, ngx.re.find
local unescape = ngx.unescape_uri
local type, ipairs, pairs = type, ipairs, pairs
local byte, sub, find, lower, gsub, format, rep = string.byte, string.sub, string.find, string.lower,
    string.gsub, string.format, string.rep
local concat = table.concat

local REDACTED, SSN_MASK, NINO_MASK, EMAIL_MASK = "[redacted]", "[ssn]", "[nino]", "[email]"
local CARD_KEEP = 4

local CARD_RE = [[(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])]]
local SSN_RE = [[(?<![0-9])([0-9]{3})-([0-9]{2})-([0-9]{4})(?![0-9])]]
local NINO_RE = [[(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Za-ceghj-pr-tw-z][A-CEGHJ-NPR-TW-Za-ceghj-npr-tw-z]) ?[0-9]{2} ?]]
    .. [[[0-9]{2} ?[0-9]{2} ?[A-Da-d](?![A-Za-z0-9])]]
local EMAIL_RE = [[[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}]]
-- a JSON string, unrolled with possessive repeats: linear, and no PCRE stack
-- per character (a long string would exhaust the JIT stack otherwise)
local STRING_RE = [["[^"\\]*+(?:\\.[^"\\]*+)*+"]]
local current -- the rules string_cb masks with (set just before each gsub)
local NINO_BAD = { BG = true, GB = true, KN = true, NK = true, NT = true, TN = true, ZZ = true }
-- a cheap first look: no digit run of 9+ (with separators), no "@" and no letter-digit pair means no hit
local MAYBE_RE = [[[0-9][0-9 -]{8}|@|[A-Za-z] ?[0-9]{2}]]
-- the same over a raw URI without "%" (where a space may be "+")
local QUICK_RE = [[[0-9][0-9 +-]{8}|@|[A-Za-z][ +]?[0-9]{2}]]

local _M = {}

local function luhn(digits)
    local total, n = 0, #digits
    for i = n, 1, -1 do
        local d = byte(digits, i) - 48
        if (n - i) % 2 == 1 then
            d = d * 2
            if d > 9 then
                d = d - 9
            end
        end
        total = total + d
    end
    return total % 10 == 0
end
_M.luhn = luhn

local function card_cb(m)
    local digits = gsub(m[0], "[ -]", "")
    if not luhn(digits) then
        return m[0]
    end
    return rep("*", #digits - CARD_KEEP) .. sub(digits, -CARD_KEEP)
end

local function ssn_cb(m)
    local area, group, serial = m[1], m[2], m[3]
    if area == "000" or area == "666" or byte(area, 1) == 57 or group == "00" or serial == "0000" then
        return m[0]
    end
    return SSN_MASK
end

local function nino_cb(m)
    if NINO_BAD[m[1]:upper()] then
        return m[0]
    end
    return NINO_MASK
end

-- `s` with every enabled detector's hits masked
local function mask_text(rd, s)
    if not re_find(s, MAYBE_RE, "jo") then
        return s
    end
    if rd.cards then
        s = re_gsub(s, CARD_RE, card_cb, "jo")
    end
    if rd.ids then
        s = re_gsub(s, SSN_RE, ssn_cb, "jo")
        s = re_gsub(s, NINO_RE, nino_cb, "jo")
    end
    if rd.emails then
        s = re_gsub(s, EMAIL_RE, EMAIL_MASK, "jo")
    end
    return s
end
_M.mask_text = mask_text

local function escape(s)
    return (gsub(s, "[^%w%-%._~!$'()*,;:@%[%]]", function(c)
        return format("%%%02X", byte(c))
    end))
end

local function decoded(raw)
    if find(raw, "%", 1, true) then
        return unescape(raw)
    end
    return raw
end

-- a raw path or query value masked; raw itself when nothing was found
local function mask_value(rd, raw)
    local d = decoded(raw)
    local m = mask_text(rd, d)
    if m == d then
        return raw
    end
    return escape(m)
end

-- the path with detector hits masked per segment and the segment after a named one redacted
local function mask_path(rd, path)
    local out, n, prev, changed = {}, 0, nil, false
    local i, len = 1, #path
    while i <= len + 1 do
        local j = find(path, "/", i, true) or len + 1
        local seg = sub(path, i, j - 1)
        local m = seg
        if seg ~= "" then
            if prev and rd.names[prev] then
                m = REDACTED
            elseif rd.detects then
                m = mask_value(rd, seg)
            end
            prev = lower(decoded(seg))
        end
        changed = changed or m ~= seg
        n = n + 1
        out[n] = m
        i = j + 1
    end
    return changed and concat(out, "/", 1, n) or path
end

-- whether the query holds a named parameter or a detector hit
local function query_hit(rd, q)
    for pair in q:gmatch("[^&]+") do
        local eq = find(pair, "=", 1, true)
        if eq and eq < #pair then
            local name = lower(decoded(gsub(sub(pair, 1, eq - 1), "+", " ")))
            if rd.names[name] then
                return true
            end
            if rd.detects then
                local v = decoded(gsub(sub(pair, eq + 1), "+", " "))
                if mask_text(rd, v) ~= v then
                    return true
                end
            end
        end
    end
    return false
end

-- whether a raw URI may hold anything: one regex for detector candidates and
-- the field names; any percent-encoding gets the full look (it may hide either)
local function maybe(rd, u)
    return find(u, "%", 1, true) or re_find(u, rd.quick_re, "joi")
end

-- the URI's path masked, or nil when nothing was found in it; and whether
-- anything in the URI is to hide
local function scan(rd, u)
    local q = find(u, "?", 1, true)
    local path = q and sub(u, 1, q - 1) or u
    local masked = mask_path(rd, path)
    if masked ~= path then
        return masked, true
    end
    return nil, q ~= nil and query_hit(rd, sub(u, q + 1))
end

-- Called by the access phase for APIs with rules: puts the masked path in
-- $pt_p (the access log's path) when it changed, and says whether the
-- request line or the Referer holds anything to hide (then nginx's error
-- lines for it must not be written: see @portico_query_key). The query is
-- never logged.
function _M.request(rd, ru)
    local hit = false
    if maybe(rd, ru) then
        local masked
        masked, hit = scan(rd, ru)
        if masked then
            var.pt_p = masked
        end
    end
    if not hit then
        local ref = var.http_referer -- error lines carry it too
        if ref and maybe(rd, ref) then
            local _
            _, hit = scan(rd, ref)
        end
    end
    return hit
end

-- a piece of a JSON text too big to buffer: named members as in mask_json,
-- detectors over all of it (a piece may start inside a string, so strings
-- cannot be told apart; a card number outside a string is masked unquoted)
function _M.mask_stream(rd, text)
    local out = text
    if rd.fields_re then
        out = re_gsub(out, rd.fields_re, '$1"' .. REDACTED .. '"', "joi") or out
    end
    return mask_text(rd, out)
end

-- response mode: the location with the filters (portico.redact_filter), and
-- no error lines, as in @portico_query_key
function _M.location(api, up)
    var.pt_api = api.id_s -- how the filters find the API
    if up.scheme ~= "https" then
        return "@portico_redact"
    end
    var.pt_uhost = up.host
    return api.tls_verify and "@portico_redact_https" or "@portico_redact_https_unverified"
end

---------------------------------------------------------------------------
-- compile (per worker, on a config change)
---------------------------------------------------------------------------

-- an API's `redaction` entry as requests use it, or nil when it asks for nothing
function _M.compile(e)
    if type(e) ~= "table" then
        return nil
    end
    local names, any = {}, false
    if type(e.names) == "table" then
        for _, n in ipairs(e.names) do
            if type(n) == "string" and n ~= "" then
                names[lower(n)] = true
                any = true
            end
        end
    end
    local rd = {
        names = names,
        cards = e.cards == true,
        ids = e.national_ids == true,
        emails = e.emails == true,
        responses = e.responses == true,
    }
    rd.detects = rd.cards or rd.ids or rd.emails
    if not (any or rd.detects) then
        return nil
    end
    local quick = {}
    if rd.detects then
        quick[1] = QUICK_RE
    end
    for n in pairs(names) do
        quick[#quick + 1] = (gsub(n, "[^%w]", "\\%0"))
    end
    rd.quick_re = concat(quick, "|")
    if any and rd.responses then
        -- a named member and its scalar value in JSON text: "name" : "string" | number | literal
        local alts = {}
        for n in pairs(names) do
            alts[#alts + 1] = (gsub(n, "[^%w]", "\\%0"))
        end
        rd.fields_re = [[("(?:]] .. concat(alts, "|") .. [[)"\s*+:\s*+)(?:]] .. STRING_RE
            .. [[|-?[0-9][0-9.eE+-]*+|true|false|null)]]
    end
    return rd
end

local function string_cb(m)
    return mask_text(current, m[0])
end

-- A JSON text with named members' scalar values redacted and detector hits
-- masked inside its strings (numbers are left alone: a card number sent as a
-- JSON number is masked only through a named field). Should PCRE fail (a
-- limit), the detectors run over the whole text instead: a card number
-- outside a string may then break the JSON, nothing is let through.
function _M.mask_json(rd, body)
    local out, _, err = body, 0, nil
    if rd.fields_re then
        out, _, err = re_gsub(out, rd.fields_re, '$1"' .. REDACTED .. '"', "joi")
    end
    if out and rd.detects then
        current = rd
        out, _, err = re_gsub(out, STRING_RE, string_cb, "jo")
    end
    if not out then
        return mask_text(rd, body), err -- the caller counts it: these locations write no error lines
    end
    return out, nil
end

return _M
