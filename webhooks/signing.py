"""Standard Webhooks signatures (https://www.standardwebhooks.com/): `v1,<base64 HMAC-SHA256 of id.timestamp.body>`."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import datetime

from standardwebhooks.webhooks import Webhook

WHSEC_PREFIX = "whsec_"  # the spec's marker of a signing key
SECRET_BYTES = 32  # 256 bits, as API keys


def new_secret() -> str:
    """A fresh signing secret in the spec's `whsec_<base64>` form, which every Standard Webhooks library reads."""
    return WHSEC_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def headers(*, message_id: str, timestamp: datetime, body: str, signing_secrets: Iterable[str]) -> dict[str, str]:
    """The three headers of a signed request; with several secrets (a rotation overlap) one signature each."""
    signatures = [Webhook(secret).sign(message_id, timestamp, body) for secret in signing_secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
