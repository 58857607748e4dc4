"""Domain events other apps may act on (webhooks today, emails later), without the emitter knowing them.

`publish` runs every listener synchronously, inside the caller's transaction: a listener that writes an outbox
row commits or rolls back with the change it describes. Listeners register in their AppConfig.ready(), so the
apps that emit (keys, portal) never import the apps that listen, and no import cycle can form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Listener(Protocol):
    def __call__(self, *, event_type: str, organisation_id: int, data: dict[str, Any]) -> None: ...


_listeners: list[Callable[..., None]] = []


def subscribe(listener: Listener) -> None:
    """Register a listener once (a repeated AppConfig.ready() must not double every event)."""
    if listener not in _listeners:
        _listeners.append(listener)


def publish(*, event_type: str, organisation_id: int, data: dict[str, Any]) -> None:
    """Tell every listener that `event_type` happened in an organisation; call it inside the change's transaction."""
    for listener in _listeners:
        listener(event_type=event_type, organisation_id=organisation_id, data=data)
