"""Redaction rules: validation with clear errors, publication with the API (snapshot and change feed), the admin,
and ingest masking paths with them, so a gateway on an older config cannot leak into the database."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from analytics.models import RequestEvent
from analytics.services.ingest import batch_ingest
from foundation.models import AuditEvent
from gateway_sync.models import ConfigChange
from gateway_sync.selectors import current_version
from gateway_sync.snapshot import build_snapshot
from portal.models import Api
from portal.services.catalog import api_save
from redaction.models import RedactionPolicy
from redaction.services import policy_delete, policy_save
from tests.support.access_log import batch, record

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("password", "Give a list"),
        (["ok", ""], "non-empty"),
        (["card number"], "card number: a field name"),
        (["/a/~2"], "/a/~2: not a JSON Pointer"),
        (["/a/"], "/a/: not a JSON Pointer"),
        (["ssn", "SSN"], "SSN: listed twice"),
        ([f"f{i}" for i in range(51)], "At most 50"),
    ],
)
def test_bad_fields_are_refused_with_a_message_naming_the_entry(api: Any, fields: Any, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        RedactionPolicy(api=api, fields=fields).full_clean()
    assert message in str(error.value)


def test_rules_are_published_with_their_api_and_audited(alice: Any, api: Any) -> None:
    before = current_version()
    policy = policy_save(
        actor=alice, policy=RedactionPolicy(api=api, fields=["card_number", "/account/pass~1word"], detect_emails=False)
    )
    [change] = ConfigChange.objects.filter(version__gt=before)
    expected = {"names": ["card_number", "pass/word"], "cards": True, "national_ids": True, "emails": False,
                "responses": False}  # fmt: skip
    assert (change.kind, change.object_id, change.data["redaction"]) == ("api", str(api.pk), expected)
    [entry] = build_snapshot(version=1)["apis"]
    assert entry["redaction"] == expected
    assert AuditEvent.objects.filter(action="redaction.created").count() == 1

    policy_delete(actor=alice, policy=policy)
    [_, change] = ConfigChange.objects.filter(version__gt=before).order_by("version")
    assert "redaction" not in change.data
    assert "redaction" not in build_snapshot(version=2)["apis"][0]


def test_staff_edit_rules_in_the_admin_and_gateways_receive_them(staff_client: Any, api: Any) -> None:
    before = current_version()
    form = {"api": api.pk, "fields": '["password"]', "detect_cards": "on", "redact_responses": "on"}
    response = staff_client.post("/admin/redaction/redactionpolicy/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    [change] = ConfigChange.objects.filter(version__gt=before)
    assert change.data["redaction"]["names"] == ["password"] and change.data["redaction"]["responses"] is True

    response = staff_client.post("/admin/redaction/redactionpolicy/add/", {**form, "fields": '["a b"]'})
    assert response.status_code == 200
    assert "a b: a field name" in response.content.decode()

    policy = RedactionPolicy.objects.get()
    other = api_save(
        actor=None, api=Api(name="Other", slug="other", path_prefix="/other", upstream_url="http://127.0.0.1:9")
    )
    before = current_version()
    response = staff_client.post(f"/admin/redaction/redactionpolicy/{policy.pk}/change/", {**form, "api": other.pk})
    assert response.status_code == 302
    assert RedactionPolicy.objects.get().api_id == api.pk  # the API cannot be changed
    [change] = ConfigChange.objects.filter(version__gt=before)
    assert change.object_id == str(api.pk)


def test_ingest_masks_paths_the_gateway_logged_raw(alice: Any, gateway: Any, ids: dict[str, Any]) -> None:
    policy_save(actor=alice, policy=RedactionPolicy(api_id=ids["api"], fields=["ssn"]))
    now = timezone.now()
    records = [
        record(ids, p="/weather/pay/4111-1111-1111-1111", t=now.timestamp() - 1),
        record(ids, p="/weather/ssn/anything/ana%40example.com", t=now.timestamp() - 1),
        record({**ids, "api": None}, p="/other/4111111111111111", t=now.timestamp() - 1),  # no API: no rules
    ]
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, records), now=now)
    assert sorted(RequestEvent.objects.values_list("path", flat=True)) == [
        "/other/4111111111111111",
        "/weather/pay/************1111",
        "/weather/ssn/[redacted]/[email]",
    ]
