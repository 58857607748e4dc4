-- Configuration sync, run by worker 0 only (this nginx has no privileged agent).
-- Start: persisted snapshot, then --snapshot-file, then the platform. Then poll
-- deltas every poll_interval, honour "need_full" (set by a push that revealed a
-- version gap) within ~100 ms, and send a best-effort heartbeat.
local cjson = require "cjson.safe"
local deltas = require "portico.deltas"
local httpc = require "portico.httpc"
local journal = require "portico.journal"
local persist = require "portico.persist"
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

-- GET with the bearer token, refreshing it once on 401; `sink`: see portico.httpc
local function authed_get(url, extra, sink)
    for _ = 1, 2 do
        local t, err = get_token()
        if not t then
            return nil, err
        end
        local headers = { Authorization = "Bearer " .. t, Accept = "application/json" }
        for k, v in pairs(extra or {}) do
            headers[k] = v
        end
        local res, rerr = httpc.request(url, { headers = headers, timeout = settings.fetch_timeout_ms, sink = sink })
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

-- a sink writing a download to `path`, and a function closing it that says
-- whether the file is whole (true, or nil, err when a write or the close failed)
local function file_sink(path)
    local f, err = io.open(path, "wb")
    if not f then
        return nil, nil, err
    end
    local failed
    return function(data)
        local ok, werr = f:write(data)
        if not ok then
            failed = failed or ("write " .. path .. ": " .. tostring(werr))
            return nil, failed
        end
        return true
    end, function()
        local closed, cerr = f:close() -- a full disk often shows only here
        if failed or not closed then
            return nil, failed or ("write " .. path .. ": " .. tostring(cerr))
        end
        return true
    end
end

-- `compact`: also when unchanged (no If-None-Match), to persist the snapshot
-- of the version already applied, which empties the journal. The snapshot is
-- streamed to disk and loaded from there a slice at a time; when it cannot be
-- written (a full disk) it is fetched again and held in memory, and the
-- failure to persist it is reported.
local function full_pull(compact)
    local cur = slots.version()
    local conditional = cur and not compact
    local extra = conditional and { ["If-None-Match"] = '"' .. cur .. '"' } or nil
    local part = persist.download_path()
    local sink, close, serr = file_sink(part)
    local res, err, unwritable
    if sink then
        res, err = authed_get(settings.config_url, extra, sink)
        local whole, werr = close()
        if not whole then
            unwritable, res = werr, nil
        elseif not res then
            os.remove(part)
            return nil, err -- the platform or the network, not the disk
        end
    else
        unwritable = "open " .. part .. ": " .. tostring(serr)
    end
    if unwritable then -- the disk: fetched again into memory, and the failure reported
        os.remove(part)
        persist.note(unwritable)
        res, err = authed_get(settings.config_url, extra)
    end
    if not res then
        return nil, err
    end
    if res.status ~= 200 then
        os.remove(part)
        if res.status == 304 then
            return true, "current"
        end
        return nil, "config answered " .. res.status
    end
    local ok, lerr
    if unwritable then
        ok, lerr = snapshot.load(res.body, { persist = true, persist_current = compact })
    else
        ok, lerr = snapshot.load_file(part, { keep = "adopt", persist_current = compact })
    end
    if ok == nil then
        return nil, "snapshot rejected: " .. tostring(lerr)
    end
    if ok == false then
        return true
    end
    log(INFO, "config sync: snapshot applied, version ", slots.version())
    return true, "current"
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
        return true, "current"
    end
    local status, _, detail = deltas.apply(doc)
    if status == "gap" or status == "failed" then
        state:delete("need_full") -- pulled right now
        if status == "failed" then
            note_error("changes rejected, pulling the full snapshot: " .. tostring(detail))
        end
        return full_pull()
    elseif not status then
        return nil, "changes rejected: " .. tostring(detail)
    end
    return true
end

-- after a journal replay that stopped early: the changes since, before the gateway is ready
local function catch_up()
    for _ = 1, 100 do
        local ok, where = poll_changes()
        if not ok then
            return nil, where
        end
        if where == "current" then
            state:delete("catch_up")
            log(INFO, "config sync: caught up after the journal, version ", slots.version())
            return true
        end
    end
    return true
end

-- the journal past its threshold, missing a delta whose line could not be
-- written, or the last snapshot not persisted (a full disk): all repaired by
-- persisting the platform's snapshot of the version applied
local function journal_needs_compaction()
    return state:get("journal_gap") or persist.error()
        or (state:get(journal.ENTRIES) or 0) >= (settings.journal_max_entries or 1000)
        or (state:get(journal.BYTES) or 0) >= (settings.journal_max_bytes or 8 * 1024 * 1024)
end

-- what needs an operator, for the heartbeat (the same as in /_portico/status)
local function alarms()
    local out = {}
    local not_held = slots.not_held()
    if not_held > 0 then
        out.keys_not_held = not_held
    end
    local err, at = persist.error()
    if err then
        out.persist_error, out.persist_error_at = err, at
    end
    out.catch_up = state:get("catch_up")
    return out
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
        alarms = alarms(),
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
        local ok, err = snapshot.load_file(settings.snapshot_file, { keep = "copy" })
        if ok == nil then
            note_error("snapshot file rejected: " .. tostring(err))
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
    local next_poll, next_beat, next_compact = 0, 0, 0
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
        if not settings.config_url and state:get("catch_up") then
            note_error("config journal replay stopped early and there is no platform to catch up from: "
                .. tostring(state:get("catch_up")))
            state:delete("catch_up")
        end
        if settings.config_url then
            if state:get("need_full") then
                state:delete("need_full")
                run(full_pull)
                next_poll = now() + interval
            elseif state:get("catch_up") and now() >= next_poll then
                run(catch_up)
                next_poll = now() + (state:get("catch_up") and 1 or interval)
            elseif now() >= next_poll then
                run(poll_changes)
                next_poll = now() + interval
            end
            if now() >= next_compact and journal_needs_compaction() then
                -- retried at most every 10 polls (30 s at most), so a full disk is not hammered
                next_compact = now() + math.min(10 * interval, 30)
                run(function()
                    return full_pull(true)
                end)
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
