-- Generic attack signatures (docs/protection.md): SQL injection, path
-- traversal and script injection patterns in the query, the path and a small
-- request body, for APIs whose "signatures" mode is report or enforce.
-- access.lua calls run() only for those: an API with signatures off costs one
-- nil check. A refusal (403 attack-signature) names the signature and where
-- it matched, never the value; report mode passes the request and writes the
-- finding into the access-log record ("vf") as request validation does.
--
-- Linearity rule for every pattern here (client text, worker CPU): no nested
-- quantifiers, every repetition bounded ({0,10}, never * or +), each branch
-- starting with a literal. The work per start position is then bounded by a
-- constant, so a scan is linear in the input (tests/gateway/
-- test_attack_signatures.py feeds long adversarial strings against a time
-- bound). Patterns are compiled once per worker by PCRE JIT ("jo"), and
-- lua_regex_match_limit in gateway.conf.tmpl is a backstop.
local validate = require "portico.validate"
local pointer_token = require("portico.schema").pointer_token

local ngx = ngx
local var = ngx.var
local req = ngx.req
local re_find = ngx.re.find
local unescape = ngx.unescape_uri
local type, pairs, ipairs = type, pairs, ipairs
local find, sub, lower = string.find, string.sub, string.lower

local MAX_ARGS = 100 -- query (and form) arguments scanned per request: nginx's default

-- { id, pattern }, checked in this order; "joi": JIT, compile once, caseless
local SIGNATURES = {
    { "sql-injection", table.concat({
        [[\bunion\b[\s(]{1,20}(all\s{1,10}|distinct\s{1,10})?select\b]],
        [['\s{0,10}(or|and)\s{1,10}(['"\d(]|true\b|false\b)]],
        [[\b(or|and)\s{1,10}\d{1,10}\s{0,10}=\s{0,10}\d]],
        [['\s{0,10}(--|#|/\*|;)]],
        [[;\s{0,10}(drop|truncate|alter)\s{1,10}(table|database|schema)\b]],
        [[;\s{0,10}(delete\s{1,10}from|insert\s{1,10}into|exec(ute)?\s{1,10}[a-z])]],
        [[\b(pg_sleep|benchmark)\s{0,10}\(|\bwaitfor\s{1,10}delay\b|\bsleep\s{0,10}\(\s{0,10}\d]],
        [[\binformation_schema\b|\bxp_cmdshell\b]],
    }, "|") },
    { "path-traversal", table.concat({
        [[(^|[\\/]|%2f|%5c)(\.|%2e){2}([\\/]|%2f|%5c|$)]],
        [[\betc[\\/](passwd|shadow|group)\b|\bproc[\\/]self[\\/]|\b(win|boot|system)\.ini\b]],
    }, "|") },
    { "script-injection", table.concat({
        [[<\s{0,10}/?\s{0,10}(script|iframe|object|embed)\b]],
        [[\b(javascript|vbscript)\s{0,10}:]],
        [[<[a-z][^>]{0,100}\bon[a-z]{3,20}\s{0,10}=]],
        [[<\s{0,10}(svg|img|body)\b[^>]{0,100}\bsrc\s{0,10}=\s{0,10}['"]?\s{0,10}data:]],
    }, "|") },
}

-- all of them as one pattern: a clean value (nearly every one) costs one search, not one per signature
local ANY = {}
for i, sig in ipairs(SIGNATURES) do
    ANY[i] = "(?:" .. sig[2] .. ")"
end
ANY = table.concat(ANY, "|")

local _M = { SIGNATURES = SIGNATURES }

-- the mode of an API's "signatures" entry as { report = bool }, or nil (off, or garbage)
function _M.compile(v)
    if v == "report" or v == "enforce" then
        return { report = v == "report" }
    end
    return nil
end

-- the first signature `text` matches, or nil (the combined search first, then
-- which signature, on a hit only). A match that fails (PCRE's
-- match limit: never with these patterns, tests/gateway/
-- test_attack_signatures.py) counts as a match: input that could not be
-- scanned is not let through as clean. The error log gets the reason, not the text.
local function match(text)
    local hit, _, any_err = re_find(text, ANY, "joi")
    if not hit and not any_err then
        return nil
    end
    if any_err then -- each signature alone decides, as below
        ngx.log(ngx.ERR, "attack signatures not evaluated together: ", any_err)
    end
    for i = 1, #SIGNATURES do
        local sig = SIGNATURES[i]
        local from, _, err = re_find(text, sig[2], "joi")
        if from then
            return sig[1]
        end
        if err then
            ngx.log(ngx.ERR, "attack signature ", sig[1], " not evaluated: ", err)
            return sig[1]
        end
    end
end
_M.match = match

-- the first (signature, pointer) in a table of decoded arguments (name -> true | text | list)
local function scan_args(args, prefix)
    for name, value in pairs(args) do
        if type(name) == "string" then
            local ptr = prefix .. pointer_token(name)
            local id = match(name)
            if id then
                return id, ptr
            end
            if type(value) == "string" then
                id = match(value)
            elseif type(value) == "table" then
                for _, v in ipairs(value) do
                    if type(v) == "string" then
                        id = match(v)
                        if id then
                            break
                        end
                    end
                end
            end
            if id then
                return id, ptr
            end
        end
    end
end

-- a body that nginx kept in memory (within client_body_buffer_size); a body
-- buffered to a file is not scanned (docs/protection.md)
local function scan_body()
    req.read_body()
    local data = req.get_body_data()
    if not data or data == "" then
        return
    end
    local ct = var.content_type
    if ct and find(lower(ct), "application/x-www-form-urlencoded", 1, true) == 1 then
        local args = req.get_post_args(MAX_ARGS)
        if type(args) == "table" then
            return scan_args(args, "/body/")
        end
    end
    local id = match(data)
    if id then
        return id, "/body"
    end
end

-- the path as the client sent it, URL-decoded once (nginx's $uri has already
-- resolved "../" and decoded what a traversal hides), then the decoded query
-- arguments, then the body
local function scan()
    local ru = var.request_uri or ""
    local q = find(ru, "?", 1, true)
    local id = match(unescape(q and sub(ru, 1, q - 1) or ru))
    if id then
        return id, "/path"
    end
    if q and q < #ru then
        local ptr
        id, ptr = scan_args(req.get_uri_args(MAX_ARGS), "/query/")
        if id then
            return id, ptr
        end
    end
    return scan_body()
end

-- true when the request may go on (nothing matched, or report mode); refuses otherwise
function _M.run(api, s)
    local id, ptr = scan()
    if not id then
        return true
    end
    if api.signatures.report then
        return validate.report("attack-signature", "", id, ptr)
    end
    return validate.refuse(api, s, "attack-signature", { signature = id, pointer = ptr })
end

return _M
