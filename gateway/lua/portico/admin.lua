-- Admin listener (loopback by default): readiness, status, pushed config deltas
-- and the access-log cursor. Everything except ready/status must be signed:
--   X-Portico-Timestamp: <unix seconds>
--   X-Portico-Nonce: <16-64 random characters, new for every request>
--   X-Portico-Signature: hex(HMAC-SHA256(push_secret,
--                            ts "\n" nonce "\n" METHOD "\n" request-uri "\n" body))
-- Timestamps more than 60 s away are refused and each nonce is accepted once
-- (remembered for 180 s, longer than the freshness window). The nonce lets
-- the platform repeat an identical request (e.g. a log poll) within a second.
local cjson = require "cjson.safe"
local crypto = require "portico.crypto"
local deltas = require "portico.deltas"
local journal = require "portico.journal"
local persist = require "portico.persist"
local problem = require "portico.problem"
local settings = require "portico.settings"
local slots = require "portico.slots"
local spool = require "portico.spool"
local stats = require "portico.stats"

local ngx = ngx
local var = ngx.var
local state = ngx.shared.portico_state
local lower, sub, concat = string.lower, string.sub, table.concat

local _M = {}

local MAX_SKEW = 60

local function json(status, doc)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Cache-Control"] = "no-store"
    ngx.print(type(doc) == "string" and doc or cjson.encode(doc))
    return ngx.exit(status)
end

local function read_body()
    ngx.req.read_body()
    local body = ngx.req.get_body_data()
    if body then
        return body
    end
    local file = ngx.req.get_body_file()
    if not file then
        return ""
    end
    local f = io.open(file, "rb")
    if not f then
        return ""
    end
    body = f:read("*a")
    f:close()
    return body
end

local function verify(method, body)
    local ts, sig, nonce = var.http_x_portico_timestamp, var.http_x_portico_signature, var.http_x_portico_nonce
    if not ts or not sig or not nonce or not settings.push_secret then
        return false, "missing signature"
    end
    if #nonce < 16 or #nonce > 64 then
        return false, "nonce must be 16 to 64 characters"
    end
    local t = tonumber(ts)
    if not t or math.abs(ngx.time() - t) > MAX_SKEW then
        return false, "stale or malformed timestamp"
    end
    local canonical = ts .. "\n" .. nonce .. "\n" .. method .. "\n" .. var.request_uri .. "\n" .. body
    local expected = crypto.to_hex(crypto.hmac_sha256(settings.push_secret, canonical))
    if not crypto.equal(expected, lower(sig)) then
        return false, "bad signature"
    end
    if not state:add("nonce:" .. nonce, true, 3 * MAX_SKEW) then
        return false, "replayed request"
    end
    return true
end

function _M.ready()
    local v = slots.version()
    if not v then
        return problem.send("not-ready")
    end
    local behind = state:get("catch_up")
    if behind then -- its journal stopped early: changes may be missing until fetched (portico.sync)
        return problem.send("not-ready", { version = v, reason = "catching up with the platform: " .. behind })
    end
    return json(200, { ready = true, version = v })
end

-- what needs an operator: keys the dict could not hold, state not persisted, a journal to catch up on
local function durability()
    local err, at = persist.error()
    return {
        persist_error = err or cjson.null,
        persist_error_at = at or cjson.null,
        catch_up = state:get("catch_up") or cjson.null,
        journal_entries = state:get(journal.ENTRIES) or 0,
        journal_bytes = state:get(journal.BYTES) or 0,
    }
end

local function status()
    local counters, denied = {}, {}
    for k, v in pairs(stats.snapshot()) do
        if sub(k, 1, 7) == "denied." then
            denied[sub(k, 8)] = v
        else
            counters[k] = v
        end
    end
    counters.denied = denied
    counters.requests = counters.requests or 0
    counters.log_records_dropped = counters.log_records_dropped or 0
    local cfg = slots.status()
    return json(200, {
        name = settings.name,
        ready = cfg.version ~= cjson.null and not state:get("catch_up"),
        config = cfg,
        state = durability(),
        counters = counters,
        log = spool.status(),
        workers = ngx.worker.count(),
    })
end

local function push(body)
    local doc = cjson.decode(body)
    if type(doc) ~= "table" then
        return problem.send("bad-request", { reason = "body is not JSON" })
    end
    local res, v, detail = deltas.apply(doc)
    if not res then
        return problem.send("bad-request", { reason = tostring(v) })
    end
    if res == "gap" or res == "failed" then
        -- nothing of it was applied; the gateway pulls the full snapshot
        return json(202, { status = "resync", version = v or cjson.null, reason = detail })
    end
    if res == "applied" then
        -- durable: fsync'ed in the journal before this answer (docs/gateway-protocol.md §3)
        return json(200, { status = res, version = v, durable = detail == nil })
    end
    return json(200, { status = res, version = v })
end

local function logs()
    local args = ngx.req.get_uri_args()
    local after = tonumber(args.after) or 0
    local limit = math.min(tonumber(args.limit) or 100, 1000)
    local batches, last = spool.read(after, limit, 8 * 1024 * 1024)
    return json(200, '{"gateway":' .. cjson.encode(settings.name) .. ',"batches":[' .. concat(batches, ",")
        .. '],"next_after":' .. last .. "}")
end

local function ack(body)
    local doc = cjson.decode(body)
    local seq = type(doc) == "table" and tonumber(doc.sequence)
    if not seq then
        return problem.send("bad-request", { reason = "expected {\"sequence\": N}" })
    end
    local acked, err = spool.ack(seq)
    if not acked then
        return json(503, { error = err })
    end
    return json(200, { acked = acked })
end

function _M.handle()
    local uri, method = var.uri, ngx.req.get_method()
    if uri == "/_portico/ready" then
        return _M.ready()
    elseif uri == "/_portico/status" and method == "GET" then
        return status()
    end
    local body = read_body()
    local ok, why = verify(method, body)
    if not ok then
        return problem.send("admin-unauthorized", { reason = why })
    end
    if uri == "/_portico/config" and method == "POST" then
        return push(body)
    elseif uri == "/_portico/logs" and method == "GET" then
        return logs()
    elseif uri == "/_portico/logs/ack" and method == "POST" then
        return ack(body)
    end
    return problem.send("admin-not-found")
end

return _M
