"""The layer every Portico app builds on: errors and problem+json, the audit trail, REST API plumbing, validators,
the MFA-enforcing admin site, the cache and health checks. It imports no feature app (portal, keys, analytics,
gateway_sync); `make lint` checks that."""
