-- Access-log ingestion. nginx itself writes one JSON record per request to
-- <spool>/access.log (log_format portico in the config): C code, buffered per
-- worker, flushed every log_flush_interval and when a worker exits or reopens
-- its logs, so logging costs the request path almost nothing. Worker 0 cuts
-- the complete lines it has not taken yet into one sequenced batch per
-- interval (portico.spool). Each batch records where it ended in the file
-- ("src": "<generation>:<offset>"), so a restart resumes exactly there.
-- Past access_log_rotate_bytes the file is renamed and nginx is told to reopen
-- it (SIGUSR1 to the master, as logrotate does); the renamed file is drained,
-- then removed.
local ffi = require "ffi"
local spool = require "portico.spool"
local stats = require "portico.stats"
local settings = require "portico.settings"

local state = ngx.shared.portico_state
local byte, sub, gsub, format, char = string.byte, string.sub, string.gsub, string.format, string.char
local re_find = ngx.re.find
local min = math.min

ffi.cdef [[
int kill(int pid, int sig);
]]
pcall(ffi.cdef, "void *memchr(const void *s, int c, size_t n);")
local SIGUSR1 = 10
local SLICE = 64 * 1024 -- bytes of raw log per batch (~200 records): one short pause of worker 0 each

-- JSON string escaping for client-controlled text (problem bodies, ingestion):
-- quotes, backslashes, control characters and bytes >= 0x80 as \u00XX.
local ESC = {}
for i = 0, 255 do
    local c = char(i)
    if i < 32 or i == 127 or i >= 128 then
        ESC[c] = format("\\u%04x", i)
    end
end
ESC['"'] = '\\"'
ESC["\\"] = "\\\\"
local UNSAFE = '[%c"\\\128-\255]'
local UNSAFE_RE = [=[["\\\x00-\x1f\x7f-\xff]]=] -- same set; ngx.re is JIT-friendly, Lua patterns are not

local scratch, scratch_len = nil, 0
local C = ffi.C
local cast = ffi.cast
local band = require("bit").band
local HIGH8 = 0x8080808080808080ULL
local u8p, u64p = ffi.typeof("uint8_t *"), ffi.typeof("const uint64_t *")

-- The first `len` bytes of chunk with "\n" turned into "," (records -> JSON
-- array body), and the number of records. Newlines are found with memchr
-- (SIMD in glibc) and bytes >= 0x80 are looked for 8 at a time: a byte loop,
-- even JIT-compiled, cost ~3,000 instructions per record; Lua's gsub walks
-- its pattern matcher per character and took milliseconds per slice.
local function join_lines(chunk, len)
    if scratch_len < len + 8 then
        scratch_len = len + 8
        scratch = ffi.new("uint8_t[?]", len + 8)
    end
    ffi.copy(scratch, chunk, len)
    local n = 1
    local p, left = cast(u8p, scratch), len
    while left > 0 do
        local q = C.memchr(p, 10, left)
        if q == nil then
            break
        end
        q = cast(u8p, q)
        q[0] = 44
        n = n + 1
        left = left - tonumber(q - p) - 1
        p = q + 1
    end
    -- pad to whole words with zeros: they are not high bytes
    for i = len, len + 7 do
        scratch[i] = 0
    end
    local w, high = cast(u64p, scratch), false
    for i = 0, (len + 7) / 8 - 1 do
        if band(w[i], HIGH8) ~= 0 then
            high = true
            break
        end
    end
    local out = ffi.string(scratch, len)
    if high then
        -- nginx's JSON escaping leaves bytes >= 0x80 alone; keep batches valid UTF-8
        out = gsub(out, "[\128-\255]", ESC)
    end
    return out, n
end

-- position of the last "\n" (scanning back from the end: it is almost always near)
local function last_newline(s)
    for i = #s, 1, -1 do
        if byte(s, i) == 10 then
            return i
        end
    end
end

local _M = {}

function _M.escape(s)
    if not re_find(s, UNSAFE_RE, "jo") then
        return s
    end
    return (gsub(s, UNSAFE, ESC))
end

local function live_path()
    return settings.spool_dir .. "/access.log"
end

local function rotated_path(gen)
    return settings.spool_dir .. "/access.log." .. gen
end
_M.rotated_path = rotated_path

local function reopen_logs()
    local f = io.open(settings.prefix .. "/logs/nginx.pid", "r")
    local pid = f and tonumber(f:read("*l"))
    if f then
        f:close()
    end
    if pid then
        ffi.C.kill(pid, SIGUSR1)
    end
end

-- one ingestion step; runs under the spool lock. A backlog (after a restart,
-- a burst) is cut in slices of at most spool.HOLD_BUDGET seconds under one
-- hold, so an ack waits that long at most; still_held() renews the lock
-- between slices and stops the step if it is no longer ours.
local function ingest_locked(still_held)
    local until_t = ngx.now() + spool.HOLD_BUDGET
    local gen = state:get("ing_gen") or 0
    local off = state:get("ing_off") or 0
    local rotating = state:get("ing_rotating")
    local path = rotating and rotated_path(gen) or live_path()
    local size = 0
    local f = io.open(path, "rb")
    if f then
        size = f:seek("end")
        if size < off then
            off = 0 -- the file was replaced behind our back: start over rather than skip
        end
        -- small slices with a yield in between keep each pause of this worker short
        while size > off do
            if ngx.now() >= until_t or not still_held() then
                f:close()
                return -- the next tick goes on from ing_off
            end
            f:seek("set", off)
            local chunk = f:read(min(size - off, SLICE))
            local nl = last_newline(chunk)
            if not nl then
                if #chunk < SLICE then
                    break -- a line still being written
                end
                nl = #chunk -- no record is this long: skip the garbage rather than stall
                stats.inc("log_records_dropped")
            end
            local records, n = join_lines(chunk, nl - 1)
            off = off + nl
            spool.append_locked(records, n, gen .. ":" .. off)
            state:set("ing_off", off)
            stats.inc("requests", n)
            ngx.sleep(0.001)
        end
        f:close()
    end
    if rotating then
        local quiet = ngx.now() - (state:get("ing_rotated_at") or 0) > 2 * (settings.log_flush_interval or 0.2) + 1
        if off >= size and quiet then
            os.remove(path)
            state:set("ing_gen", gen + 1)
            state:set("ing_off", 0)
            state:delete("ing_rotating")
        end
    elseif off >= settings.access_log_rotate_bytes and off >= size then
        if os.rename(live_path(), rotated_path(gen)) then
            state:set("ing_rotating", true)
            state:set("ing_rotated_at", ngx.now())
            reopen_logs()
        end
    end
end

local function tick(premature)
    stats.flush()
    if premature or ngx.worker.id() ~= 0 then
        return
    end
    local ok, err = spool.with_lock(ingest_locked)
    if not ok then
        ngx.log(ngx.WARN, "access log ingestion: ", err)
    end
end

function _M.start()
    assert(ngx.timer.every(settings.log_flush_interval or 0.2, tick))
end

return _M
