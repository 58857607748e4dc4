"""Attack signature settings on the platform: the mode is saved with an audit entry, published with the API only
when it is not off, and set from the API's admin page independently of request validation."""

from __future__ import annotations

import pytest

from foundation.errors import ValidationFailed
from foundation.models import AuditEvent
from gateway_sync.models import ConfigChange
from gateway_sync.selectors import current_version
from gateway_sync.snapshot import build_snapshot
from protection.models import ApiProtection
from protection.services.signatures import api_signatures_save
from protection.services.validation import api_protection_save
from tests.protection.test_validation_settings import _admin_form
from tests.support.openapi_docs import pets

pytestmark = pytest.mark.django_db


def _api_changes(before):
    return [c.data for c in ConfigChange.objects.filter(version__gt=before, kind="api").order_by("version")]


def test_turning_signatures_on_publishes_the_mode_with_the_api_and_off_removes_it(staff, api):
    before = current_version()

    api_signatures_save(actor=staff, api=api, signatures_mode="enforce")
    (published,) = _api_changes(before)
    (entry,) = [a for a in build_snapshot(version=1)["apis"] if a["id"] == api.pk]
    api_signatures_save(actor=staff, api=api, signatures_mode="report")
    reported = _api_changes(before)[-1]
    api_signatures_save(actor=staff, api=api, signatures_mode="off")
    off = _api_changes(before)[-1]

    assert (published["signatures"], entry["signatures"], reported["signatures"]) == ("enforce", "enforce", "report")
    assert "signatures" not in off and "validation" not in published
    assert all("signatures" not in a for a in build_snapshot(version=1)["apis"])
    actions = AuditEvent.objects.filter(action="api.signatures_changed", target_id=str(api.pk))
    assert [e.data["to"] for e in actions.order_by("id")] == ["enforce", "report", "off"]


def test_saving_the_same_mode_again_publishes_nothing(staff, api):
    api_signatures_save(actor=staff, api=api, signatures_mode="report")
    before = current_version()

    api_signatures_save(actor=staff, api=api, signatures_mode="report")

    assert _api_changes(before) == []


def test_an_unknown_mode_is_refused(staff, api):
    with pytest.raises(ValidationFailed):
        api_signatures_save(actor=staff, api=api, signatures_mode="block")
    assert not ApiProtection.objects.filter(api=api).exists()


def test_the_admin_sets_signatures_without_touching_validation(staff_client, api):
    before = current_version()

    saved = staff_client.post(f"/admin/portal/api/{api.pk}/change/", _admin_form(api, "off", pets(), "enforce"))

    assert saved.status_code == 302, saved.content.decode()[:2000]
    protection = ApiProtection.objects.get(api=api)
    assert (protection.signatures_mode, protection.validation_mode) == ("enforce", "off")
    assert _api_changes(before)[-1]["signatures"] == "enforce"
    page = staff_client.get(f"/admin/portal/api/{api.pk}/change/").content.decode()
    assert "signatures_mode" in page


def test_validation_and_signatures_are_published_side_by_side(staff, api):
    api.openapi_document = pets()
    api.save()
    api_protection_save(actor=staff, api=api, validation_mode="enforce")
    before = current_version()

    api_signatures_save(actor=staff, api=api, signatures_mode="report")

    (published,) = _api_changes(before)
    assert (published["signatures"], published["validation"]["mode"]) == ("report", "enforce")
