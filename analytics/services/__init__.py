"""Every write of the usage pipeline, one module per concern; tasks, commands and the bench call these.

- `collection`: pull access-log batches from a gateway, ingest them, move its cursor, acknowledge.
- `ingest`: count a page of batches exactly once (events, rollups, quota counters, keys' last use), with
  - `records`: records as hostile input: what is refused, what is repaired, which ids exist;
  - `events`: raw events as COPY text, and their write;
  - `rollups`: the rollup counters, their aggregation per page and the additive upsert;
  - `operations`: the API operation ("GET /users/{id}") a logged request called, from the API's OpenAPI paths.
- `quota`: block subscriptions whose quota is used up, lift blocks whose period is over.
- `storage`: event partitions ahead of time; retention of events, rollups and batch records.
- `exports`: the audit record of a request-log download.
"""
