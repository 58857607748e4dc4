-- Test mode (issue #15): a test key (its record's `test`) is sent to its
-- API's sandbox upstream, counted apart from live traffic and limited by the
-- plan's test limits (each one, when null, the live limit). An API without a
-- sandbox refuses test keys (cause test-key-no-sandbox). Live requests never
-- come here: access.lua tests one record field, and the balancer reads
-- $pt_env only for an API that has a sandbox.
local refusals = require "portico.refusals"

local type, tostring, ipairs = type, tostring, ipairs
local var = ngx.var

local _M = {}

local LIMITS = { "rate_per_second", "rate_per_minute", "quota_per_day", "quota_per_month" }

-- The plan as test keys see it, made once per plan per config (compile makes
-- new plan tables on every change). `cid` names its organisation counters
-- apart from the live plan's (portico.limits).
local function test_plan(plan)
    local t = plan.test
    if t then
        return t
    end
    t = { id = plan.id, id_s = plan.id_s, cid = plan.id_s .. "t", store_failure_mode = plan.store_failure_mode,
        q_org = plan.q_org, r_org = plan.r_org, orgs = plan.orgs and {} }
    for _, f in ipairs(LIMITS) do
        local v = plan["test_" .. f]
        if type(v) == "number" then
            t[f], t[f .. "_s"] = v, tostring(v)
        else
            t[f], t[f .. "_s"] = plan[f], plan[f .. "_s"]
        end
    end
    plan.test = t
    return t
end

-- The subscription as test keys count it: quota counters of their own, and
-- no platform block (the platform blocks on live usage only).
local function test_sub(s)
    local t = s.test
    if t then
        return t
    end
    local id = s.id or 0
    t = { id = s.id, id_s = s.id_s, status = s.status, q_id_d = "dt" .. id .. ":", q_id_m = "Mt" .. id .. ":" }
    s.test = t
    return t
end

-- The sandbox API, subscription and plan a test key's request goes on with,
-- or nil after refusing it.
function _M.divert(api, s, plan)
    local sandbox = api.sandbox
    if not sandbox then
        return refusals.refuse(api, s, "test-key-no-sandbox")
    end
    if sandbox.balanced then
        var.pt_env = "t" -- the balancer picks the sandbox's address
    end
    return sandbox, test_sub(s), test_plan(plan)
end

return _M
