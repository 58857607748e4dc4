"""/api/v1/access-tokens/: create (shown once, from a session), list, read, revoke."""

from keys import tokens
from keys.models import PersonalAccessToken
from keys.services import access_token_issue
from tests.api.conftest import assert_problem, token_client


def test_creating_a_token_shows_it_once_and_uncacheable(alice_api, alice) -> None:
    response = alice_api.post("/api/v1/access-tokens/", {"name": "Laptop"}, format="json")
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    secret, token = response.json()["secret"], response.json()["token"]
    assert tokens.is_well_formed(secret, kind="pat") and token["state"] == "active"
    assert PersonalAccessToken.objects.get(pk=token["id"]).digest == tokens.digest(secret)
    listed = alice_api.get("/api/v1/access-tokens/")
    assert secret not in listed.content.decode() and [t["name"] for t in listed.json()["results"]] == ["Laptop"]


def test_a_token_cannot_create_tokens(alice_pat) -> None:
    body = assert_problem(alice_pat.post("/api/v1/access-tokens/", {"name": "Persistence"}, format="json"), 403)
    assert "session" in body["detail"]
    assert PersonalAccessToken.objects.count() == 1


def test_tokens_are_listed_per_user_with_a_fixed_query_count(
    alice_api, alice, bob, django_assert_max_num_queries
) -> None:
    for number in range(5):
        access_token_issue(user=alice, name=f"t{number}")
    access_token_issue(user=bob, name="bob's")
    with django_assert_max_num_queries(2):
        response = alice_api.get("/api/v1/access-tokens/")
    assert response.json()["count"] == 5 and "bob's" not in response.content.decode()


def test_another_users_token_is_not_found(bob_api, alice_token) -> None:
    token, _ = alice_token
    assert_problem(bob_api.get(f"/api/v1/access-tokens/{token.pk}/"), 404)
    assert_problem(bob_api.post(f"/api/v1/access-tokens/{token.pk}/revoke/"), 404)
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_revoked_token_is_refused_with_401(alice_api, alice_token, org) -> None:
    token, secret = alice_token
    client = token_client(secret)
    assert client.get("/api/v1/organisations/").status_code == 200
    response = alice_api.post(f"/api/v1/access-tokens/{token.pk}/revoke/")
    assert response.status_code == 200 and response.json()["state"] == "revoked"
    refused = client.get("/api/v1/organisations/")
    assert_problem(refused, 401)
    assert refused["WWW-Authenticate"].startswith("Bearer")
