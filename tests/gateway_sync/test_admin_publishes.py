"""Staff edits in the admin reach the change feed: the catalog goes through services, nothing bypasses them."""

import pytest
from django.utils import timezone

from gateway_sync.models import ConfigChange, Gateway
from gateway_sync.selectors import current_version
from portal.models import Api, Plan
from portal.services.catalog import api_delete, api_save, plan_delete, plan_save
from tests.support.registration import register

pytestmark = pytest.mark.django_db


def _new_changes(before):
    return [(c.kind, c.op, c.object_id) for c in ConfigChange.objects.filter(version__gt=before)]


def test_saving_an_api_publishes_its_routing(alice, api):
    before = current_version()
    api.upstream_url = "http://10.0.0.9:8000"
    api_save(actor=alice, api=api)
    [change] = ConfigChange.objects.filter(version__gt=before)
    assert (change.kind, change.op, change.data["upstream_url"]) == ("api", "upsert", "http://10.0.0.9:8000")


def test_plan_save_and_delete_publish_limits_and_removal(alice, api):
    before = current_version()
    plan = plan_save(actor=alice, plan=Plan(api=api, name="Gold", slug="gold", rate_per_second=7))
    plan_id = str(plan.pk)
    plan_delete(actor=alice, plan=plan)
    assert _new_changes(before) == [("plan", "upsert", plan_id), ("plan", "delete", plan_id)]


def test_deleting_an_api_publishes_it_and_its_plans_gone(alice):
    api = api_save(actor=alice, api=Api(name="Tmp", slug="tmp", path_prefix="/tmp", upstream_url="http://127.0.0.1:1"))
    plan = plan_save(actor=alice, plan=Plan(api=api, name="Free", slug="free"))
    before, ids = current_version(), (str(api.pk), str(plan.pk))
    api_delete(actor=alice, api=api)
    assert _new_changes(before) == [("api", "delete", ids[0]), ("plan", "delete", ids[1])]


def test_admin_edit_of_an_api_and_its_inline_plans_is_published(staff_client, api, free_plan):
    before = current_version()
    form = {
        "name": api.name, "slug": api.slug, "description": "", "version": "v1", "upstream_url": "http://10.1.1.1",
        "path_prefix": api.path_prefix, "host": "", "strip_prefix": "on", "methods": '["GET"]',
        "max_body_bytes": 1000, "key_header": "X-API-Key", "connect_timeout_ms": 5000, "read_timeout_ms": 30000,
        "send_timeout_ms": 30000, "openapi_document": "null", "visibility": "public", "created_at_0": "2026-01-01",
        "created_at_1": "00:00:00",
        "plans-TOTAL_FORMS": 1, "plans-INITIAL_FORMS": 1, "plans-MIN_NUM_FORMS": 0, "plans-MAX_NUM_FORMS": 1000,
        "plans-0-id": free_plan.pk, "plans-0-api": api.pk, "plans-0-name": "Free", "plans-0-slug": "free",
        "plans-0-description": "", "plans-0-rate_per_second": 3, "plans-0-price_label": "Free",
        "plans-0-is_public": "on", "plans-0-display_order": 1, "plans-0-store_failure_mode": "allow",
        "plans-0-quota_scope": "application", "plans-0-rate_scope": "key",
        "protection-TOTAL_FORMS": 0, "protection-INITIAL_FORMS": 0,
    }  # fmt: skip
    response = staff_client.post(f"/admin/portal/api/{api.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert _new_changes(before) == [("api", "upsert", str(api.pk)), ("plan", "upsert", str(free_plan.pk))]
    assert ConfigChange.objects.get(version=before + 2).data["rate_per_second"] == 3


def test_admin_cannot_delete_keys_subscriptions_or_organisations_behind_the_feed(staff_client, api_key, subscription):
    key, _ = api_key
    assert staff_client.get(f"/admin/keys/apikey/{key.pk}/delete/").status_code == 403
    assert staff_client.get(f"/admin/portal/subscription/{subscription.pk}/delete/").status_code == 403
    organisation = subscription.application.organisation
    assert staff_client.get(f"/admin/portal/organisation/{organisation.pk}/delete/").status_code == 403


def test_admin_cancel_action_publishes_the_subscription_gone(staff_client, subscription):
    before = current_version()
    response = staff_client.post(
        "/admin/portal/subscription/", {"action": "cancel", "_selected_action": [subscription.pk]}
    )
    assert response.status_code == 302
    assert _new_changes(before) == [("subscription", "delete", str(subscription.pk))]


def test_registering_a_gateway_in_the_admin_shows_its_secrets_once(staff_client):
    response = staff_client.post(
        "/admin/gateway_sync/gateway/add/", {"name": "edge-9", "admin_url": "http://10.0.0.1:8081"}
    )
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    gateway = Gateway.objects.get(name="edge-9")
    page = response.content.decode()
    assert gateway.oauth_application.client_id in page and "PORTICO_GATEWAY_PUSH_SECRET=" in page
    assert (
        "PORTICO_GATEWAY_CLIENT_SECRET"
        not in staff_client.get(f"/admin/gateway_sync/gateway/{gateway.pk}/change/").content.decode()
    )


def test_the_fleet_page_shows_health_drift_and_errors_to_staff_only(staff_client, alice_client, api_key):
    edge = register("edge-7")
    Gateway.objects.filter(pk=edge.gateway.pk).update(last_error="push answered 401 admin-unauthorized")
    page = staff_client.get("/admin/gateway_sync/gateway/fleet/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "edge-7" in text and "admin-unauthorized" in text and f"<strong>{current_version()}</strong>" in text
    assert alice_client.get("/admin/gateway_sync/gateway/fleet/").status_code == 302  # to the login


def test_the_fleet_page_flags_a_gateway_whose_clock_is_off(staff_client, db) -> None:
    off, fine = register("edge-off"), register("edge-fine")
    Gateway.objects.filter(pk=off.gateway.pk).update(clock_offset=-301.4, clock_measured_at=timezone.now())
    Gateway.objects.filter(pk=fine.gateway.pk).update(clock_offset=0.3, clock_measured_at=timezone.now())

    text = staff_client.get("/admin/gateway_sync/gateway/fleet/").content.decode()

    off_row, fine_row = (
        text[text.index(f'class="gateway-{name}"') :].split("</tr>")[0] for name in ("edge-off", "edge-fine")
    )
    assert "clock-alarm" in off_row and "-301.4 s" in off_row
    assert "clock-alarm" not in fine_row and "0.3 s" in fine_row
