"""What collection records on a gateway row: how far its log is ingested, and the latest error."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_sync.models import Gateway
from gateway_sync.services import gateway_error_record, gateway_log_cursor_advance, gateway_log_cursor_reset


@pytest.fixture
def gateway(db: Any) -> Gateway:
    return Gateway.objects.create(name="edge-1", admin_url="http://127.0.0.1:9")


def test_advancing_the_log_cursor_stores_it_with_the_time_of_collection(gateway: Gateway) -> None:
    gateway_log_cursor_advance(gateway_id=gateway.pk, cursor=42)

    gateway.refresh_from_db()
    assert gateway.log_cursor == 42 and gateway.log_collected_at is not None
    assert gateway.last_error == ""


def test_resetting_the_log_cursor_starts_over_and_says_why(gateway: Gateway) -> None:
    gateway_log_cursor_advance(gateway_id=gateway.pk, cursor=42)

    gateway_log_cursor_reset(gateway_id=gateway.pk, reason="log sequence restarted")

    gateway.refresh_from_db()
    assert (gateway.log_cursor, gateway.last_error) == (0, "log sequence restarted")
    assert gateway.last_error_at is not None


def test_an_error_is_recorded_cut_to_the_length_of_its_column(gateway: Gateway) -> None:
    gateway_error_record(gateway_id=gateway.pk, error="x" * 600)

    gateway.refresh_from_db()
    assert gateway.last_error == "x" * 500 and gateway.last_error_at is not None
    assert gateway.log_cursor == 0


def test_a_collection_error_is_cleared_by_the_next_collection_that_works(gateway: Gateway) -> None:
    gateway_error_record(gateway_id=gateway.pk, error="reading logs failed: ConnectionError")
    gateway_log_cursor_advance(gateway_id=gateway.pk, cursor=7)
    gateway.refresh_from_db()
    assert (gateway.last_error, gateway.last_error_at, gateway.log_cursor) == ("", None, 7)
