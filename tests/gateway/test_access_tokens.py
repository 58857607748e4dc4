"""OAuth2 access tokens at the gateway (docs/gateway-protocol.md, section 11): ES256 JWTs verified locally, then
enforced like a key of their application, each refusal with its own cause."""

from __future__ import annotations

import time

import pytest

from tests.support.jwt_tokens import (
    CLIENT_ID,
    Signer,
    hs256_with_public_key,
    jti_of,
    oauth_member,
    signed_with_header,
    tampered,
    unsigned,
)
from tests.support.snapshots import api_entry, change, key_entry, plan_entry, snapshot, subscription_entry


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cause(response) -> str:
    return response.json()["type"].rsplit("/", 1)[1]


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def gw(start_gateway, upstream, signer):
    apis = [api_entry(upstream, 1, "/demo"), api_entry(upstream, 2, "/other")]
    subs = [subscription_entry(7, api_id=1), subscription_entry(8, api_id=2)]
    return start_gateway(
        snapshot(1, apis, subscriptions=subs, oauth=oauth_member(signer)), extra=["--token-leeway", "5"]
    )


def test_a_valid_token_reaches_the_upstream_as_its_client_without_the_credential(gw, signer):
    r = gw.get("/demo/x", headers={**bearer(signer.token()), "X-Portico-Client": "ptc_client_spoofed"})

    assert r.status_code == 200, r.text
    upstream_saw = r.json()["headers"]
    assert upstream_saw["x-portico-client"] == CLIENT_ID
    assert upstream_saw["x-portico-application"] == "5"
    assert upstream_saw["x-portico-organisation"] == "2"
    assert "authorization" not in upstream_saw
    assert "x-portico-key-prefix" not in upstream_saw


@pytest.mark.parametrize(
    ("forge", "expected"),
    [
        (lambda s: s.token(exp=int(time.time()) - 60), "token-expired"),
        (lambda s: s.token(nbf=int(time.time()) + 120), "token-invalid"),
        (lambda s: s.token(aud="someone-else"), "token-invalid"),
        (lambda s: s.token(iss="https://evil.example"), "token-invalid"),
        (lambda s: tampered(s.token(), application_id=6), "token-invalid"),
        (lambda s: tampered(s.token(), scope="api1 api2"), "token-invalid"),
        (lambda s: unsigned(), "token-invalid"),
        (lambda s: hs256_with_public_key(s), "token-invalid"),
        (lambda s: Signer().token(), "token-invalid"),  # signed by a key the platform never published
        (lambda s: s.token(header={"kid": "../" + s.kid}), "token-invalid"),
        (lambda s: signed_with_header(s, {"crit": ["x-ext"], "x-ext": 1}), "token-invalid"),
        (lambda s: signed_with_header(s, {}), None),  # the same hand-made signature, without crit: accepted
        (lambda s: s.token(scope="api2"), "token-scope"),
        (lambda s: s.token(application_id=6), "forbidden-api"),  # no subscription of application 6
    ],
    ids=[
        "expired", "not-yet-valid", "wrong-audience", "wrong-issuer", "tampered-application", "tampered-scope",
        "alg-none", "hs256-with-public-key", "unknown-kid", "kid-path", "crit-header", "hand-signed", "out-of-scope",
        "unsubscribed-application",
    ],
)  # fmt: skip
def test_bad_tokens_are_refused_with_their_own_cause(gw, signer, forge, expected):
    r = gw.get("/demo/x", headers=bearer(forge(signer)))

    if expected is None:
        assert r.status_code == 200, r.text
        return
    assert cause(r) == expected, r.text
    assert r.status_code == (403 if expected in ("token-scope", "forbidden-api") else 401)
    if r.status_code == 401:
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_the_leeway_admits_a_token_just_past_its_expiry_and_no_later(gw, signer):
    just_expired = signer.token(exp=int(time.time()) - 2)  # within --token-leeway 5
    long_expired = signer.token(exp=int(time.time()) - 10)

    assert gw.get("/demo/x", headers=bearer(just_expired)).status_code == 200
    assert cause(gw.get("/demo/x", headers=bearer(long_expired))) == "token-expired"


def test_a_cached_token_is_refused_once_it_expires(gw, signer):
    token = signer.token(exp=int(time.time()) - 5 + 3)  # leeway 5: valid for about 3 more seconds

    assert gw.get("/demo/x", headers=bearer(token)).status_code == 200
    time.sleep(4)
    assert cause(gw.get("/demo/x", headers=bearer(token))) == "token-expired"


def test_revoking_a_jti_or_a_client_refuses_tokens_already_verified_and_cached(gw, signer):
    one, other = signer.token(), signer.token()
    assert gw.get("/demo/x", headers=bearer(one)).status_code == 200
    assert gw.get("/demo/x", headers=bearer(other)).status_code == 200
    exp = int(time.time()) + 900

    assert gw.push([change(2, "oauth_token", jti_of(one), {"jti": jti_of(one), "client_id": CLIENT_ID, "exp": exp})],
                   1, 2).status_code == 200  # fmt: skip
    assert cause(gw.get("/demo/x", headers=bearer(one))) == "token-revoked"
    assert gw.get("/demo/x", headers=bearer(other)).status_code == 200

    assert gw.push([change(3, "oauth_client", CLIENT_ID, {"client_id": CLIENT_ID, "application_id": 5, "until": exp})],
                   2, 3).status_code == 200  # fmt: skip
    assert cause(gw.get("/demo/x", headers=bearer(other))) == "token-revoked"
    assert cause(gw.get("/demo/x", headers=bearer(signer.token()))) == "token-revoked"


def test_a_cancelled_subscription_refuses_the_token(gw, signer):
    token = signer.token()
    assert gw.get("/demo/x", headers=bearer(token)).status_code == 200

    gw.push([change(2, "subscription", 7, subscription_entry(7, api_id=1, status="cancelled"))], 1, 2)

    assert cause(gw.get("/demo/x", headers=bearer(token))) == "forbidden-api"


def test_signing_key_rotation_accepts_both_keys_during_the_overlap_and_refuses_the_old_after_it(gw, signer):
    new = Signer()
    old_token = signer.token()
    assert gw.get("/demo/x", headers=bearer(old_token)).status_code == 200
    assert gw.get("/demo/x", headers=bearer(new.token())).status_code == 401  # not published yet

    gw.push([change(2, "signing_key", new.kid, new.jwk())], 1, 2)
    assert gw.get("/demo/x", headers=bearer(old_token)).status_code == 200
    assert gw.get("/demo/x", headers=bearer(new.token())).status_code == 200

    gw.push([change(3, "signing_key", signer.kid, op="delete")], 2, 3)
    assert cause(gw.get("/demo/x", headers=bearer(old_token))) == "token-invalid"  # cached, yet refused
    assert cause(gw.get("/demo/x", headers=bearer(signer.token()))) == "token-invalid"
    assert gw.get("/demo/x", headers=bearer(new.token())).status_code == 200


def test_tokens_share_the_subscriptions_quota_with_the_applications_keys(start_gateway, upstream, signer):
    key = key_entry()
    plans = [plan_entry(quota_per_day=3)]
    gw = start_gateway(snapshot(1, [api_entry(upstream)], plans=plans, keys=[key], oauth=oauth_member(signer)))
    token = signer.token()

    answers = [gw.get("/demo/x", key.secret).status_code, gw.get("/demo/x", headers=bearer(token)).status_code,
               gw.get("/demo/x", key.secret).status_code, gw.get("/demo/x", headers=bearer(token))]  # fmt: skip

    assert answers[:3] == [200, 200, 200]
    assert answers[3].status_code == 429 and cause(answers[3]) == "quota-exceeded"


def test_token_requests_are_logged_with_their_client_and_application(gw, signer):
    gw.get("/demo/ok", headers=bearer(signer.token()))
    gw.get("/demo/no", headers=bearer(signer.token(scope="api2")))

    records = gw.wait_records(2)

    admitted = next(r for r in records if r["p"] == "/demo/ok")
    refused = next(r for r in records if r["p"] == "/demo/no")
    # the usual (unescaped) record carries the client id's first 20 characters where a key's prefix goes
    assert (admitted["key"], admitted["app"], admitted["org"], admitted["sub"]) == (CLIENT_ID[:20], 5, 2, 7)
    # a refusal's record (escaped format) has the whole client id
    assert (refused["key"], refused["cl"], refused["dc"]) == ("", CLIENT_ID, "token-scope")


def test_invalid_tokens_count_towards_the_invalid_credential_throttle(start_gateway, upstream, signer):
    gw = start_gateway(snapshot(1, [api_entry(upstream)], oauth=oauth_member(signer)),
                       extra=["--invalid-key-limit", "3"])  # fmt: skip
    valid = signer.token()
    assert gw.get("/demo/x", headers=bearer(valid)).status_code == 200

    statuses = [gw.get("/demo/x", headers=bearer(Signer().token())).status_code for _ in range(4)]

    assert statuses == [401, 401, 401, 429]
    assert gw.get("/demo/x", headers=bearer(valid)).status_code == 200  # verified before: no signature to throttle


def test_a_gateway_without_oauth_config_refuses_tokens_as_invalid(start_gateway, upstream, signer):
    gw = start_gateway(snapshot(1, [api_entry(upstream)]))

    assert cause(gw.get("/demo/x", headers=bearer(signer.token()))) == "token-invalid"


def test_a_key_request_cannot_claim_a_client(start_gateway, upstream, signer):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key], oauth=oauth_member(signer)))

    r = gw.get("/demo/x", key.secret, headers={"X-Portico-Client": CLIENT_ID})

    assert r.status_code == 200
    assert "x-portico-client" not in r.json()["headers"]
