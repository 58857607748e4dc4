"""Redaction at the gateway (docs/redaction.md): the access log and nginx's error log never hold an API's named
fields or detector hits, JSON responses are masked for APIs that ask, and APIs without rules log as before."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from redaction.detectors import Rules, mask_url
from tests.redaction.cases import CASES, URLS
from tests.support.ports import free_port
from tests.support.snapshots import api_entry, key_entry, snapshot, subscription_entry
from tests.support.waiting import wait_until

RULES = {"names": ["card_number", "password"], "cards": True, "national_ids": True, "emails": True, "responses": False}
CARD, SSN, EMAIL, NINO, PASSWORD = "4111111111111111", "123-45-6789", "ana.silva@example.com", "AB123456C", "hunter2xyz"
CARD_FIELD_VALUE = "opaque-77"
SECRETS = (CARD, SSN, EMAIL, quote(EMAIL, safe=""), NINO, PASSWORD)


def _files(root: Path) -> list[Path]:
    return [
        p for p in root.rglob("*") if p.is_file() and (p.suffix == ".log" or "spool" in p.parts or "logs" in p.parts)
    ]


def _found(root: Path) -> list[tuple[str, str]]:
    return [(s, str(p)) for p in _files(root) for s in SECRETS if s.encode() in p.read_bytes()]


def test_paths_lose_sensitive_values_in_the_access_log(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream, redaction=RULES)], keys=[key]))

    paths = [
        f"/demo/pay/{CARD}",
        f"/demo/users/{quote(EMAIL, safe='')}/orders",
        f"/demo/ids/{SSN}/{NINO}",
        f"/demo/card_number/{PASSWORD}",
        f"/demo/q?password={PASSWORD}&to={EMAIL}",
    ]
    answers = [gw.get(p, key.secret) for p in paths] + [gw.get(f"/demo/pay/{CARD}")]  # the last one refused
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 401]
    # the upstream still receives what the client sent: redaction is about what Portico keeps
    assert answers[0].json()["path"] == f"/pay/{CARD}"

    records = gw.wait_records(len(paths) + 1)
    assert [r["p"] for r in records] == [
        "/demo/pay/************1111",
        "/demo/users/[email]/orders",
        "/demo/ids/[ssn]/[nino]",
        "/demo/card_number/[redacted]",
        "/demo/q",
        "/demo/pay/************1111",
    ]
    assert _found(gw.runtime_dir) == []


def test_the_gateway_masks_like_the_platform(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream, redaction=RULES)], keys=[key]))
    paths = [f"/demo/c/{quote(text, safe='')}" for text, detectors, _ in CASES if len(detectors) == 3]
    for path in paths:
        assert gw.get(path, key.secret).status_code == 200
    records = gw.wait_records(len(paths))
    rules = Rules(names=frozenset(RULES["names"]), cards=True, national_ids=True, emails=True)
    assert [r["p"] for r in records] == [mask_url(path, rules) for path in paths]


def test_the_gateway_masks_urls_like_the_platform(start_gateway, upstream):
    key = key_entry()
    names = sorted({name for _, case_names, _ in URLS for name in case_names})
    rules = {**RULES, "names": names}
    gw = start_gateway(snapshot(1, [api_entry(upstream, path_prefix="/shop", redaction=rules)], keys=[key]))
    for url, _, _ in URLS:
        assert gw.get(url, key.secret).status_code == 200
    records = gw.wait_records(len(URLS))
    platform = Rules(names=frozenset(names), cards=True, national_ids=True, emails=True)
    assert [r["p"] for r in records] == [mask_url(url.split("?")[0], platform) for url, _, _ in URLS]


def test_no_error_line_carries_a_sensitive_value(start_gateway, upstream):
    key = key_entry()
    dead = f"http://127.0.0.1:{free_port()}"
    apis = [api_entry(dead, redaction=RULES), api_entry(dead, id=2, path_prefix="/plain")]
    subs = [subscription_entry(), subscription_entry(id=8, api_id=2)]
    gw = start_gateway(snapshot(1, apis, subscriptions=subs, keys=[key]))

    assert gw.get(f"/demo/pay/{CARD}?to={EMAIL}", key.secret).status_code == 502
    assert gw.get(f"/demo/x?password={PASSWORD}", key.secret).status_code == 502
    assert gw.get("/demo/x", key.secret, headers={"Referer": f"https://shop.example/?ssn={SSN}"}).status_code == 502
    assert gw.get("/plain/clean", key.secret).status_code == 502  # no rules: error lines as before
    gw.wait_records(4)
    assert 'request: "GET /plain/clean HTTP/1.1"' in (gw.runtime_dir / "logs" / "error.log").read_text()
    assert _found(gw.runtime_dir) == []


def test_an_api_without_rules_logs_paths_as_they_are(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))
    assert gw.get(f"/demo/pay/{CARD}", key.secret).status_code == 200
    assert gw.wait_records(1)[0]["p"] == f"/demo/pay/{CARD}"


@pytest.mark.parametrize("names", [["card_number", "/profile/password"], []])
def test_json_responses_are_masked_for_apis_that_ask(start_gateway, upstream, names):
    key = key_entry()
    rules = {**RULES, "names": [n.rsplit("/", 1)[-1] for n in names], "responses": True}
    gw = start_gateway(snapshot(1, [api_entry(upstream, redaction=rules)], keys=[key]))
    body = {"card_number": "x-1", "profile": {"password": PASSWORD, "mail": EMAIL}, "note": f"card {CARD}", "n": 42}

    answer = gw.request("POST", "/demo/orders", key.secret, json=body)

    assert answer.status_code == 200
    assert answer.headers["X-Portico-Redaction"] == "applied"
    echoed = answer.json()  # still valid JSON
    assert echoed["json"]["note"] == "card ************1111"
    assert echoed["json"]["profile"]["mail"] == "[email]"
    assert echoed["json"]["n"] == 42
    if names:
        assert echoed["json"]["card_number"] == "[redacted]"
        assert echoed["json"]["profile"]["password"] == "[redacted]"
    else:
        assert echoed["json"]["card_number"] == "x-1"
    assert CARD not in answer.text and EMAIL not in answer.text
    assert int(answer.headers.get("Content-Length", len(answer.content))) == len(answer.content)


def test_responses_of_apis_without_response_mode_pass_untouched(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream, redaction=RULES)], keys=[key]))
    answer = gw.request("POST", "/demo/orders", key.secret, json={"note": CARD})
    assert "X-Portico-Redaction" not in answer.headers
    assert json.loads(answer.json()["body"]) == {"note": CARD}


def test_adversarial_paths_are_scanned_quickly(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream, redaction=RULES)], keys=[key]))
    # request lines must fit nginx's 8 KB header buffer: runs that make backtracking patterns explode
    paths = ["4-" * 1500, "a." * 1500 + "@", "123-45-" * 400, "AB12 " * 500, "9" * 3000]
    paths = ["/demo/" + p for p in paths]
    for path in paths:
        answer = gw.get(path, key.secret)
        assert answer.status_code == 200
        assert answer.elapsed.total_seconds() < 1.0


def test_a_response_over_the_buffer_is_masked_chunk_by_chunk_and_counted(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream, redaction={**RULES, "responses": True})], keys=[key]))
    # the echo sends the body twice (raw and decoded): past the 1 MiB buffer, with addresses all the way through
    items = [f"{i} {EMAIL} " + "x" * 300 for i in range(2200)]
    answer = gw.request("POST", "/demo/big", key.secret, json={"items": items, "card_number": CARD_FIELD_VALUE})

    assert answer.status_code == 200
    echoed = answer.json()["json"]  # still valid JSON
    assert echoed["items"][1234] == "1234 [email] " + "x" * 300
    assert EMAIL not in answer.text
    assert echoed["card_number"] == "[redacted]"
    wait_until(lambda: gw.status()["counters"].get("redaction_partial") == 1, timeout=5, what="counted")
