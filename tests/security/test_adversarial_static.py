"""Known vulnerabilities in the pinned dependencies (pip-audit).

`make test` already runs `ruff check` with the bandit rules ("S"); this adds an
audit of every pin in pyproject.toml (runtime and test extras) against the
PyPI/OSV advisory data. It needs pip-audit (in .venv, on PATH, or named by
PORTAL_PIP_AUDIT) and the network: without either it skips, saying why. Only the
pinned versions are audited (--no-deps --disable-pip): nothing is downloaded or
installed, and the transitive dependencies are left to the lock step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = re.compile(r"ConnectionError|ConnectTimeout|ReadTimeout|NameResolution|Temporary failure in name resolution|"
                     r"Max retries exceeded|Network is unreachable|No route to host|Failed to establish a new connection|"
                     r"Connection refused|SSLError|ProxyError", re.I)


def _pip_audit() -> str | None:
    for candidate in (os.environ.get("PORTAL_PIP_AUDIT"), str(Path(sys.executable).with_name("pip-audit")),
                      str(ROOT / ".venv" / "bin" / "pip-audit"), shutil.which("pip-audit")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def pinned_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    pins = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        pins += extra
    return pins


def test_every_dependency_is_pinned_exactly():
    """The audit is only meaningful if each requirement names one version."""
    for requirement in pinned_requirements():
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z,]+\])?==[0-9][0-9A-Za-z.\-+]*", requirement), requirement


def audit(tool: str, pins: list[str], workdir: Path, service: str) -> tuple[str, str]:
    """Run pip-audit on exactly these pins: ("ok" | "vulnerable" | "unaudited" | "none-audited" | "offline" | "error", details)."""
    requirements = workdir / f"requirements-{service}.txt"
    requirements.write_text("\n".join(pins) + "\n")
    command = [tool, "--progress-spinner", "off", "--no-deps", "--disable-pip", "--format", "json",
               "--vulnerability-service", service, "-r", str(requirements)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=workdir)
    except subprocess.TimeoutExpired:
        return "offline", f"{service}: no answer within 5 minutes"
    try:
        report = json.loads(result.stdout)
    except ValueError:
        offline = OFFLINE.search(result.stderr)
        if offline:
            return "offline", f"{service}: {offline.group(0)}"
        return "error", f"{service}: pip-audit failed (exit {result.returncode}):\n{result.stderr[-3000:]}"
    vulnerable = [f"{d['name']} {d.get('version', '')}: " + ", ".join(v["id"] for v in d["vulns"])
                  for d in report.get("dependencies", []) if d.get("vulns")]
    skipped = [d.get("skip_reason", d["name"]) for d in report.get("dependencies", []) if "skip_reason" in d]
    if vulnerable:
        return "vulnerable", f"{service}: known vulnerabilities:\n" + "\n".join(vulnerable)
    if skipped and len(skipped) >= len(pins):
        # Not one pin could be looked up: this service answers nothing here (for instance a registry proxy
        # without PyPI's per-version JSON), which says nothing either way about vulnerabilities.
        return "none-audited", f"{service}: no pin could be looked up ({skipped[0]})"
    if skipped:  # --strict: a pin that cannot be audited fails the check
        return "unaudited", f"{service}: could not audit:\n" + "\n".join(skipped)
    return "ok", f"{service}: no known vulnerabilities in {len(pins)} pins"


def check_pins(tool: str, pins: list[str], workdir: Path) -> tuple[str, str]:
    """PyPI's advisory data first, OSV if PyPI cannot be asked; the first service that can answer decides."""
    reasons = []
    for service in ("pypi", "osv"):
        outcome, detail = audit(tool, pins, workdir, service)
        if outcome in ("offline", "none-audited"):
            reasons.append(detail)
            continue
        return outcome, detail
    return "skip", "; ".join(reasons)


def test_pinned_dependencies_have_no_known_vulnerability(tmp_path):
    tool = _pip_audit()
    if tool is None:
        pytest.skip("pip-audit is not installed (.venv/bin/pip-audit, PATH or PORTAL_PIP_AUDIT): "
                    "install it with `.venv/bin/python -m pip install pip-audit` to audit the pins")
    outcome, detail = check_pins(tool, pinned_requirements(), tmp_path)
    print(outcome, detail)
    if outcome == "skip":
        pytest.skip("no vulnerability service could audit the pins from here: " + detail)
    assert outcome == "ok", detail


FAKE = """#!{python}
import json, sys
print({stdout!r})
print({stderr!r}, file=sys.stderr)
sys.exit({code})
"""


@pytest.mark.parametrize(("stdout", "stderr", "code", "expected"), [
    ('{"dependencies": [{"name": "flask", "version": "3.1.3", "vulns": []}], "fixes": []}', "", 0, "ok"),
    ('{"dependencies": [{"name": "flask", "version": "0.12", "vulns": [{"id": "PYSEC-2018-66", "fix_versions": ["0.12.3"]}]}]}',
     "", 1, "vulnerable"),
    ('{"dependencies": [{"name": "flask", "version": "3.1.3", "vulns": []}, {"name": "nope", "skip_reason": "not found"}]}',
     "", 0, "unaudited"),
    ('{"dependencies": [{"name": "flask", "skip_reason": "not found"}, {"name": "pikepdf", "skip_reason": "not found"}]}',
     "", 0, "skip"),
    ("", "requests.exceptions.ConnectionError: Max retries exceeded with url", 1, "skip"),
    ("", "Traceback: something else broke", 1, "error"),
], ids=["clean", "vulnerable", "one-pin-unaudited", "service-knows-nothing", "offline", "tool-crashed"])
def test_the_audit_decides_as_documented(tmp_path, stdout, stderr, code, expected):
    """The decision logic, against a stand-in pip-audit (no network needed)."""
    fake = tmp_path / "pip-audit"
    fake.write_text(FAKE.format(python=sys.executable, stdout=stdout, stderr=stderr, code=code))
    fake.chmod(0o755)
    outcome, _ = check_pins(str(fake), ["flask==3.1.3", "pikepdf==10.17.0"], tmp_path)
    assert outcome == expected
