-- Files that survive a full disk and a machine crash (portico.persist,
-- portico.journal): every write and close is checked, data is fsync'ed before
-- it replaces the previous file, and the directory after the rename, so a
-- reader finds the old file or the new one whole, never a truncated one.
local ffi = require "ffi"

local C = ffi.C
local sub = string.sub
local match = string.match

-- one declaration per call: another module may already have declared one of them
pcall(ffi.cdef, "int open(const char *pathname, int flags, ...);")
pcall(ffi.cdef, "int fsync(int fd);")
pcall(ffi.cdef, "int close(int fd);")
pcall(ffi.cdef, "int truncate(const char *path, int64_t length);")
pcall(ffi.cdef, "char *strerror(int errnum);")

local O_RDONLY = 0 -- fsync through a read-only descriptor flushes the file on Linux

local _M = {}

local function failure(what, path)
    return nil, what .. " " .. path .. ": " .. ffi.string(C.strerror(ffi.errno()))
end

-- fsync a file or a directory by path; true or nil, err
function _M.sync(path)
    local fd = C.open(path, O_RDONLY)
    if fd < 0 then
        return failure("open", path)
    end
    local r = C.fsync(fd)
    local ok, err = true, nil
    if r ~= 0 then
        ok, err = failure("fsync", path)
    end
    C.close(fd)
    return ok, err
end

local function dir_of(path)
    return match(path, "^(.*)/[^/]*$") or "."
end

-- Replaces `file` with `text` (temporary file, fsync, rename, fsync of the
-- directory); `step`: bytes written between two yields (ngx.sleep), nil for
-- one write. The previous file stays when anything fails. true or nil, err.
function _M.replace(file, text, step)
    local tmp = file .. ".tmp"
    local f, err = io.open(tmp, "wb")
    if not f then
        return nil, "open " .. tmp .. ": " .. tostring(err)
    end
    local ok, werr = true, nil
    step = step or #text
    for i = 1, #text, step > 0 and step or 1 do
        ok, werr = f:write(sub(text, i, i + step - 1))
        if not ok then
            break
        end
        if step < #text then
            ngx.sleep(0.001) -- a big file must not stall this worker's requests
        end
    end
    local closed, cerr = f:close() -- flushes: a full disk often shows only here
    if ok and not closed then
        ok, werr = nil, cerr
    end
    if ok then
        ok, werr = _M.sync(tmp)
    end
    if ok then
        local renamed, rerr = os.rename(tmp, file)
        if not renamed then
            ok, werr = nil, rerr
        end
    end
    if not ok then
        os.remove(tmp)
        return nil, "write " .. file .. ": " .. tostring(werr)
    end
    return _M.sync(dir_of(file))
end

-- Makes the complete file `src` the new `file` (fsync, rename, fsync of the
-- directory), as replace() does for a text. true or nil, err
function _M.adopt(src, file)
    local ok, err = _M.sync(src)
    if ok then
        local renamed, rerr = os.rename(src, file)
        if not renamed then
            ok, err = nil, rerr
        end
    end
    if not ok then
        return nil, "adopt " .. file .. ": " .. tostring(err)
    end
    return _M.sync(dir_of(file))
end

-- Replaces `file` with a copy of `src`, a block at a time; true or nil, err
function _M.copy(src, file)
    local input, err = io.open(src, "rb")
    if not input then
        return nil, "open " .. src .. ": " .. tostring(err)
    end
    local tmp = file .. ".tmp"
    local out, oerr = io.open(tmp, "wb")
    if not out then
        input:close()
        return nil, "open " .. tmp .. ": " .. tostring(oerr)
    end
    local ok, werr = true, nil
    while ok do
        local block = input:read(1024 * 1024)
        if not block then
            break
        end
        ok, werr = out:write(block)
        ngx.sleep(0.001) -- a big file must not stall this worker's requests
    end
    input:close()
    local closed, cerr = out:close()
    if ok and not closed then
        ok, werr = nil, cerr
    end
    if not ok then
        os.remove(tmp)
        return nil, "write " .. file .. ": " .. tostring(werr)
    end
    local adopted, aerr = _M.adopt(tmp, file)
    if not adopted then
        os.remove(tmp)
    end
    return adopted, aerr
end

-- Appends `text` to `file` and fsyncs it; on failure the file is cut back to
-- its previous length, so a half-written line is not left behind. true or nil, err
function _M.append(file, text)
    local f, err = io.open(file, "ab")
    if not f then
        return nil, "open " .. file .. ": " .. tostring(err)
    end
    local size = f:seek("end")
    local ok, werr = f:write(text)
    local closed, cerr = f:close()
    if ok and not closed then
        ok, werr = nil, cerr
    end
    if ok then
        ok, werr = _M.sync(file)
    end
    if not ok then
        if size then
            C.truncate(file, size)
        end
        return nil, "append " .. file .. ": " .. tostring(werr)
    end
    return true
end

return _M
