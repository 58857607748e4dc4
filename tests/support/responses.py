"""Reading answers of Django's test client that are streamed (`/gateway/v1/config`)."""

from __future__ import annotations

import json
from typing import Any


def streamed_text(response: Any) -> str:
    """The whole body of a streamed answer, read to its end (where a view's queries run)."""
    return b"".join(response.streaming_content).decode()


def streamed_json(response: Any) -> Any:
    return json.loads(streamed_text(response))
