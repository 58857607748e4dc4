"""Report mode's findings (docs/protection.md): the request passes, its record carries the finding, and one
collection counts it per API, operation, cause and hour, exactly once, shown on the API's admin page."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Sum

from analytics.services.ingest import batch_ingest
from analytics.tasks import collect_gateway_logs
from portal.models import Api
from protection.models import ValidationFinding
from protection.services.validation import api_protection_save
from tests.support.access_log import batch, record
from tests.support.openapi_docs import pets

pytestmark = pytest.mark.django_db

FINDING = "request-invalid|GET /pets|maximum|/query/limit"


def _counts() -> dict[tuple[str, str, str, str], int]:
    rows = ValidationFinding.objects.values_list("operation", "cause", "rule", "pointer").annotate(n=Sum("count"))
    return {(op, cause, rule, ptr): n for op, cause, rule, ptr, n in rows}


def test_findings_are_counted_once_per_batch_and_records_without_one_cost_nothing(gateway, ids) -> None:
    page = batch(3, [record(ids, vf=FINDING), record(ids, vf=FINDING), record(ids), record(ids, vf="garbage")])

    batch_ingest(gateway_id=gateway.pk, batch=page)
    batch_ingest(gateway_id=gateway.pk, batch=page)  # the same batch again: counted once

    assert _counts() == {("GET /pets", "request-invalid", "maximum", "/query/limit"): 2}


def test_a_finding_of_an_unknown_api_is_not_counted(gateway, ids) -> None:
    batch_ingest(gateway_id=gateway.pk, batch=batch(4, [record({**ids, "api": 999_999}, vf=FINDING)]))

    assert _counts() == {}


def test_report_mode_passes_the_request_and_one_collection_counts_it(
    serving_gateway: Any, api: Any, api_key: Any, staff: Any, staff_client: Any
) -> None:
    Api.objects.filter(pk=api.pk).update(openapi_document=pets())
    api.refresh_from_db()
    api_protection_save(actor=staff, api=api, validation_mode="report")
    running, row = serving_gateway(0.05)
    _, secret = api_key

    answers = [
        running.get("/weather/pets?limit=500", secret, headers={"X-Tenant": "acme"}),
        running.get("/weather/pets?limit=700", secret, headers={"X-Tenant": "acme"}),
        running.get("/weather/unknown", secret),
        running.get("/weather/pets/3", secret),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    running.wait_records(4)

    collect_gateway_logs(row.pk)

    assert _counts() == {
        ("GET /pets", "request-invalid", "maximum", "/query/limit"): 2,
        ("", "unknown-operation", "path", "/path"): 1,
    }
    page = staff_client.get(f"/admin/portal/api/{api.pk}/change/").content.decode()
    assert "/query/limit" in page and "unknown-operation" in page
    assert "700" not in page.split("validation-findings", 1)[1].split("</table>", 1)[0]  # counts, never values
