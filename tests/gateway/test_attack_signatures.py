"""Attack signatures at the gateway (docs/protection.md): SQL injection, path traversal and script injection in the
query, the path and the body are refused with 403 naming the signature and where, never the value; report mode
passes and logs the finding; APIs with signatures off are untouched; and no pattern backtracks catastrophically."""

from __future__ import annotations

import time

import pytest

from tests.support.openapi_docs import validation
from tests.support.snapshots import api_entry, change, key_entry, snapshot, subscription_entry

# what a scan of any of these may take at most, measured per request at the client (a regex with catastrophic
# backtracking takes seconds to hours on them; a linear scan of 100 KB takes about a millisecond)
TIME_BOUND = 0.5


def cause(response) -> str:
    return response.json()["type"].rsplit("/", 1)[1]


@pytest.fixture
def key():
    return key_entry()


@pytest.fixture
def gw(start_gateway, upstream, key):
    apis = [
        api_entry(upstream, 1, "/shop", methods=["GET", "POST"], signatures="enforce"),
        api_entry(upstream, 2, "/plain", methods=["GET", "POST"]),
    ]
    subs = [subscription_entry(7, api_id=1), subscription_entry(8, api_id=2)]
    return start_gateway(snapshot(1, apis, subscriptions=subs, keys=[key]))


QUERY_ATTACKS = [
    ("q", "' OR '1'='1", "sql-injection"),
    ("q", "1 union all select password from users", "sql-injection"),
    ("id", "1; DROP TABLE users", "sql-injection"),
    ("id", "1 and sleep(5)", "sql-injection"),
    ("name", "admin'--", "sql-injection"),
    ("file", "../../etc/passwd", "path-traversal"),
    ("file", "..\\..\\windows\\win.ini", "path-traversal"),
    ("file", "%2e%2e%2fsecret", "path-traversal"),  # encoded twice: one decoding leaves %2e%2e%2f
    ("comment", "<script>alert(1)</script>", "script-injection"),
    ("url", "JavaScript:alert(1)", "script-injection"),
    ("html", '<img src=x onerror="alert(1)">', "script-injection"),
]


@pytest.mark.parametrize(("name", "value", "signature"), QUERY_ATTACKS)
def test_an_attack_in_a_query_argument_is_refused_with_the_signature_and_the_argument(gw, key, name, value, signature):
    r = gw.get("/shop/search", key.secret, params={name: value})

    assert r.status_code == 403, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    assert (cause(r), r.json()["signature"], r.json()["pointer"]) == ("attack-signature", signature, f"/query/{name}")
    assert value not in r.text


def test_an_argument_name_is_scanned_too(gw, key):
    r = gw.get("/shop/search?%3Cscript%3E=1", key.secret)

    assert (r.status_code, r.json()["pointer"]) == (403, "/query/<script>")


@pytest.mark.parametrize(
    ("path", "signature"),
    [
        ("/shop/files/a/b/..%2F..%2Fsecret", "path-traversal"),  # nginx's $uri resolves it; the request line keeps it
        ("/shop/files/%252e%252e%252fsecret", "path-traversal"),
        ("/shop/files/%3Cscript%3E", "script-injection"),
        ("/shop/items/1%27%20OR%20%271%27=%271", "sql-injection"),
    ],
)
def test_an_attack_in_the_path_is_refused(gw, key, path, signature):
    r = gw.get(path, key.secret)

    assert (r.status_code, r.json()["signature"], r.json()["pointer"]) == (403, signature, "/path"), r.text


@pytest.mark.parametrize(
    ("kw", "signature", "pointer"),
    [
        ({"json": {"query": "x' or 1=1 --"}}, "sql-injection", "/body"),
        ({"json": {"bio": "<script src=//evil></script>"}}, "script-injection", "/body"),
        ({"data": {"path": "../../../etc/shadow"}}, "path-traversal", "/body/path"),  # a form, argument by argument
        ({"data": "<iframe src=x>", "headers": {"Content-Type": "text/plain"}}, "script-injection", "/body"),
    ],
)
def test_an_attack_in_the_body_is_refused(gw, key, kw, signature, pointer):
    r = gw.request("POST", "/shop/orders", key.secret, **kw)

    assert (r.status_code, r.json()["signature"], r.json()["pointer"]) == (403, signature, pointer), r.text


def test_benign_look_alikes_pass(gw, key):
    answers = [
        gw.get("/shop/search", key.secret, params={"name": "O'Brien"}),
        gw.get("/shop/search?q=1+2", key.secret),
        gw.get("/shop/files/report..final.pdf", key.secret),
        gw.get("/shop/search", key.secret, params={"q": "select a union of two sets", "sort": "-created"}),
        gw.get("/shop/search", key.secret, params={"q": "rock and roll", "range": "1..10", "f": "a...b"}),
        gw.get("/shop/search", key.secret, params={"q": "x < y and y > z", "email": "o'neil@example.com"}),
        gw.request("POST", "/shop/notes", key.secret, json={"text": "the script ran; update the schedule"}),
        gw.request("POST", "/shop/notes", key.secret, json={"lang": "javascript", "on": "<b>bold</b>"}),
        gw.request("POST", "/shop/notes", key.secret, data={"name": "Dr. O'Neil", "note": "1=1 is true"}),
    ]

    assert [r.status_code for r in answers] == [200] * len(answers), [r.text for r in answers]


def test_a_refused_request_is_logged_as_a_denial_without_the_value(gw, key):
    gw.get("/shop/search", key.secret, params={"q": "' or 'a'='a"})

    (rec,) = gw.wait_records(1)
    assert (rec["s"], rec["dc"], rec["api"], rec["sub"]) == (403, "attack-signature", 1, 7)
    assert "or" not in rec["p"] and not rec.get("vf")


def test_an_api_with_signatures_off_is_unchanged(gw, key):
    r = gw.get("/plain/files/%3Cscript%3E", key.secret, params={"q": "' OR '1'='1", "f": "../../etc/passwd"})
    posted = gw.request("POST", "/plain/x", key.secret, json={"a": "<script>"})

    assert (r.status_code, posted.status_code) == (200, 200)


def test_report_mode_passes_and_logs_the_finding(start_gateway, upstream, key):
    api = api_entry(upstream, 1, "/shop", methods=["GET", "POST"], signatures="report")
    gw = start_gateway(snapshot(1, [api], keys=[key]))

    query = gw.get("/shop/search", key.secret, params={"q": "1 UNION SELECT 1"})
    body = gw.request("POST", "/shop/orders", key.secret, json={"note": "<script>"})
    clean = gw.get("/shop/items/3", key.secret)
    # the escaped log format (a client request id with a quote)
    quoted = gw.get("/shop/files/..%2Fx", key.secret, headers={"X-Request-Id": 'q"1'})

    assert [r.status_code for r in (query, body, clean, quoted)] == [200, 200, 200, 200]
    records = {r["p"]: r for r in gw.wait_records(4)}
    assert records["/shop/search"]["vf"] == "attack-signature||sql-injection|/query/q"
    assert records["/shop/orders"]["vf"] == "attack-signature||script-injection|/body"
    assert "vf" not in records["/shop/items/3"]
    assert records["/shop/files/..%2Fx"]["vf"] == "attack-signature||path-traversal|/path"


def test_signatures_run_before_validation_and_report_keeps_the_first_finding(start_gateway, upstream, key):
    api = api_entry(upstream, 1, "/shop", methods=["GET"], signatures="report", validation=validation("report"))
    enforced = api_entry(
        upstream, 2, "/pets-api", methods=["GET"], signatures="enforce", validation=validation("enforce")
    )
    gw = start_gateway(
        snapshot(
            1,
            [api, enforced],
            subscriptions=[subscription_entry(7, api_id=1), subscription_entry(8, api_id=2)],
            keys=[key],
        )
    )

    reported = gw.get("/shop/owners", key.secret, params={"q": "<script>"})  # also an unknown operation
    refused = gw.get("/pets-api/owners", key.secret, params={"q": "<script>"})

    assert reported.status_code == 200
    assert (refused.status_code, cause(refused)) == (403, "attack-signature")
    records = {r["p"]: r for r in gw.wait_records(2)}
    assert records["/shop/owners"]["vf"] == "attack-signature||script-injection|/query/q"


def test_switching_the_mode_by_a_change_reaches_the_gateway(start_gateway, upstream, key):
    api = api_entry(upstream, 1, "/shop", methods=["GET"])
    gw = start_gateway(snapshot(1, [api], keys=[key]))
    attack = {"q": "' or '1'='1"}
    assert gw.get("/shop/search", key.secret, params=attack).status_code == 200

    gw.push([change(2, "api", 1, {**api, "signatures": "enforce"})], 1, 2)
    gw.wait_ready(version=2)
    enforced = gw.get("/shop/search", key.secret, params=attack)
    gw.push([change(3, "api", 1, api)], 2, 3)
    gw.wait_ready(version=3)
    off_again = gw.get("/shop/search", key.secret, params=attack)

    assert (enforced.status_code, off_again.status_code) == (403, 200)


# bytes of adversarial text per body: the largest body nginx keeps in memory (client_body_buffer_size 64k), which is
# the largest the gateway scans (a body buffered to a file is not scanned: docs/protection.md)
N = 60_000

ADVERSARIAL = {
    # each aims at a pattern's repetitions: many near-matches that fail late, at every start position
    "quote-or": ("'or " * N)[:N],
    "quote-spaces": "'" + " " * N,
    "union-spaces": ("union" + " " * 19) * (N // 24),
    "or-digits": ("or " + "1" * 10 + " " * 10) * (N // 23),
    "semicolon": (";" + " " * 10 + "drop" + " " * 10) * (N // 25),
    "angles": "<" * N,
    "tag-without-end": ("<a " + "x" * 97) * (N // 100),
    "on-attributes": ("<a" + " onx" * 24) * (N // 98),
    "dots": "." * N,
    "percent-runs": "%2e" * (N // 3),
    "backslashes": "\\" * N,
    "script-spaces": "<" + " " * 9 + "/" + " " * 9 + "scrip" + "t" * N,
    "javascript-spaces": ("javascript" + " " * 10) * (N // 20),
}


def _timed(send):
    started = time.monotonic()
    response = send()
    return response, time.monotonic() - started


@pytest.mark.parametrize("text", list(ADVERSARIAL.values()), ids=list(ADVERSARIAL))
def test_long_adversarial_input_is_scanned_to_its_end_within_a_time_bound(gw, key, text):
    def post(body):
        return lambda: gw.request("POST", "/shop/orders", key.secret, data=body, headers={"Content-Type": "text/plain"})

    raw, t_raw = _timed(post(text[: N - 20]))
    # an attack after the adversarial text: refused, so the scan went through all of it rather than giving up
    tail, t_tail = _timed(post(text[: N - 20] + " <script>"))
    as_json, t_json = _timed(lambda: gw.request("POST", "/shop/orders", key.secret, json={"v": text[: N // 2]}))
    query, t_query = _timed(lambda: gw.get("/shop/search", key.secret, params={"v": text[:2000]}))

    assert (tail.status_code, tail.json()["pointer"]) == (403, "/body")
    assert {raw.status_code, as_json.status_code, query.status_code} <= {200, 403}
    assert max(t_raw, t_tail, t_json, t_query) < TIME_BOUND, (t_raw, t_tail, t_json, t_query)
    assert "attack signature" not in gw.proc.error_log_since_start()  # no match gave up on PCRE's match limit
