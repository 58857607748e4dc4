-- Incremental scanning of a large JSON snapshot. Decoding a 100k-key snapshot in
-- one cjson call would block the worker for a long time; instead we locate the
-- top-level members and hand the "keys" array to the caller in slices of
-- objects, each decoded separately, yielding to the event loop in between.
local find, byte, sub = string.find, string.byte, string.sub
local sleep = ngx.sleep

local _M = {}

local YIELD_EVERY = 20000 -- scanner steps between yields

local steps = 0
local function step()
    steps = steps + 1
    if steps >= YIELD_EVERY then
        steps = 0
        sleep(0.001)
    end
end

local function skip_ws(s, i)
    return find(s, "[^ \t\r\n]", i) or #s + 1
end

-- i points at an opening quote; returns the index of the closing quote
local function skip_string(s, i)
    local k = i
    while true do
        k = find(s, '["\\]', k + 1)
        if not k then
            return nil
        end
        if byte(s, k) == 92 then
            k = k + 1
        else
            return k
        end
    end
end

-- i points at '{' or '['; returns the index of the matching close
local function skip_container(s, i)
    local depth = 0
    while true do
        local j = find(s, '[%[%]{}"]', i)
        if not j then
            return nil
        end
        local c = byte(s, j)
        if c == 34 then
            j = skip_string(s, j)
            if not j then
                return nil
            end
        elseif c == 123 or c == 91 then
            depth = depth + 1
        else
            depth = depth - 1
            if depth == 0 then
                return j
            end
        end
        i = j + 1
        step()
    end
end

-- end index of the value starting at i
local function skip_value(s, i)
    local c = byte(s, i)
    if c == 123 or c == 91 then
        return skip_container(s, i)
    elseif c == 34 then
        return skip_string(s, i)
    end
    local j = find(s, "[,}%]%s]", i)
    return j and j - 1 or nil
end

-- { name = {first, last} } for each member of the top-level object
function _M.members(s)
    local out = {}
    local i = skip_ws(s, 1)
    if byte(s, i) ~= 123 then
        return nil, "snapshot is not a JSON object"
    end
    i = skip_ws(s, i + 1)
    if byte(s, i) == 125 then
        return out
    end
    while true do
        if byte(s, i) ~= 34 then
            return nil, "expected member name"
        end
        local e = skip_string(s, i)
        if not e then
            return nil, "unterminated string"
        end
        local name = sub(s, i + 1, e - 1)
        i = skip_ws(s, e + 1)
        if byte(s, i) ~= 58 then
            return nil, "expected ':'"
        end
        i = skip_ws(s, i + 1)
        local ve = skip_value(s, i)
        if not ve then
            return nil, "malformed value for " .. name
        end
        out[name] = { i, ve }
        i = skip_ws(s, ve + 1)
        local c = byte(s, i)
        if c == 125 then
            return out
        elseif c ~= 44 then
            return nil, "expected ',' or '}'"
        end
        i = skip_ws(s, i + 1)
    end
end

-- Calls fn(json_array_text) with "[obj,obj,...]" for every `chunk` elements of
-- the array spanning s[first..last]; yields between chunks.
function _M.each_chunk(s, span, chunk, fn)
    local i, last = span[1], span[2]
    if byte(s, i) ~= 91 then
        return nil, "expected an array"
    end
    i = skip_ws(s, i + 1)
    local start, n, stop = nil, 0, nil
    while i < last do
        local e = skip_value(s, i)
        if not e then
            return nil, "malformed array element"
        end
        start = start or i
        stop = e
        n = n + 1
        if n >= chunk then
            fn("[" .. sub(s, start, stop) .. "]")
            sleep(0.001)
            start, n = nil, 0
        end
        i = skip_ws(s, e + 1)
        if byte(s, i) == 44 then
            i = skip_ws(s, i + 1)
        end
    end
    if n > 0 then
        fn("[" .. sub(s, start, stop) .. "]")
    end
    return true
end

return _M
