"""With the cache's Redis unreachable, the portal and its API keep working: throttles fail open, nothing 500s."""

import pytest
from django.core.cache import caches

from keys.models import ApiKey

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": DEAD_REDIS}}
    caches["default"].close()
    yield
    caches["default"].close()


def test_a_key_can_be_revoked_through_the_api_while_redis_is_down(redis_down, alice_pat, api_key) -> None:
    key, _ = api_key
    response = alice_pat.post(f"/api/v1/keys/{key.pk}/revoke/")
    assert response.status_code == 200, response.content
    assert ApiKey.objects.get(pk=key.pk).status == ApiKey.Status.REVOKED


def test_the_login_page_still_signs_people_in_while_redis_is_down(redis_down, client, alice) -> None:
    response = client.post("/accounts/login/", {"login": alice.email, "password": "correct-horse-battery-staple"})
    assert response.status_code == 302


def test_login_throttling_still_holds_per_process_while_redis_is_down(redis_down, client, alice) -> None:
    for n in range(5):
        client.post("/accounts/login/", {"login": alice.email, "password": f"wrong-{n}"})
    client.post("/accounts/login/", {"login": alice.email, "password": "correct-horse-battery-staple"})
    assert "_auth_user_id" not in client.session  # even the right password is refused after five failures
