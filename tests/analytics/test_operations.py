"""Usage by endpoint at ingest: requests matched to their API's OpenAPI operations, "other" for anything else, and
the rollups' operation dimension bounded whatever paths clients send (issue #13)."""

from __future__ import annotations

import random
import string
from typing import Any

import pytest
from django.db.models import Sum
from django.utils import timezone

from analytics.models import UsageRollup
from analytics.services.ingest import batch_ingest
from analytics.services.operations import matcher_compile, operation_matchers, path_normalise
from portal.models import Api
from tests.support.access_log import batch, record

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "paths": {
        "/users": {"get": {}, "post": {}},
        "/users/{id}": {"get": {}, "delete": {}, "parameters": []},
        "/users/me": {"get": {}},
        "/users/{id}/posts/{post}": {"get": {}},
        "/files/{name}.{ext}": {"get": {}},
        "/health": {"summary": "no operation here"},
        "not-a-path": {"get": {}},
    },
}


def _matcher(prefix: str = "/weather", spec: Any = SPEC) -> Any:
    return matcher_compile(prefix=prefix, document=spec)


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("GET", "/weather/users", "GET /users"),
        ("POST", "/weather/users", "POST /users"),
        ("GET", "/weather/users/1", "GET /users/{id}"),
        ("GET", "/weather/users/2", "GET /users/{id}"),
        ("DELETE", "/weather/users/abc", "DELETE /users/{id}"),
        ("GET", "/weather/users/me", "GET /users/me"),  # concrete before templated
        ("DELETE", "/weather/users/me", "DELETE /users/{id}"),  # /users/me declares no DELETE; the template does
        ("HEAD", "/weather/users/7", "GET /users/{id}"),  # HEAD is served by GET
        ("GET", "/weather/users/7/posts/9", "GET /users/{id}/posts/{post}"),
        ("GET", "/weather/files/report.pdf", "GET /files/{name}.{ext}"),
        ("GET", "/weather//users/%31", "GET /users/{id}"),  # normalised as nginx routes it
        ("GET", "/weather/users/x/../1", "GET /users/{id}"),
        ("PUT", "/weather/users/1", "other"),  # the path exists, the method does not
        ("GET", "/weather/users/", "other"),  # an empty parameter matches nothing
        ("GET", "/weather/users/1/extra", "other"),
        ("GET", "/weather/health", "other"),  # a path item without operations
        ("GET", "/weatherman/users", "other"),  # not under the prefix on a segment boundary
        ("BREW", "/weather/users", "other"),
    ],
)
def test_a_request_is_matched_to_its_operation_or_other(method: str, path: str, operation: str) -> None:
    assert _matcher().operation(method, path) == operation


def test_an_api_at_the_root_prefix_and_malformed_documents() -> None:
    assert _matcher("/").operation("GET", "/users/5") == "GET /users/{id}"
    for spec in (None, [], {"paths": []}, {"paths": {"/x": "y"}}, "{}"):
        assert _matcher(spec=spec).operation("GET", "/weather/x") == "other"


def test_path_normalisation_follows_nginx() -> None:
    assert path_normalise("/a//b/./c/../d") == "/a/b/d"
    assert path_normalise("/a/%2e%2e/b") == "/b"
    assert path_normalise("/a/b/..") == "/a/"
    assert path_normalise("/../../x") == "/x"
    assert path_normalise("/a%20b?q=1") == "/a b"


@pytest.mark.smoke
def test_matchers_are_compiled_once_and_recompiled_when_the_spec_changes(api: Api) -> None:
    api.openapi_document = SPEC
    api.save()
    first = operation_matchers([api.pk, 10**9])
    assert set(first) == {api.pk}  # an unknown id has no matcher
    assert operation_matchers([api.pk])[api.pk] is first[api.pk]  # cached

    api.openapi_document = {"paths": {"/orders/{order}": {"get": {}}}}
    api.save()
    again = operation_matchers([api.pk])[api.pk]
    assert again is not first[api.pk]
    assert again.operation("GET", f"{api.path_prefix}/orders/3") == "GET /orders/{order}"
    assert again.operation("GET", f"{api.path_prefix}/users/3") == "other"


def _operations(ids: dict[str, Any], granularity: str = "minute") -> dict[str, int]:
    rows = (
        UsageRollup.objects.filter(granularity=granularity, application_id=ids["app"])
        .values("operation")
        .annotate(n=Sum("requests"))
    )
    return {row["operation"]: row["n"] for row in rows}


@pytest.fixture
def spec_api(api: Api) -> Api:
    api.openapi_document = SPEC
    api.save()
    return api


@pytest.mark.smoke
def test_users_1_and_users_2_roll_up_into_one_operation(gateway, ids, spec_api) -> None:
    now = timezone.now().replace(second=30, microsecond=0)
    prefix = spec_api.path_prefix
    records = [record(ids, t=now.timestamp() - 1, p=f"{prefix}/users/{n}") for n in (1, 2, 2, 3)]
    records.append(record(ids, t=now.timestamp() - 1, p=f"{prefix}/users", m="POST", s=201))

    batch_ingest(gateway_id=gateway.pk, batch=batch(1, records), now=now)

    for granularity in ("minute", "hour", "day"):
        assert _operations(ids, granularity) == {"GET /users/{id}": 4, "POST /users": 1}
    assert UsageRollup.objects.filter(granularity="minute", operation="GET /users/{id}").count() == 1


@pytest.mark.smoke
def test_random_paths_and_methods_add_no_rollup_rows_beyond_other(gateway, ids, spec_api) -> None:
    now = timezone.now().replace(second=30, microsecond=0)
    t = now.timestamp() - 1
    rng = random.Random(13)
    prefix = spec_api.path_prefix
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, [record(ids, t=t, p=f"{prefix}/users/1")]), now=now)
    rows_before = UsageRollup.objects.count()

    def junk() -> str:
        return "/" + "/".join(
            "".join(rng.choices(string.ascii_letters + "%./{}", k=8)) for _ in range(rng.randint(1, 6))
        )

    records = [record(ids, t=t, p=prefix + junk()) for _ in range(500)]
    records += [record(ids, t=t, p=junk()) for _ in range(100)]  # not even under the prefix
    records += [record(ids, t=t, m="".join(rng.choices(string.ascii_uppercase, k=7)), p=f"{prefix}/users/1")]
    batch_ingest(gateway_id=gateway.pk, batch=batch(2, records), now=now)

    # One new group per granularity ("other", same minute, identity and status class), whatever the paths were.
    assert UsageRollup.objects.count() == rows_before + 3
    assert _operations(ids) == {"GET /users/{id}": 1, "other": 601}


def test_exactly_once_holds_with_the_operation_dimension(gateway, ids, spec_api) -> None:
    rng = random.Random(7)
    now = timezone.now().replace(second=30, microsecond=0)
    prefix = spec_api.path_prefix
    paths = [f"{prefix}/users/{n}" for n in range(20)] + [f"{prefix}/users", f"{prefix}/nope", f"{prefix}/users/me"]
    batches = [
        batch(n, [record(ids, t=now.timestamp() - rng.random() * 3000, p=rng.choice(paths)) for _ in range(40)])
        for n in range(1, 11)
    ]
    deliveries = batches + rng.sample(batches, 6)
    rng.shuffle(deliveries)

    for delivered in deliveries:
        batch_ingest(gateway_id=gateway.pk, batch=delivered, now=now)

    matcher, expected = _matcher(prefix), {}
    for b in batches:
        for r in b["records"]:
            operation = matcher.operation(r["m"], r["p"])
            expected[operation] = expected.get(operation, 0) + 1
    assert set(expected) == {"GET /users/{id}", "GET /users", "GET /users/me", "other"}
    assert sum(expected.values()) == 400
    for granularity in ("minute", "hour", "day"):
        assert _operations(ids, granularity) == expected


def test_traffic_without_a_known_api_has_no_operation(gateway, ids, spec_api) -> None:
    now = timezone.now().replace(second=30, microsecond=0)
    records = [
        record(ids | {"api": None}, t=now.timestamp() - 1, p="/nowhere/users/1"),
        record(ids | {"api": 10**9}, t=now.timestamp() - 1, p=f"{spec_api.path_prefix}/users/1"),  # no such API
    ]
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, records), now=now)

    assert set(UsageRollup.objects.values_list("api_id", "operation")) == {(0, "")}


def test_auth_refusals_and_rate_limits_are_counted_apart(gateway, ids, spec_api) -> None:
    now = timezone.now().replace(second=30, microsecond=0)
    t = now.timestamp() - 1
    statuses = [200, 401, 403, 403, 429, 404, 500]
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, [record(ids, t=t, s=s) for s in statuses]), now=now)

    sums = UsageRollup.objects.filter(granularity="day").aggregate(
        auth=Sum("auth_failures"), throttled=Sum("throttled"), errors=Sum("errors"), requests=Sum("requests")
    )
    assert sums == {"auth": 3, "throttled": 1, "errors": 1, "requests": 7}
