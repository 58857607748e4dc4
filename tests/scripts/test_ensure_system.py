"""scripts/ensure-system.sh keeps Debian's package scripts from starting services, and leaves the machine's own
policy-rc.d (standard in Debian containers) as it found it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-system.sh"


def _run(tmp_path: Path, policy: Path) -> subprocess.CompletedProcess[str]:
    apt_get = tmp_path / "apt-get"
    # Records what the policy said while "installing", as the real package scripts would consult it.
    apt_get.write_text(f'#!/bin/sh\ncat "{policy}" >> "{tmp_path}/seen-policy"\n')
    apt_get.chmod(0o755)
    env = {
        **os.environ,
        "PORTICO_SYSTEM_PACKAGES": "portico-no-such-package",
        "PORTICO_APT_GET": str(apt_get),
        "PORTICO_POLICY_RC_D": str(policy),
    }
    if os.geteuid() != 0:
        pytest.skip("the script uses sudo when not root")
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=True)


def test_an_existing_policy_is_restored_after_installing(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# the container's own policy\nexit 101\n")
    policy.chmod(0o755)
    _run(tmp_path, policy)
    assert policy.read_text() == "#!/bin/sh\n# the container's own policy\nexit 101\n"
    assert os.access(policy, os.X_OK)
    assert "exit 101" in (tmp_path / "seen-policy").read_text()


def test_a_policy_written_for_the_install_is_removed_afterwards(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    _run(tmp_path, policy)
    assert not policy.exists()
    assert "exit 101" in (tmp_path / "seen-policy").read_text()  # services were kept down during the install
