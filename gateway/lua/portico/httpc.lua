-- Minimal HTTP/1.1 client on ngx.socket.tcp for talking to the platform
-- (token, snapshot, changes, heartbeat). One request per connection.
local url = require "portico.url"

local tcp = ngx.socket.tcp
local match, lower, format, concat = string.match, string.lower, string.format, table.concat
local tonumber = tonumber

local _M = {}

local function read_chunked(sock)
    local parts = {}
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
            return concat(parts)
        end
        local data
        data, err = sock:receive(size)
        if not data then
            return nil, err
        end
        parts[#parts + 1] = data
        sock:receive("*l")
    end
end

-- opts: method, headers (table), body, timeout (ms), ssl_verify
-- returns { status, headers (lowercase names), body } or nil, err
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
    local data
    if opts.method == "HEAD" or status == 204 or status == 304 then
        data = ""
    elseif headers["transfer-encoding"] and lower(headers["transfer-encoding"]):find("chunked", 1, true) then
        data, err = read_chunked(sock)
    elseif headers["content-length"] then
        local n = tonumber(headers["content-length"])
        data, err = n and (n == 0 and "" or sock:receive(n)) or nil, n and err or "bad content-length"
    else
        data, err = sock:receive("*a")
    end
    sock:close()
    if not data then
        return nil, "receive body: " .. tostring(err)
    end
    return { status = status, headers = headers, body = data }
end

return _M
