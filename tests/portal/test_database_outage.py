"""With the database unreachable the portal answers a generic 503, never a stack trace."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import django, json
django.setup()
from django.test import Client
client = Client(raise_request_exception=False)
api = client.get("/api/v1/organisations/", HTTP_AUTHORIZATION="Bearer ptc_pat_" + "A" * 49)
page = client.post("/accounts/login/", {"login": "a@example.com", "password": "x"})
print(json.dumps({"api": [api.status_code, api["Content-Type"], api.content.decode()],
                  "page": [page.status_code, page["Content-Type"], page.content.decode()]}))
"""


def test_portal_and_api_answer_503_when_postgres_is_down() -> None:
    import json

    from keys import tokens

    well_formed_pat = tokens.generate("pat").token  # passes the checksum, so the lookup reaches the database
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/portico",
    }  # nothing listens on port 1
    script = SCRIPT.replace('"Bearer ptc_pat_" + "A" * 49', repr("Bearer " + well_formed_pat))
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    status, content_type, body = outcome["api"]
    assert status == 503 and content_type == "application/problem+json" and "Traceback" not in body
    status, content_type, body = outcome["page"]
    assert status == 503 and content_type.startswith("text/html") and "Traceback" not in body
