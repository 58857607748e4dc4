"""Arbitrary Unicode names: NUL and other controls are refused with a 400; RTL, emoji and NFD come back unchanged."""

import unicodedata

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from portal.models import Application


def _acceptable(name: str) -> bool:
    """The rule the API promises: a non-empty single line of at most 100 characters without control characters."""
    stripped = name.strip()
    return 0 < len(stripped) <= 100 and not any(
        unicodedata.category(char) == "Cc" and char != "\t" for char in stripped
    )


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=st.text(max_size=120))
@example(name="مرحبا بالعالم")  # RTL
@example(name="\u202eevil\u202c name")  # bidi override: stored as data, escaped on output
@example(name="Cafe\u0301 👩🏽‍💻🚀")  # NFD combining accent and an emoji ZWJ sequence
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
    created = response.json()
    assert created["name"] == name.strip()
    assert Application.objects.get(pk=created["id"]).name == name.strip()
    assert alice_api.get(f"/api/v1/applications/{created['id']}/").json()["name"] == name.strip()
