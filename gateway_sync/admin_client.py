"""Signed requests from the platform to a gateway's admin listener (docs/gateway-protocol.md §5).

The gateway refuses timestamps more than 60 s from its own clock. So requests are stamped in the platform's view
of the gateway's clock (its measured offset), and the gateway keeps its narrow window: a gateway whose clock is
off still takes our requests, and a captured request is no more replayable than before. Every answer's `Date`
measures the offset again; a refusal whose `Date` shows a different one is signed again once with it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from django.conf import settings

# Below this the offset is measurement noise (`Date` has whole seconds): nothing is corrected.
CLOCK_NOISE_SECONDS = 1.0
# A refusal is signed again when the answer's clock differs from the one we stamped by more than this.
_RESIGN_SECONDS = 30.0


def signature_headers(
    secret: str, method: str, request_uri: str, body: bytes, *, clock_offset: float = 0.0
) -> dict[str, str]:
    """HMAC-SHA256 over timestamp (in the gateway's time), a fresh nonce, method, URI and body."""
    stamp = str(int(time.time() + clock_offset))
    nonce = secrets.token_hex(16)
    canonical = b"\n".join([stamp.encode(), nonce.encode(), method.encode(), request_uri.encode(), body])
    return {
        "X-Portico-Timestamp": stamp,
        "X-Portico-Nonce": nonce,
        "X-Portico-Signature": hmac.new(secret.encode(), canonical, hashlib.sha256).hexdigest(),
    }


def usable_offset(offset: float | None) -> float:
    """The clock offset to act on: 0 when unknown or within noise, and never more than the configured maximum.

    The bound keeps a forged `Date` (the admin channel may be plain HTTP) from making us sign requests for a far
    future, which could be replayed then.
    """
    if offset is None or abs(offset) < CLOCK_NOISE_SECONDS:
        return 0.0
    bound = float(settings.PORTICO_GATEWAY_MAX_CLOCK_OFFSET_SECONDS)
    return max(-bound, min(bound, offset))


def date_offset(response: requests.Response, sent: float, received: float) -> float | None:
    """The gateway's clock minus ours from an answer's `Date` (whole seconds, so +0.5), or None without one."""
    try:
        stamp = parsedate_to_datetime(response.headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return stamp + 0.5 - (sent + received) / 2


class GatewayAdminClient:
    """One gateway's admin endpoint; a short timeout because a slow gateway must not hold up the others.

    `clock_offset` is the gateway's clock minus ours as last measured (None: unknown); `measured_offset` is what
    this client's answers showed.
    """

    def __init__(
        self,
        base_url: str,
        secret: str,
        *,
        timeout: float = 5.0,
        session: requests.Session | None = None,
        clock_offset: float | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout = timeout
        self.session = session or requests.Session()
        self.clock_offset = clock_offset
        self.measured_offset: float | None = None

    def request(self, method: str, request_uri: str, payload: Any = None) -> requests.Response:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        stamped = usable_offset(self.clock_offset)
        response = self._send(method, request_uri, body, stamped)
        if response.status_code == 401 and self.measured_offset is not None:
            again = usable_offset(self.measured_offset)
            if abs(again - stamped) > _RESIGN_SECONDS:  # refused for our timestamp, most likely: once more in its time
                self.clock_offset = self.measured_offset
                response = self._send(method, request_uri, body, again)
        return response

    def _send(self, method: str, request_uri: str, body: bytes, clock_offset: float) -> requests.Response:
        headers = signature_headers(self.secret, method, request_uri, body, clock_offset=clock_offset)
        if body:
            headers["Content-Type"] = "application/json"
        sent = time.time()
        response = self.session.request(
            method, self.base_url + request_uri, data=body, headers=headers, timeout=self.timeout
        )
        measured = date_offset(response, sent, time.time())
        if measured is not None:
            self.measured_offset = measured
        return response
