"""No secret in any log line: after requests that succeed, are denied, and hit a dead or slow upstream, with the
key in a header, a Bearer token or the query string, every log file the gateway and the platform wrote is
searched for every secret used (API keys, a personal access token, the gateway's client secret and push secret).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from keys.tokens import generate
from tests.support.ports import free_port
from tests.support.private_stack import running_stack
from tests.support.waiting import wait_until

# Two more APIs for the seeded application, both accepting ?api_key=: one on the demo upstream with a short
# read timeout, one whose upstream is a closed port.
MORE_APIS = """
from django.contrib.auth import get_user_model
from portal.models import Api, Application, Plan
from portal.services.applications import subscription_create
from portal.services.catalog import api_save, plan_save

user = get_user_model().objects.get(email="ops@example.com")
application = Application.objects.get()
for slug, upstream in (("slow", UPSTREAM), ("down", DEAD)):
    api = api_save(actor=user, api=Api(name=slug, slug=slug, upstream_url=upstream, path_prefix="/" + slug,
                                       allow_query_key=True, read_timeout_ms=300))
    plan = plan_save(actor=user, plan=Plan(api=api, name="Free", slug="free"))
    subscription_create(actor=user, application=application, plan=plan)
"""
LOG_FILES = ("*.log", "spool/*", "logs/*")


def _log_files(root: Path) -> list[Path]:
    return sorted({p for pattern in LOG_FILES for p in root.rglob(pattern) if p.is_file()})


def test_no_secret_appears_in_any_log_line_of_the_gateway_or_the_platform(tmp_path: Path, upstream: str) -> None:
    unknown_key = generate("live").token  # well formed, never issued
    with running_stack(tmp_path, upstream) as stack:
        gw, seed = stack.gateway, stack.seed
        key = seed["key"]
        dead = f"http://127.0.0.1:{free_port()}"
        stack.manage("shell", "-c", MORE_APIS.replace("UPSTREAM", repr(upstream)).replace("DEAD", repr(dead)))
        wait_until(lambda: gw.get("/slow/x", key).status_code == 200, timeout=10, what="new APIs at the gateway")
        bearer = {"Authorization": f"Bearer {key}"}
        slow = {"X-Demo-Delay-Ms": "1000"}
        answers = {
            "header key": gw.get("/echo/x", key).status_code,
            "bearer": gw.get("/echo/x", headers=bearer).status_code,
            "query key": gw.get(f"/slow/x?a=1&api_key={key}&b=2").status_code,
            "query key, upstream timeout": gw.get(f"/slow/x?api_key={key}", headers=slow).status_code,
            "query key, upstream down": gw.get(f"/down/x?api_key={key}").status_code,
            "header key, upstream down": gw.get("/down/x", key).status_code,
            "bearer, upstream timeout": gw.get("/slow/x", headers={**bearer, **slow}).status_code,
            "query key, API without query keys": gw.get(f"/echo/x?api_key={key}").status_code,
            "unknown key": gw.get("/echo/x", unknown_key).status_code,
            "unknown query key": gw.get(f"/slow/x?api_key={unknown_key}").status_code,
            "garbage key": gw.get("/echo/x", "ptc_live_" + secrets.token_hex(20)).status_code,
            "personal access token": stack.api("GET", "/api/v1/organisations/").status_code,
        }
        assert answers == {
            "header key": 200, "bearer": 200, "query key": 200, "query key, upstream timeout": 504,
            "query key, upstream down": 502, "header key, upstream down": 502, "bearer, upstream timeout": 504,
            "query key, API without query keys": 401, "unknown key": 401, "unknown query key": 401,
            "garbage key": 401, "personal access token": 200,
        }  # fmt: skip
        # the access log is flushed every 0.2 s; then the platform collects it, as beat would have it do
        access_log = next(tmp_path.rglob("spool/access.log"))
        wait_until(lambda: b"/down/x" in access_log.read_bytes(), timeout=5, what="access log flushed")
        stack.collect_usage()
        wait_until(lambda: b"collect_logs" in (tmp_path / "worker.log").read_bytes(), timeout=10, what="collection")
    files = _log_files(tmp_path)
    names = {p.name for p in files}
    assert {"error.log", "access.log", "portal.log", "worker.log"} <= names, names
    # the logs are there to search: the header-key failures were logged, with their (key-free) request lines
    error_log = next(p for p in files if p.name == "error.log").read_text()
    assert "connect() failed (111: Connection refused) while connecting to upstream" in error_log
    assert 'request: "GET /slow/x HTTP/1.1"' in error_log
    used = {"api key": key, "unknown key": unknown_key, "pat": seed["pat"], "client secret": seed["client_secret"],
            "push secret": seed["push_secret"]}  # fmt: skip
    found = [(name, str(p)) for p in files for name, secret in used.items() if secret.encode() in p.read_bytes()]
    assert found == [], json.dumps(found)
