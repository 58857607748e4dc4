-- Minimal Redis client (RESP2) on ngx.socket.tcp, for the shared rate limiter.
-- Connections come from the worker's keepalive pool; AUTH and SELECT are only
-- sent on a fresh connection. Every call has the configured connect/send/read
-- timeout, so a dead or hanging Redis costs at most that long.
local tcp = ngx.socket.tcp
local byte, sub = string.byte, string.sub
local tonumber = tonumber
local null = ngx.null

local _M = {}
local mt = { __index = _M }

-- cfg: host, port, db, password, timeout_ms, pool_size
function _M.new(cfg)
    local self = {
        host = cfg.host,
        port = cfg.port or 6379,
        db = cfg.db or 0,
        password = cfg.password ~= null and cfg.password or nil,
        timeout = cfg.timeout_ms or 50,
        pool_size = cfg.pool_size or 64,
        pool = "portico_redis:" .. cfg.host .. ":" .. (cfg.port or 6379) .. ":" .. (cfg.db or 0),
    }
    return setmetatable(self, mt)
end

-- returns value | nil, network error | false, Redis error message
local function read_reply(sock)
    local line, err = sock:receive("*l")
    if not line then
        return nil, err
    end
    local t = byte(line, 1)
    if t == 58 then -- ":" integer
        return tonumber(sub(line, 2))
    elseif t == 36 then -- "$" bulk string
        local n = tonumber(sub(line, 2))
        if not n or n < 0 then
            return null
        end
        local data
        data, err = sock:receive(n + 2)
        if not data then
            return nil, err
        end
        return sub(data, 1, n)
    elseif t == 42 then -- "*" array
        local n = tonumber(sub(line, 2))
        if not n or n < 0 then
            return null
        end
        local out = {}
        for i = 1, n do
            local v, e = read_reply(sock)
            if v == nil then
                return nil, e
            end
            out[i] = v
        end
        return out
    elseif t == 43 then -- "+" status
        return sub(line, 2)
    elseif t == 45 then -- "-" error
        return false, sub(line, 2)
    end
    return nil, "malformed reply"
end

local function command(args)
    local n = #args
    local parts = { "*", n, "\r\n" }
    for i = 1, n do
        local a = args[i]
        a = type(a) == "string" and a or tostring(a)
        parts[#parts + 1] = "$"
        parts[#parts + 1] = #a
        parts[#parts + 1] = "\r\n"
        parts[#parts + 1] = a
        parts[#parts + 1] = "\r\n"
    end
    return parts
end

local function roundtrip(sock, args)
    local ok, err = sock:send(command(args))
    if not ok then
        return nil, err
    end
    return read_reply(sock)
end

local function connect(self)
    local sock = tcp()
    sock:settimeouts(self.timeout, self.timeout, self.timeout)
    local ok, err = sock:connect(self.host, self.port, { pool = self.pool, pool_size = self.pool_size })
    if not ok then
        return nil, "connect: " .. tostring(err)
    end
    if sock:getreusedtimes() == 0 then
        if self.password then
            local res, e = roundtrip(sock, { "AUTH", self.password })
            if not res then
                sock:close()
                return nil, "auth: " .. tostring(e)
            end
        end
        if self.db ~= 0 then
            local res, e = roundtrip(sock, { "SELECT", self.db })
            if not res then
                sock:close()
                return nil, "select: " .. tostring(e)
            end
        end
    end
    return sock
end

-- Sends one command (an argument list). On a Redis error reply,
-- `on_error(message)` may return a second command to send on the same
-- connection (EVAL after NOSCRIPT). Returns the reply (false, message for a
-- Redis error), or nil, err on a network failure: the connection is then
-- closed, never pooled. A pooled connection that turns out dead (Redis
-- restarted) is retried once on a fresh one; a timeout is not retried.
function _M.call(self, args, on_error)
    for attempt = 1, 2 do
        local sock, err = connect(self)
        if not sock then
            return nil, err
        end
        local reused = sock:getreusedtimes() > 0
        local res, rerr = roundtrip(sock, args)
        if res == false and on_error then
            local retry = on_error(rerr)
            if retry then
                res, rerr = roundtrip(sock, retry)
            end
        end
        if res ~= nil then
            sock:setkeepalive(60000, self.pool_size)
            return res, rerr
        end
        sock:close()
        if not reused or rerr == "timeout" then
            return nil, rerr
        end
    end
    return nil, "closed"
end

return _M
