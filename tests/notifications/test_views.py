"""Email preferences on the account pages, and the one-click unsubscribe link (RFC 8058) that needs no login."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from notifications.models import Kind, OptOut
from notifications.services import unsubscribe_token


def test_preferences_are_all_on_by_default_and_one_kind_can_be_turned_off(alice_client, alice) -> None:
    url = reverse("notifications:preferences")
    page = alice_client.get(url)
    assert page.status_code == 200 and page.content.count(b"checked") == len(Kind.choices)

    kept_on = {kind: "on" for kind in Kind.values if kind != "key_changed"}
    answer = alice_client.post(url, kept_on)

    assert answer.status_code == 302
    assert list(OptOut.objects.filter(user=alice).values_list("kind", flat=True)) == ["key_changed"]
    assert alice_client.get(url).content.count(b"checked") == len(Kind.choices) - 1


def test_preferences_need_a_login(client) -> None:
    assert client.get(reverse("notifications:preferences")).status_code == 302


def test_the_unsubscribe_link_confirms_on_get_and_unsubscribes_on_a_one_click_post_without_cookies(alice) -> None:
    url = reverse("notifications:unsubscribe", args=[unsubscribe_token(user_id=alice.pk, kind="quota")])
    browserless = Client(enforce_csrf_checks=True)  # a mail client: no session, no CSRF cookie

    confirm = browserless.get(url)
    assert confirm.status_code == 200 and b"Unsubscribe" in confirm.content
    assert not OptOut.objects.filter(user=alice).exists()  # a link scanner's GET changes nothing

    done = browserless.post(url, {"List-Unsubscribe": "One-Click"})

    assert done.status_code == 200 and b"no longer receive" in done.content
    assert list(OptOut.objects.filter(user=alice).values_list("kind", flat=True)) == ["quota"]
    assert browserless.post(url).status_code == 200  # twice is harmless


def test_a_forged_or_altered_unsubscribe_token_is_404_and_changes_nothing(alice, bob) -> None:
    token = unsubscribe_token(user_id=alice.pk, kind="quota")
    for bad in ("nonsense", token[:-2] + "xx", token.replace(":", ";", 1)):
        url = reverse("notifications:unsubscribe", args=[bad])
        assert Client().post(url).status_code == 404
    assert not OptOut.objects.exists()
