"""The shipped systemd units (config/systemd/) pass `systemd-analyze verify` (issue #20), with
/opt/portal pointed at this checkout so that ExecStart= names a real executable."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "config" / "systemd").glob("*.service"))


def test_the_units_are_shipped():
    assert [u.name for u in UNITS] == ["portal-reporter.service", "portal-screen.service", "portal-triage.service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_systemd_analyze_verify(unit, tmp_path):
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.skip("systemd-analyze is not installed on this CI machine (install systemd to check the units)")
        pytest.skip("systemd-analyze is not installed")
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace("/opt/portal", str(ROOT)))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), result.stdout + result.stderr
    text = unit.read_text()
    name = unit.stem.removeprefix("portal-")
    # The screening worker runs on the triage host, with the triage host's environment (and secrets).
    env, command = ("triage", "screen") if name == "screen" else (name, f"serve {name}")
    for line in ("User=portal", "UMask=0077", "LimitCORE=0", "ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes",
                 f"EnvironmentFile=/etc/portal/{env}.env", f"ExecStart=/opt/portal/.venv/bin/portal {command}"):
        assert line in text.splitlines(), line
