-- Configuration sync, run by worker 0 only (this nginx has no privileged agent).
-- Start: persisted snapshot, then --snapshot-file, then the platform. Then poll
-- deltas every poll_interval, honour "need_full" (set by a push that revealed a
-- version gap) within ~100 ms, and send a best-effort heartbeat.
local cjson = require "cjson.safe"
local deltas = require "portico.deltas"
local httpc = require "portico.httpc"
local slots = require "portico.slots"
local snapshot = require "portico.snapshot"
local stats = require "portico.stats"
local settings = require "portico.settings"

local state = ngx.shared.portico_state
local log, WARN, INFO = ngx.log, ngx.WARN, ngx.INFO
local now, sleep = ngx.now, ngx.sleep

local _M = {}

local token, token_expiry = nil, 0
local errors = {} -- recent sync errors, reported in the heartbeat

local function note_error(msg)
    log(WARN, "config sync: ", msg)
    errors[#errors + 1] = { at = now(), error = msg }
    if #errors > 10 then
        table.remove(errors, 1)
    end
    stats.inc("sync_errors")
end

local function base_url()
    -- <base>/config -> <base>; changes and heartbeat live beside it
    return (settings.config_url:gsub("/config/?$", ""))
end

local function get_token()
    if token and now() < token_expiry then
        return token
    end
    local id, secret = settings.client_id or "", settings.client_secret or ""
    local res, err = httpc.request(settings.token_url, {
        method = "POST",
        headers = {
            ["Content-Type"] = "application/x-www-form-urlencoded",
            ["Authorization"] = "Basic " .. ngx.encode_base64(ngx.escape_uri(id) .. ":" .. ngx.escape_uri(secret)),
            ["Accept"] = "application/json",
        },
        body = "grant_type=client_credentials&scope=gateway",
    })
    if not res then
        return nil, "token: " .. err
    end
    local doc = cjson.decode(res.body)
    if res.status ~= 200 or type(doc) ~= "table" or type(doc.access_token) ~= "string" then
        return nil, "token endpoint answered " .. res.status
    end
    token = doc.access_token
    token_expiry = now() + math.max((tonumber(doc.expires_in) or 300) - 30, 5)
    return token
end

-- GET with the bearer token, refreshing it once on 401
local function authed_get(url, extra)
    for _ = 1, 2 do
        local t, err = get_token()
        if not t then
            return nil, err
        end
        local headers = { Authorization = "Bearer " .. t, Accept = "application/json" }
        for k, v in pairs(extra or {}) do
            headers[k] = v
        end
        local res, rerr = httpc.request(url, { headers = headers, timeout = settings.fetch_timeout_ms })
        if not res then
            return nil, rerr
        end
        if res.status ~= 401 then
            return res
        end
        token = nil
    end
    return nil, "platform refused the gateway token"
end

local function full_pull()
    local cur = slots.version()
    local res, err = authed_get(settings.config_url, cur and { ["If-None-Match"] = '"' .. cur .. '"' } or nil)
    if not res then
        return nil, err
    end
    if res.status == 304 then
        return true
    end
    if res.status ~= 200 then
        return nil, "config answered " .. res.status
    end
    local ok, lerr = snapshot.load(res.body, { persist = true })
    if ok == nil then
        return nil, "snapshot rejected: " .. tostring(lerr)
    end
    log(INFO, "config sync: snapshot applied, version ", slots.version())
    return true
end

local function poll_changes()
    local cur = slots.version()
    if not cur then
        return full_pull()
    end
    local res, err = authed_get(base_url() .. "/changes?after=" .. cur)
    if not res then
        return nil, err
    end
    if res.status == 410 then
        return full_pull()
    end
    if res.status == 204 or res.status == 304 then
        return true
    end
    if res.status ~= 200 then
        return nil, "changes answered " .. res.status
    end
    local doc = cjson.decode(res.body)
    if type(doc) ~= "table" then
        return nil, "changes: malformed JSON"
    end
    if type(doc.changes) == "table" and #doc.changes == 0 then
        return true
    end
    local status, detail = deltas.apply(doc)
    if status == "gap" then
        return full_pull()
    elseif not status then
        return nil, "changes rejected: " .. tostring(detail)
    end
    return true
end

local function heartbeat()
    local t = get_token()
    if not t then
        return
    end
    ngx.update_time()
    local body = cjson.encode({
        name = settings.name,
        version = slots.version() or cjson.null,
        counters = stats.snapshot(),
        errors = #errors > 0 and errors or nil,
        time = now(), -- the platform measures this gateway's clock offset from it
    })
    if #errors == 0 then
        body = body:sub(1, -2) .. ',"errors":[]}' -- lua-cjson 2.1 encodes {} as an object
    end
    httpc.request(base_url() .. "/heartbeat", {
        method = "POST",
        headers = { Authorization = "Bearer " .. t, ["Content-Type"] = "application/json" },
        body = body,
        timeout = 3000,
    })
end

local function bootstrap()
    if not slots.version() then
        local ok, err = snapshot.load_persisted()
        if ok then
            log(INFO, "config sync: serving persisted snapshot, version ", slots.version())
        elseif ok == nil then
            note_error("persisted snapshot unusable: " .. tostring(err))
        end
    end
    if settings.snapshot_file then
        local f = io.open(settings.snapshot_file, "rb")
        if f then
            local text = f:read("*a")
            f:close()
            local ok, err = snapshot.load(text, { persist = true })
            if ok == nil then
                note_error("snapshot file rejected: " .. tostring(err))
            end
        else
            note_error("snapshot file unreadable: " .. settings.snapshot_file)
        end
    end
end

local function run(fn)
    local ok, res, err = pcall(fn)
    if not ok then
        note_error(tostring(res))
    elseif not res then
        note_error(tostring(err))
    end
    return ok and res
end

local function loop(premature)
    if premature then
        return
    end
    run(function()
        bootstrap()
        return true
    end)
    local next_poll, next_beat = 0, 0
    local interval = settings.poll_interval or 5
    while not ngx.worker.exiting() do
        ngx.update_time()
        if not settings.config_url and state:get("need_full") then
            -- no platform to pull from: a version gap re-reads the snapshot file
            state:delete("need_full")
            run(function()
                bootstrap()
                return true
            end)
        end
        if settings.config_url then
            if state:get("need_full") then
                state:delete("need_full")
                run(full_pull)
                next_poll = now() + interval
            elseif now() >= next_poll then
                run(poll_changes)
                next_poll = now() + interval
            end
            if now() >= next_beat then
                pcall(heartbeat)
                next_beat = now() + (settings.heartbeat_interval or 30)
            end
        end
        sleep(0.1)
    end
end

function _M.start()
    if ngx.worker.id() == 0 then
        assert(ngx.timer.at(0, loop))
    end
end

return _M
