"""Who shares a plan's counters (issue #15): the plan page and the catalog API say it in words, the services refuse
unknown scopes, and gateways receive the scopes with the plan."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from gateway_sync.models import ConfigChange
from gateway_sync.snapshot import build_snapshot
from portal.models import Plan
from portal.services.catalog import plan_save
from tests.factories import PlanFactory
from tests.portal.pages_helpers import text

SHARED_QUOTA = "Quota shared by all your organisation's applications."
SHARED_RATE = "Rate limit shared by all your organisation's keys and OAuth clients."


@pytest.fixture
def team_plan(api: Any) -> Plan:
    return PlanFactory(api=api, name="Team", slug="team", quota_scope="organisation", rate_scope="organisation")


def test_the_plan_page_says_in_words_who_shares_each_plans_limits(alice_client, api, free_plan, team_plan) -> None:
    page = html.unescape(text(alice_client.get(f"/catalog/{api.slug}/")))

    assert SHARED_QUOTA in page and SHARED_RATE in page  # the Team plan
    assert "Quota counted per application." in page  # the Free plan
    assert "Rate limit applies to each key or OAuth client separately." in page


def test_a_plan_without_limits_has_nothing_to_share(api) -> None:
    plan = PlanFactory.build(api=api, rate_per_second=None, rate_per_minute=None, quota_per_day=None,
                             quota_per_month=None, quota_scope="organisation")  # fmt: skip
    assert plan.sharing_in_words() == "No limits to share."


def test_the_catalog_api_gives_the_scopes_and_the_words(bob_api, api, free_plan, team_plan) -> None:
    plans = {p["slug"]: p for p in bob_api.get(f"/api/v1/apis/{api.slug}/").json()["plans"]}

    assert (plans["team"]["quota_scope"], plans["team"]["rate_scope"]) == ("organisation", "organisation")
    assert plans["team"]["sharing"] == f"{SHARED_QUOTA} {SHARED_RATE}"
    assert (plans["free"]["quota_scope"], plans["free"]["rate_scope"]) == ("application", "key")


def test_an_unknown_scope_is_refused_by_the_service(staff, api) -> None:
    plan = PlanFactory.build(api=api, slug="odd", quota_scope="planet")
    with pytest.raises(ValidationError) as refused:
        plan_save(actor=staff, plan=plan)
    assert "quota_scope" in refused.value.message_dict


def test_gateways_receive_the_scopes_in_the_snapshot_and_in_the_plans_change(staff, api, free_plan) -> None:
    free_plan.quota_scope = Plan.QuotaScope.ORGANISATION
    plan_save(actor=staff, plan=free_plan)

    change = ConfigChange.objects.filter(kind=ConfigChange.Kind.PLAN, object_id=str(free_plan.pk)).latest("version")
    (entry,) = [p for p in build_snapshot(version=1)["plans"] if p["id"] == free_plan.pk]
    assert (change.data["quota_scope"], change.data["rate_scope"]) == ("organisation", "key")
    assert (entry["quota_scope"], entry["rate_scope"]) == ("organisation", "key")
