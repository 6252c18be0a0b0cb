"""The timeouts in config/ agree with each other and with docs/operations.md (issue #20: gunicorn
said 900 s, the guide 120 s, nginx "just above 120 s"). The triage request timeout is a setting."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

from portal.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def _gunicorn(monkeypatch, kind: str, tmp_path, **env: str) -> dict:
    monkeypatch.setenv("PORTAL_APP_KIND", kind)
    monkeypatch.setenv("PORTAL_INSTANCE_DIR", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))


def _nginx(name: str, directive: str) -> list[int]:
    return [int(v) for v in re.findall(rf"^\s*{directive} (\d+)s;", (ROOT / "config" / "nginx" / name).read_text(), re.M)]


def test_the_triage_timeout_is_a_setting(monkeypatch, tmp_path):
    assert _gunicorn(monkeypatch, "triage", tmp_path)["timeout"] == 120
    (tmp_path / "portal.toml").write_text("triage_request_timeout = 45\n")
    assert _gunicorn(monkeypatch, "triage", tmp_path)["timeout"] == 45
    assert _gunicorn(monkeypatch, "triage", tmp_path, PORTAL_TRIAGE_REQUEST_TIMEOUT="50")["timeout"] == 50


def test_nginx_waits_longer_than_gunicorn_on_both_hosts(monkeypatch, tmp_path):
    settings = load_settings({"instance_dir": str(tmp_path)})
    triage = _gunicorn(monkeypatch, "triage", tmp_path)
    assert triage["worker_class"] == "sync"
    assert min(_nginx("triage.conf", "proxy_read_timeout")) > triage["timeout"]
    reporter = _gunicorn(monkeypatch, "reporter", tmp_path)
    assert reporter["worker_class"] == "gthread"
    # The reporter's answer can wait for the Argon2id gate: nginx must wait longer than that.
    assert min(_nginx("reporter.conf", "proxy_read_timeout")) > int(settings.argon2_max_wait) + 5
    # nginx cuts a silent client before the application's own per-read timeout.
    assert max(_nginx("reporter.conf", "client_body_timeout")) < int(settings.upload_read_timeout)


def test_the_guide_states_the_shipped_values():
    guide = (ROOT / "docs" / "operations.md").read_text()
    assert "| `triage_request_timeout` | `120` |" in guide
    assert "`proxy_read_timeout` 130 s, just above `triage_request_timeout` (120 s)" in guide
    assert "900" not in (ROOT / "config" / "gunicorn.conf.py").read_text()
