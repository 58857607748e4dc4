"""Arbitrary Unicode names: one rule for every name, in the REST API, the pages and the admin.

Accepted: any visible text on one line (RTL scripts, combining marks, emoji with their joiners), stored in NFC
without surrounding spaces. Refused with a 400 naming the field: control characters and tabs, invisible and
direction-changing characters (which let one name pass for another), private-use, unassigned and noncharacter
code points, and names with nothing visible in them.
"""

import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from portal.models import Application

JOINERS = {"\u200c", "\u200d"}
REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
INVISIBLE_CATEGORIES = {"Cc", "Cf", "Mn", "Me", "Zs", "Zl", "Zp"}


def _acceptable(name: str) -> bool:
    """The rule the API promises, written independently of foundation.validators."""
    stored = unicodedata.normalize("NFC", name).strip()
    if not 0 < len(stored) <= 100:
        return False
    if all(unicodedata.category(char) in INVISIBLE_CATEGORIES for char in stored):
        return False
    return not any(
        char == "\t" or (unicodedata.category(char) in REFUSED_CATEGORIES and char not in JOINERS) for char in stored
    )


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=st.text(max_size=120))
@example(name="مرحبا بالعالم")  # RTL
@example(name="Cafe\u0301 👩🏽‍💻🚀")  # NFD combining accent (stored as NFC) and an emoji ZWJ sequence
@example(name="\u202eevil\u202c name")  # right-to-left override
@example(name="\u200b")  # only a zero-width space
@example(name="\u00a0\u00a0")  # only non-breaking spaces
@example(name="x\u2066y")  # left-to-right isolate
@example(name="\ufeffbom")
@example(name="non\uffffchar")
@example(name="tab\there")
@example(name="nul\x00byte")
@example(name="esc\x1b[31mred")
@example(name="line\nbreak")
def test_application_names_round_trip_or_are_refused(alice_api, org, name) -> None:
    response = alice_api.post(f"/api/v1/organisations/{org.pk}/applications/", {"name": name}, format="json")
    if not _acceptable(name):
        assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
        assert "name" in response.json()["errors"]
        return
    assert response.status_code == 201, response.content
    stored = unicodedata.normalize("NFC", name).strip()
    created = response.json()
    assert created["name"] == stored
    assert Application.objects.get(pk=created["id"]).name == stored
    assert alice_api.get(f"/api/v1/applications/{created['id']}/").json()["name"] == stored


@pytest.mark.parametrize("name", ["\u200b", "\u202eevil", "a\u2066b", "\ufeffx", "x\uffff", "a\tb", "\u00a0"])
def test_pages_and_the_admin_apply_the_same_rule(alice_client, staff_client, org, name) -> None:
    page = alice_client.post(f"/orgs/{org.pk}/applications/new/", {"name": name})
    assert page.status_code == 200 and not Application.objects.filter(name__contains=name.strip()).exists()
    admin = staff_client.post(f"/admin/portal/organisation/{org.pk}/change/", {"name": name, "is_personal": ""})
    assert admin.status_code == 200  # the form again, with the error
    org.refresh_from_db()
    assert org.name == "Acme"


def test_names_are_stored_in_nfc_whichever_way_they_arrive(alice_client, staff_client, org, api) -> None:
    alice_client.post(f"/orgs/{org.pk}/applications/new/", {"name": "Cafe\u0301"})
    assert Application.objects.filter(name="Caf\u00e9").exists()
    form = {"name": "  Me\u0301te\u0301o  ", "slug": api.slug, "version": "v1", "upstream_url": api.upstream_url,
            "path_prefix": api.path_prefix, "strip_prefix": "on", "methods": '["GET"]', "max_body_bytes": 1024,
            "key_header": "X-API-Key", "connect_timeout_ms": 5000, "read_timeout_ms": 30000,
            "send_timeout_ms": 30000, "visibility": "public", "cors_allowed_origins": "[]",
            "openapi_document": "null", "created_at_0": "2026-01-01", "created_at_1": "00:00:00",
            "plans-TOTAL_FORMS": 0, "plans-INITIAL_FORMS": 0,
            "protection-TOTAL_FORMS": 0, "protection-INITIAL_FORMS": 0}  # fmt: skip
    assert staff_client.post(f"/admin/portal/api/{api.pk}/change/", form).status_code == 302
    api.refresh_from_db()
    assert api.name == "M\u00e9t\u00e9o"
