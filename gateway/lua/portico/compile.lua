-- The per-worker view of the active config: the slot's META (apis, plans,
-- subscriptions as in the snapshot) compiled once per config change into the
-- tables requests read (portico.store.current): the route index
-- (portico.routes), plans by id and subscriptions by application and API,
-- what access tokens are verified against (portico.tokens),
-- with the strings requests need made once here.
local routes = require "portico.routes"
local tokens = require "portico.tokens"
local mtls = require "portico.mtls"

local type, tonumber, tostring, ipairs = type, tonumber, tostring, ipairs

local _M = {}

local PLAN_LIMITS = { "rate_per_second", "rate_per_minute", "quota_per_day", "quota_per_month" }

function _M.compile(meta)
    local c = { version = meta.version, plans = {}, subs = {} }
    routes.compile(c, meta.apis or {})
    c.oauth = tokens.compile(meta.oauth, c.routes) -- consumer access tokens: keys, deny lists
    mtls.compile(c, meta.apis or {}, meta.client_certs) -- pinned client certificates, per-API mTLS policy
    for _, p in ipairs(meta.plans or {}) do
        if type(p) == "table" and p.id then
            p.id_s = tostring(p.id)
            -- header values as strings once, not per request
            for _, f in ipairs(PLAN_LIMITS) do
                if type(p[f]) == "number" then
                    p[f .. "_s"] = tostring(p[f])
                elseif p[f] ~= nil then
                    p[f] = nil -- null or garbage: unlimited
                end
            end
            -- organisation scope (issue #15): counters per (organisation, plan), held in
            -- p.orgs (portico.limits); other plans pay one field test per request
            p.q_org = p.quota_scope == "organisation" or nil
            p.r_org = p.rate_scope == "organisation" or nil
            if p.q_org or p.r_org then
                p.orgs = {}
            end
            c.plans[p.id] = p
        end
    end
    for _, s in ipairs(meta.subscriptions or {}) do
        if type(s) == "table" and s.application_id and s.api_id then
            local per_app = c.subs[s.application_id]
            if not per_app then
                per_app = {}
                c.subs[s.application_id] = per_app
            end
            local prev = per_app[s.api_id]
            -- several subscriptions to one API: the active one wins
            if not prev or (prev.status ~= "active" and s.status == "active") then
                s.blocked_until = tonumber(s.blocked_until)
                s.id_s = tostring(s.id)
                -- quota counter names (the period index is appended by the limiter)
                s.q_id_d, s.q_id_m = "d" .. (s.id or 0) .. ":", "M" .. (s.id or 0) .. ":"
                per_app[s.api_id] = s
            end
        end
    end
    return c
end

return _M
