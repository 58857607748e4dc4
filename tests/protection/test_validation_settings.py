"""Request validation settings on the platform: the mode is published with the API, documents that cannot be
enforced are refused (service and admin) with the reason, and a changed document is recompiled and published."""

from __future__ import annotations

import pytest

from foundation.errors import ValidationFailed
from gateway_sync.models import ConfigChange
from gateway_sync.selectors import current_version
from gateway_sync.snapshot import build_snapshot
from portal.services.catalog import api_save
from protection.models import ApiProtection
from protection.services.validation import api_protection_save
from tests.support.openapi_docs import pets

pytestmark = pytest.mark.django_db


@pytest.fixture
def pets_api(api):
    api.openapi_document = pets()
    api.save()
    return api


def _api_changes(before):
    return [c.data for c in ConfigChange.objects.filter(version__gt=before, kind="api").order_by("version")]


def test_turning_validation_on_publishes_the_compiled_document_with_the_api(staff, pets_api):
    before = current_version()

    api_protection_save(actor=staff, api=pets_api, validation_mode="enforce")

    [published] = _api_changes(before)
    assert published["validation"]["mode"] == "enforce"
    assert "GET /pets" in {op["id"] for op in published["validation"]["ops"]}
    [entry] = [a for a in build_snapshot(version=1)["apis"] if a["id"] == pets_api.pk]
    assert entry["validation"] == published["validation"]


def test_an_api_with_validation_off_ships_no_validator(staff, pets_api):
    api_protection_save(actor=staff, api=pets_api, validation_mode="report")
    before = current_version()

    api_protection_save(actor=staff, api=pets_api, validation_mode="off")

    [published] = _api_changes(before)
    assert "validation" not in published
    assert all("validation" not in a for a in build_snapshot(version=1)["apis"])


def test_validation_cannot_be_turned_on_with_a_document_the_compiler_refuses(staff, api):
    api.openapi_document = {**pets(), "openapi": "2.0"}
    api.save()
    before = current_version()

    with pytest.raises(ValidationFailed) as refused:
        api_protection_save(actor=staff, api=api, validation_mode="enforce")

    assert "only OpenAPI 3.0 and 3.1" in refused.value.message
    assert current_version() == before
    assert not ApiProtection.objects.filter(api=api, validation_mode="enforce").exists()


def test_a_changed_document_is_recompiled_and_published(staff, pets_api):
    api_protection_save(actor=staff, api=pets_api, validation_mode="enforce")
    pets_api.openapi_document["paths"]["/owners"] = {"get": {}}
    before = current_version()

    api_save(actor=staff, api=pets_api)

    [published] = _api_changes(before)
    assert "GET /owners" in {op["id"] for op in published["validation"]["ops"]}


def test_a_document_that_breaks_enforcement_is_refused_while_validation_is_on(staff, pets_api):
    api_protection_save(actor=staff, api=pets_api, validation_mode="enforce")
    pets_api.openapi_document["components"]["schemas"]["Tag"]["properties"]["name"] = {"pattern": "^a$"}

    with pytest.raises(ValidationFailed) as refused:
        api_save(actor=staff, api=pets_api)
    assert "keyword 'pattern' is not supported" in refused.value.message


def test_with_validation_off_an_unenforceable_document_is_kept_with_its_reason(staff, pets_api):
    api_protection_save(actor=staff, api=pets_api, validation_mode="off")
    pets_api.openapi_document = {
        "openapi": "3.0.0",
        "paths": {"/a": {"get": {"parameters": [{"in": "cookie", "name": "c"}]}}},
    }

    api_save(actor=staff, api=pets_api)

    protection = ApiProtection.objects.get(api=pets_api)
    assert protection.compiled is None and "cookie parameters are not supported" in protection.compile_error


def _admin_form(api, mode, document, signatures="off"):
    import json

    return {
        "name": api.name, "slug": api.slug, "description": "", "version": "v1", "upstream_url": api.upstream_url,
        "path_prefix": api.path_prefix, "host": "", "strip_prefix": "on", "methods": '["GET"]',
        "max_body_bytes": 1000, "key_header": "X-API-Key", "connect_timeout_ms": 5000, "read_timeout_ms": 30000,
        "send_timeout_ms": 30000, "openapi_document": json.dumps(document), "visibility": "public",
        "cors_allowed_origins": "[]", "created_at_0": "2026-01-01", "created_at_1": "00:00:00",
        "plans-TOTAL_FORMS": 0, "plans-INITIAL_FORMS": 0,
        "protection-TOTAL_FORMS": 1, "protection-INITIAL_FORMS": 0, "protection-0-validation_mode": mode,
        "protection-0-signatures_mode": signatures, "protection-0-api": api.pk,
    }  # fmt: skip


def test_the_admin_refuses_enforcing_a_document_it_cannot_compile_and_says_why(staff_client, api):
    document = {**pets(), "openapi": "3.0.3"}
    document["components"]["schemas"]["Tag"]["properties"]["child"] = {"$ref": "#/components/schemas/Tag"}

    page = staff_client.post(f"/admin/portal/api/{api.pk}/change/", _admin_form(api, "enforce", document))

    assert page.status_code == 200  # the form again, with the reason
    assert "recursive $ref #/components/schemas/Tag" in page.content.decode()
    assert not ApiProtection.objects.filter(api=api).exists()


def test_the_admin_turns_report_mode_on_and_shows_the_compiled_document(staff_client, api):
    before = current_version()

    saved = staff_client.post(f"/admin/portal/api/{api.pk}/change/", _admin_form(api, "report", pets()))

    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert ApiProtection.objects.get(api=api).validation_mode == "report"
    assert _api_changes(before)[-1]["validation"]["mode"] == "report"
    page = staff_client.get(f"/admin/portal/api/{api.pk}/change/").content.decode()
    assert "5 operations, digest" in page and "Nothing found in the last 7 days." in page
