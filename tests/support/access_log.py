"""Access-log records and batches in the gateway's format (docs/gateway-protocol.md §6), for usage tests and bench/."""

from __future__ import annotations

import itertools
import time
from typing import Any

_request_ids = itertools.count(1)


def record(ids: dict[str, Any] | None = None, *, t: float | None = None, **fields: Any) -> dict[str, Any]:
    """One access-log record as the gateway writes it; `ids` (api, app, org, sub, plan, key) and fields overridable."""
    rec: dict[str, Any] = {
        "t": time.time() if t is None else t,
        "id": f"req-{next(_request_ids)}",
        "m": "GET",
        "p": "/weather/today",
        "s": 200,
        "rt": 0.004,
        "ut": 0.003,
        "bi": 300,
        "bo": 800,
        "ip": "203.0.113.9",
        "api": None,
        "app": None,
        "org": None,
        "sub": None,
        "plan": None,
        "key": "",
        "lim": "ok",
    }
    rec.update(ids or {})
    rec.update(fields)
    return rec


def batch(sequence: int, records: list[dict[str, Any]]) -> dict[str, Any]:
    """One batch of records as the gateway's log endpoint serves it."""
    return {"sequence": sequence, "count": len(records), "src": "0:0", "records": records}
