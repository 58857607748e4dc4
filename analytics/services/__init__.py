"""Every write of the usage pipeline, one module per concern; tasks, commands and the bench call these.

- `collection`: pull access-log batches from a gateway, ingest them, move its cursor, acknowledge.
- `ingest`: count a page of batches exactly once (events, rollups, quota counters, keys' last use).
- `quota`: block subscriptions whose quota is used up, lift blocks whose period is over.
- `storage`: event partitions ahead of time; retention of events, rollups and batch records.
"""
