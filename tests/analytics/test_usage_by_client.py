"""Usage of OAuth clients (access-token traffic): ingest attributes a token's records to its client (never to a key
or another application's client), and the usage page lists clients beside keys and narrows to one by `?client=`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from analytics.models import RequestEvent, UsageRollup
from analytics.services.ingest import batch_ingest
from analytics.tasks import collect_gateway_logs
from gateway_sync import secrets
from gateway_sync.models import Gateway
from gateway_sync.snapshot import build_snapshot
from keys.services.clients import oauth_client_issue
from tests.api.conftest import assert_problem
from tests.factories import ApplicationFactory
from tests.portal.pages_helpers import text
from tests.support.access_log import batch, record
from tests.support.gateway import PUSH_SECRET
from tests.support.oauth import token_for

NOW = datetime(2026, 11, 23, 12, 30, 15, tzinfo=UTC)


def token_record(ids: dict[str, Any], client_id: str, **fields: Any) -> dict[str, Any]:
    """What a gateway logs for a request with an access token: no key, the client in "cl"."""
    return record({**ids, "key": ""}, t=NOW.replace(minute=5).timestamp(), cl=client_id, **fields)


@pytest.fixture
def client_traffic(gateway: Any, ids: dict[str, Any], oauth_client: Any, api_key: Any) -> Any:
    """Three token requests (one 500) of alice's OAuth client and one key request."""
    client, _ = oauth_client
    records = [
        token_record(ids, client.client_id, s=500),
        token_record(ids, client.client_id),
        token_record(ids, client.client_id),
        record(ids, t=NOW.replace(minute=5).timestamp()),
    ]
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, records), now=NOW)
    return client


def _url(application: Any) -> str:
    return reverse("analytics:application_usage", args=[application.pk])


@time_machine.travel(NOW, tick=False)
def test_token_requests_are_counted_for_their_client_and_no_key(client_traffic: Any, api_key: Any) -> None:
    minutes = UsageRollup.objects.filter(granularity="minute")

    assert sum(minutes.filter(client_id=client_traffic.pk).values_list("requests", flat=True)) == 3
    assert sum(minutes.filter(client_id=client_traffic.pk, key_id=0).values_list("errors", flat=True)) == 1
    assert sum(minutes.filter(key_id=api_key[0].pk, client_id=0).values_list("requests", flat=True)) == 1
    # The request log shows the client id's first characters where a key's prefix would be.
    assert RequestEvent.objects.filter(key_prefix=client_traffic.client_id[:20]).count() == 3


@time_machine.travel(NOW, tick=False)
def test_another_applications_client_is_not_credited(gateway: Any, ids: dict[str, Any], charlie: Any, charlie_org: Any,
                                                     signing_key: Any) -> None:  # fmt: skip
    other = ApplicationFactory(organisation=charlie_org, name="Charlie's app", created_by=charlie)
    foreign, _ = oauth_client_issue(actor=charlie, application=other, name="Foreign")

    batch_ingest(gateway_id=gateway.pk, batch=batch(1, [token_record(ids, foreign.client_id)]), now=NOW)

    assert not UsageRollup.objects.exclude(client_id=0).exists()
    assert UsageRollup.objects.filter(granularity="minute").get().requests == 1  # still the application's traffic


@time_machine.travel(NOW, tick=False)
def test_the_usage_page_lists_clients_beside_keys_and_narrows_to_one(
    alice_client: Client, application: Any, client_traffic: Any
) -> None:
    page = text(alice_client.get(_url(application)))
    row = re.search(rf'<tr id="client-usage-{client_traffic.pk}".*?</tr>', page, re.S)
    assert row, page
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)]
    assert cells[0].startswith("Backend") and cells[1:3] == ["3", "1"]

    narrowed = alice_client.get(_url(application), {"client": client_traffic.pk, "period": "hour"})

    assert narrowed.context["chart"].total == 3
    # the endpoint table and the outcome chart narrow with it
    assert sum(o.requests for o in narrowed.context["by_operation"]) == 3
    assert 'id="client-filter"' in text(narrowed)
    assert f"?period=day&amp;client={client_traffic.pk}" in text(narrowed)


@time_machine.travel(NOW, tick=False)
def test_another_organisations_client_id_is_refused(
    alice_client: Client, application: Any, client_traffic: Any, charlie: Any, charlie_org: Any
) -> None:
    other = ApplicationFactory(organisation=charlie_org, name="Charlie's app", created_by=charlie)
    foreign, _ = oauth_client_issue(actor=charlie, application=other, name="Foreign")

    response = alice_client.get(_url(application), {"client": foreign.pk})

    assert 'id="client-error"' in text(response) and response.context["client"] is None
    assert response.context["chart"].total == 4


def test_token_traffic_through_a_real_gateway_is_the_clients_after_one_collection(
    api: Any, subscription: Any, upstream: str, start_gateway: Any, oauth_client: Any, application: Any
) -> None:
    api.upstream_url = upstream
    api.save()
    client, _ = oauth_client
    running = start_gateway(build_snapshot(version=1), extra=["--log-flush-interval", "0.05"])
    row = Gateway.objects.create(
        name="edge-1", admin_url=running.admin_url, push_secret_encrypted=secrets.encrypt(PUSH_SECRET)
    )
    bearer = {"Authorization": f"Bearer {token_for(oauth_client)}"}
    statuses = [running.get(f"/weather/items/{n}", headers=bearer).status_code for n in range(3)]
    assert statuses == [200, 200, 200]
    running.wait_records(3)

    collect_gateway_logs(row.pk)

    minutes = UsageRollup.objects.filter(granularity="minute", application_id=application.pk)
    assert sum(minutes.filter(client_id=client.pk, key_id=0).values_list("requests", flat=True)) == 3
    assert RequestEvent.objects.filter(application_id=application.pk, key_prefix=client.client_id[:20]).count() == 3


@time_machine.travel(NOW, tick=False)
def test_the_rest_usage_narrows_to_a_client_like_the_page(
    alice_api: Any, application: Any, client_traffic: Any, charlie: Any, charlie_org: Any, signing_key: Any
) -> None:
    usage = f"/api/v1/applications/{application.pk}/usage/"
    endpoints = f"{usage}endpoints/"

    assert alice_api.get(usage, {"granularity": "minute"}).json()["totals"]["requests"] == 4
    body = alice_api.get(usage, {"granularity": "minute", "client": client_traffic.pk}).json()
    assert (body["totals"]["requests"], body["totals"]["errors"]) == (3, 1)
    rows = alice_api.get(endpoints, {"granularity": "minute", "client": client_traffic.pk}).json()["results"]
    assert sum(row["requests"] for row in rows) == 3
    # another organisation's client narrows this application's rollups to nothing; a bad id is a 400 problem
    other = ApplicationFactory(organisation=charlie_org, name="Charlie's app", created_by=charlie)
    foreign, _ = oauth_client_issue(actor=charlie, application=other, name="Foreign")
    assert alice_api.get(usage, {"granularity": "minute", "client": foreign.pk}).json()["totals"]["requests"] == 0
    for bad in ("0", "x", ""):
        assert_problem(alice_api.get(usage, {"client": bad}), 400)
