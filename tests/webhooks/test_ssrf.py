"""SSRF (OWASP API7): internal targets are refused when an endpoint is registered and again at every delivery,
redirects are never followed, and answers are read with a size limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from foundation.errors import ValidationFailed
from keys.services import key_issue
from tests.support.webhook_receiver import receiver
from webhooks import services, tasks, transport
from webhooks.models import Attempt, Delivery, Endpoint

pytestmark = pytest.mark.django_db

INTERNAL = [
    "http://127.0.0.1:8000/hooks",  # plain HTTP, loopback not allowed
    "https://127.0.0.1/hooks",
    "https://localhost/hooks",  # a name that resolves to 127.0.0.1
    "https://[::1]/hooks",
    "https://169.254.169.254/latest/meta-data/",
    "https://2130706433/",  # 127.0.0.1 as one decimal number
    "https://0177.0.0.1/",  # octal
    "https://0x7f.1/",  # hexadecimal, short form
    "https://10.0.0.1/",
    "https://172.16.0.1/",
    "https://192.168.1.1/",
    "https://100.64.0.1/",  # carrier-grade NAT, not global
    "https://0.0.0.0/",
    "https://224.0.0.1/",  # multicast
    "https://240.0.0.1/",  # reserved
    "https://[fd00::1]/",  # IPv6 unique local
    "https://[fe80::1]/",  # IPv6 link-local
    "https://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "https://[::ffff:169.254.169.254]/",
]
NOT_HTTPS = [
    "ftp://hooks.example.com/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "http://hooks.example.com/",
    "https://user:password@hooks.example.com/",
    "https:///no-host",
    "https://hooks.example.com/ spaced",
]


@pytest.fixture
def loopback_off(settings):
    settings.PORTICO_WEBHOOKS_ALLOW_LOOPBACK_HTTP = False


@pytest.mark.parametrize("url", INTERNAL + NOT_HTTPS)
def test_an_internal_or_non_https_url_is_refused_at_registration(owner, loopback_off, url):
    with pytest.raises(ValidationFailed) as refused:
        services.endpoint_create(membership=owner, url=url, event_types=["key.created"])
    assert "url" in refused.value.field_errors
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize("url", ["http://localhost:8000/", "http://127.0.0.2:8000/", "http://[::1]:8000/"])
def test_with_loopback_allowed_only_http_to_127_0_0_1_itself_is_accepted(owner, url):
    with pytest.raises(ValidationFailed):
        services.endpoint_create(membership=owner, url=url, event_types=["key.created"])
    endpoint, _ = services.endpoint_create(membership=owner, url="http://127.0.0.1:8000/", event_types=["key.created"])
    assert endpoint.url == "http://127.0.0.1:8000/"


@pytest.mark.parametrize("url", INTERNAL)
def test_the_resolver_refuses_every_internal_address(url, loopback_off):
    with pytest.raises(transport.RefusedTarget):
        transport.resolve(url, allow_loopback=False)


def test_a_public_address_passes_the_check():
    target = transport.resolve("https://93.184.215.14:8443/hooks?x=1", allow_loopback=False)
    assert (target.address, target.host, target.port, target.path) == (
        "93.184.215.14",
        "93.184.215.14",
        8443,
        "/hooks?x=1",
    )


def test_a_name_resolving_to_loopback_is_refused_at_delivery_time(make_endpoint, application, alice, settings):
    """The host pointed somewhere public at registration; today its DNS answers 127.0.0.1."""
    with receiver((204, {}, b"")) as hook:
        endpoint, _ = make_endpoint(hook.url)
        Endpoint.objects.filter(pk=endpoint.pk).update(url=f"https://localhost:{hook.port}/hooks")
        key_issue(actor=alice, application=application, name="ci")
        settings.PORTICO_WEBHOOKS_ALLOW_LOOPBACK_HTTP = False
        tasks.deliver(Delivery.objects.get(endpoint=endpoint).pk)
        assert hook.received == []
    attempt = Attempt.objects.get()
    assert attempt.response_status is None and "internal address" in attempt.error
    assert Delivery.objects.get().status == Delivery.Status.PENDING  # retried later, by the same rules


def test_loopback_is_refused_at_delivery_once_the_setting_is_off(make_endpoint, application, alice, settings):
    with receiver((204, {}, b"")) as hook:
        endpoint, _ = make_endpoint(hook.url)
        key_issue(actor=alice, application=application, name="ci")
        settings.PORTICO_WEBHOOKS_ALLOW_LOOPBACK_HTTP = False
        tasks.deliver(Delivery.objects.get(endpoint=endpoint).pk)
        assert hook.received == []
    assert "https://" in Attempt.objects.get().error


def test_a_redirect_to_a_private_address_is_not_followed(make_endpoint, application, alice):
    with receiver((204, {}, b"")) as elsewhere, receiver((302, {"Location": "http://10.0.0.1/"}, b"")) as hook:
        endpoint, _ = make_endpoint(hook.url)
        Endpoint.objects.filter(pk=endpoint.pk).update(url=hook.url)
        key_issue(actor=alice, application=application, name="ci")
        tasks.deliver(Delivery.objects.get(endpoint=endpoint).pk)
        hook.answers = [(307, {"Location": elsewhere.url}, b"")]
        services.Delivery.objects.update(next_attempt_at=services.timezone.now())
        tasks.send_due()
        assert len(hook.received) == 2 and elsewhere.received == []
    assert list(Attempt.objects.values_list("response_status", flat=True)) == [302, 307]
    assert Delivery.objects.get().status == Delivery.Status.PENDING  # a redirect is a failure, to be retried


def test_an_answer_is_read_only_up_to_the_size_limit(make_endpoint, application, alice, settings):
    settings.PORTICO_WEBHOOKS_MAX_RESPONSE_BYTES = 2048
    with receiver((200, {}, b"x" * 5_000_000)) as hook:
        endpoint, _ = make_endpoint(hook.url)
        key_issue(actor=alice, application=application, name="ci")
        tasks.deliver(Delivery.objects.get(endpoint=endpoint).pk)
    attempt = Attempt.objects.get()
    assert attempt.response_status == 200 and len(attempt.response_excerpt) == services.EXCERPT_BYTES


def test_a_receiver_dripping_its_answer_cannot_hold_the_worker_past_the_time_limit(
    make_endpoint, application, alice, settings
):
    settings.PORTICO_WEBHOOKS_TIMEOUT_SECONDS = 1.0
    with dripping_receiver(seconds_per_byte=0.2, length=1000) as url:
        endpoint, _ = make_endpoint(url)
        key_issue(actor=alice, application=application, name="ci")
        started = time.monotonic()
        tasks.deliver(Delivery.objects.get(endpoint=endpoint).pk)
        elapsed = time.monotonic() - started
    attempt = Attempt.objects.get()
    assert elapsed < 2.5, elapsed  # without the limit: 1000 bytes x 0.2 s
    assert attempt.response_status == 200 and 0 < len(attempt.response_excerpt) < 20


@contextmanager
def dripping_receiver(*, seconds_per_byte: float, length: int) -> Iterator[str]:
    """Answers 200 at once, then sends its body one byte at a time."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            try:
                for _ in range(length):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(seconds_per_byte)
            except OSError:
                return  # the client hung up, as it should

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()


def test_a_sweep_over_slow_receivers_stops_starting_attempts_when_its_time_budget_is_spent(
    make_endpoint, owner, settings
):
    settings.PORTICO_WEBHOOKS_TIMEOUT_SECONDS = 0.5
    with dripping_receiver(seconds_per_byte=0.2, length=100) as url:
        endpoint, _ = make_endpoint(url)
        for _ in range(6):
            services.endpoint_send_test(membership=owner, endpoint=endpoint)
        started = time.monotonic()
        sent = services.deliveries_send_due(budget_seconds=1.0)
        elapsed = time.monotonic() - started
    assert 1 <= sent < 6 and elapsed < 2.5, (sent, elapsed)
    assert Delivery.objects.filter(attempts=0).count() == 6 - sent  # the rest wait for the next sweep
