-- Minimal HTTP/1.1 client on ngx.socket.tcp for talking to the platform
-- (token, snapshot, changes, heartbeat). One request per connection.
local url = require "portico.url"

local tcp = ngx.socket.tcp
local match, lower, format, concat = string.match, string.lower, string.format, table.concat
local tonumber = tonumber

local _M = {}

local STREAM_STEP = 1024 * 1024 -- bytes handed to a sink at a time

-- collects a body, or hands it to opts.sink piece by piece (sink(data) -> true | nil, err)
local function collector(sink)
    if not sink then
        local parts = {}
        return function(data)
            parts[#parts + 1] = data
            return true
        end, function()
            return concat(parts)
        end
    end
    return sink, function()
        return ""
    end
end

-- reads exactly n bytes into put, STREAM_STEP at a time
local function read_sized(sock, n, put)
    while n > 0 do
        local data, err = sock:receive(n < STREAM_STEP and n or STREAM_STEP)
        if not data then
            return nil, err
        end
        local ok, perr = put(data)
        if not ok then
            return nil, perr
        end
        n = n - #data
    end
    return true
end

local function read_chunked(sock, put)
    while true do
        local line, err = sock:receive("*l")
        if not line then
            return nil, err
        end
        local size = tonumber(match(line, "^%s*(%x+)"), 16)
        if not size then
            return nil, "bad chunk size"
        end
        if size == 0 then
            repeat
                line, err = sock:receive("*l") -- trailers
            until not line or line == ""
            return true
        end
        local ok, rerr = read_sized(sock, size, put)
        if not ok then
            return nil, rerr
        end
        sock:receive("*l")
    end
end

-- opts: method, headers (table), body, timeout (ms), ssl_verify, sink (a
-- function given a 2xx body piece by piece instead of holding it: big snapshots)
-- returns { status, headers (lowercase names), body } or nil, err; with a sink,
-- body is "" for a 2xx answer
function _M.request(target, opts)
    opts = opts or {}
    local u = url.parse(target)
    if not u then
        return nil, "bad url " .. tostring(target)
    end
    local sock = tcp()
    local t = opts.timeout or 10000
    sock:settimeouts(t, t, t)
    local host = u.host == "localhost" and "127.0.0.1" or u.host
    local ok, err = sock:connect(host, u.port)
    if not ok then
        return nil, "connect " .. u.hostport .. ": " .. tostring(err)
    end
    if u.scheme == "https" then
        ok, err = sock:sslhandshake(nil, u.host, opts.ssl_verify ~= false)
        if not ok then
            sock:close()
            return nil, "tls: " .. tostring(err)
        end
    end
    local body = opts.body or ""
    local req = {
        format("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nUser-Agent: portico-gateway\r\n",
            opts.method or "GET", u.path ~= "" and u.path or "/", u.hostport),
    }
    if body ~= "" or opts.method == "POST" then
        req[#req + 1] = "Content-Length: " .. #body .. "\r\n"
    end
    for k, v in pairs(opts.headers or {}) do
        req[#req + 1] = k .. ": " .. v .. "\r\n"
    end
    req[#req + 1] = "\r\n"
    req[#req + 1] = body
    ok, err = sock:send(req)
    if not ok then
        sock:close()
        return nil, "send: " .. tostring(err)
    end
    local line
    line, err = sock:receive("*l")
    if not line then
        sock:close()
        return nil, "receive: " .. tostring(err)
    end
    local status = tonumber(match(line, "^HTTP/%d%.%d (%d%d%d)"))
    if not status then
        sock:close()
        return nil, "bad status line"
    end
    local headers = {}
    while true do
        line, err = sock:receive("*l")
        if not line then
            sock:close()
            return nil, "receive headers: " .. tostring(err)
        end
        if line == "" then
            break
        end
        local k, v = match(line, "^([^:]+):%s*(.-)%s*$")
        if k then
            headers[lower(k)] = v
        end
    end
    local put, body_of = collector(status >= 200 and status < 300 and opts.sink or nil)
    local done
    if opts.method == "HEAD" or status == 204 or status == 304 then
        done = true
    elseif headers["transfer-encoding"] and lower(headers["transfer-encoding"]):find("chunked", 1, true) then
        done, err = read_chunked(sock, put)
    elseif headers["content-length"] then
        local n = tonumber(headers["content-length"])
        if n then
            done, err = read_sized(sock, n, put)
        else
            err = "bad content-length"
        end
    else
        repeat -- to the end of the connection
            local data, rerr = sock:receiveany(STREAM_STEP)
            if data then
                done, err = put(data)
            elseif rerr == "closed" then
                done, err = true, nil
                break
            else
                done, err = nil, rerr
            end
        until not done
    end
    sock:close()
    if not done then
        return nil, "receive body: " .. tostring(err)
    end
    return { status = status, headers = headers, body = body_of() }
end

return _M
