"""Attack signatures end to end (docs/protection.md): the mode saved on the platform reaches a real gateway through
the snapshot; in report mode matching requests pass and one collection counts them with validation's findings, per
signature and location, shown on the API's admin page; in enforce mode they are refused and counted as denials."""

from __future__ import annotations

from typing import Any

from django.db.models import Sum

from analytics.models import RequestEvent
from analytics.tasks import collect_gateway_logs
from protection.models import ValidationFinding
from protection.services.signatures import api_signatures_save


def _counts() -> dict[tuple[str, str, str, str], int]:
    rows = ValidationFinding.objects.values_list("operation", "cause", "rule", "pointer").annotate(n=Sum("count"))
    return {(op, cause, rule, ptr): n for op, cause, rule, ptr, n in rows}


def test_report_mode_passes_and_one_collection_counts_the_findings(
    serving_gateway: Any, api: Any, api_key: Any, staff: Any, staff_client: Any
) -> None:
    api_signatures_save(actor=staff, api=api, signatures_mode="report")
    running, row = serving_gateway(0.05)
    _, secret = api_key

    answers = [
        running.get("/weather/search", secret, params={"q": "' or '1'='1"}),
        running.get("/weather/search", secret, params={"q": "' OR 'x'='x"}),
        running.request("POST", "/weather/notes", secret, json={"text": "<script>alert(1)</script>"}),
        running.get("/weather/today", secret, params={"city": "O'Brien Falls"}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    running.wait_records(4)

    collect_gateway_logs(row.pk)

    assert _counts() == {
        ("", "attack-signature", "sql-injection", "/query/q"): 2,
        ("", "attack-signature", "script-injection", "/body"): 1,
    }
    page = staff_client.get(f"/admin/portal/api/{api.pk}/change/").content.decode()
    findings = page.split("validation-findings", 1)[1].split("</table>", 1)[0]
    assert "sql-injection" in findings and "/query/q" in findings
    assert "1'='1" not in findings and "alert" not in findings  # counts, never values


def test_enforce_mode_refuses_and_the_refusal_is_counted_as_a_denial(
    serving_gateway: Any, api: Any, api_key: Any, staff: Any
) -> None:
    api_signatures_save(actor=staff, api=api, signatures_mode="enforce")
    running, row = serving_gateway(0.05)
    _, secret = api_key

    refused = running.get("/weather/a/b/..%2F..%2Fsecret", secret)
    running.wait_records(1)
    collect_gateway_logs(row.pk)

    assert (refused.status_code, refused.json().get("signature")) == (403, "path-traversal"), refused.text
    assert list(RequestEvent.objects.values_list("status", "denial_cause")) == [(403, "attack-signature")]
    assert _counts() == {}
