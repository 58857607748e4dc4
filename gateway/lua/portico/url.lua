-- The one parser for the http(s) URLs the gateway is given: the platform's
-- (portico.httpc) and each API's upstream_url (portico.routes).
-- Form: http(s)://host[:port][path], host possibly an [IPv6] literal.
local match, tonumber, type = string.match, tonumber, type

local _M = {}

-- { scheme, host, hostport, port, path } or nil when `url` is not such a URL;
-- port defaults by scheme, path is exactly as written ("" when there is none)
function _M.parse(url)
    if type(url) ~= "string" then
        return nil
    end
    local scheme, hostport, path = match(url, "^(https?)://([^/]+)(.*)$")
    if not scheme then
        return nil
    end
    local host, port = match(hostport, "^%[(.+)%]:?(%d*)$")
    if not host then
        host, port = match(hostport, "^([^:]+):?(%d*)$")
    end
    if not host then
        return nil
    end
    return {
        scheme = scheme,
        host = host,
        hostport = hostport,
        port = tonumber(port) or (scheme == "https" and 443 or 80),
        path = path,
    }
end

return _M
