"""The REST API keeps the contract its schema states, under Schemathesis with every check, debug off and on.

Coverage, fuzzing and stateful phases against the served `/api/schema/`, as two users of two organisations (the
object-level authorization check replays one user's reads as the other), bounded in time. Any failure of any
kind fails this test, with Schemathesis's report.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from keys.services import access_token_issue, key_issue
from portal.services.applications import subscription_create
from tests.factories import ApiFactory, ApplicationFactory, MembershipFactory, PlanFactory
from tests.support.processes import PYTHON

CONFIG = Path(__file__).with_name("schemathesis.toml")
SECONDS_PER_RUN = 45


def _identity(name: str, user: Any) -> dict[str, Any]:
    """A user the way Schemathesis's WFC auth file describes one: a fixed Authorization header."""
    _, secret = access_token_issue(user=user, name=f"schemathesis {name}")
    return {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {secret}"}]}


def _seed(owner: Any) -> None:
    """Something to read and change in the owner's organisation: an application subscribed to an API, a key."""
    organisation = MembershipFactory(user=owner, role="owner").organisation
    application = ApplicationFactory(organisation=organisation, created_by=owner)
    plan = PlanFactory(api=ApiFactory())
    subscription_create(actor=owner, application=application, plan=plan)
    key_issue(actor=owner, application=application, name="schemathesis")


@pytest.mark.parametrize(("debug", "seed"), [(False, 1), (True, 2)])
def test_the_rest_api_keeps_its_schema_under_schemathesis(
    live_server: Any, settings: Any, tmp_path: Path, alice: Any, charlie: Any, debug: bool, seed: int
) -> None:
    settings.DEBUG = debug
    _seed(alice)
    _seed(charlie)
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auth": [_identity("alice", alice), _identity("charlie", charlie)]}))
    run = subprocess.run(
        [
            PYTHON, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", f"{live_server.url}/api/schema/",
            "--auth-wfc", str(auth), "--phases", "coverage,fuzzing,stateful", "--checks", "all",
            "--max-time", str(SECONDS_PER_RUN), "--seed", str(seed), "--continue-on-failure", "--no-color",
            "--report", "junit", "--report-dir", str(tmp_path / "report"),
        ],
        capture_output=True, text=True, timeout=SECONDS_PER_RUN * 4, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:]
    # every operation reached (50 today): as many tested as the schema has
    selected, tested = re.search(r"Selected: (\d+)/(\d+)", run.stdout), re.search(r"Tested: (\d+)", run.stdout)
    assert "passed" in run.stdout and selected and tested and tested[1] == selected[2] and int(tested[1]) >= 50
