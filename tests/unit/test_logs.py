"""Structured logs (portal/logs.py): one JSON object per line, a date but never a time of day on
the reporter's lines, exception types without their messages, no address, user agent, referrer
or query string, and gunicorn's own error log in the same format."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import json_log_lines

from portal.logs import AppTag, JsonFormatter, NoClientDetails, json_handler, logging_config, scrub

PROJECT = Path(__file__).resolve().parents[2]


def _today() -> str:
    """Read when the assertion runs (a constant taken at collection is wrong after midnight)."""
    return dt.datetime.now(dt.UTC).date().isoformat()


def _log(handler: logging.Handler, level: int, msg: str, *args, logger: str = "portal.test", tag: str | None = None,
         exc_info=None, **extra) -> None:
    log = logging.getLogger(logger)
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.DEBUG)
    tagger = AppTag(tag) if tag else None
    if tagger:
        log.addFilter(tagger)
    try:
        log.log(level, msg, *args, exc_info=exc_info, extra=extra or None)
    finally:
        log.removeHandler(handler)
        if tagger:
            log.removeFilter(tagger)
        log.propagate = True


@pytest.mark.parametrize("app", ["reporter", "triage", None])
def test_fields_and_clock(app):
    stream = io.StringIO()
    _log(json_handler(app, stream), logging.WARNING, "worker %s restarted", 3, status=503, route="/report")
    (line,) = json_log_lines(stream.getvalue())
    clock = {"time": line.pop("time")} if "time" in line else {"date": line.pop("date")}
    assert line == {"level": "warning", "app": app or "portal", "logger": "portal.test", "event": "worker 3 restarted",
                    "route": "/report", "status": 503}
    if app == "triage":  # to the second, like the audit log; never finer
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", clock["time"]) and clock["time"][:10] == _today()
    else:  # the reporter's lines, and any line that cannot be attributed, carry the day only
        assert clock == {"date": _today()}


def test_a_reporter_record_never_gets_a_time_even_in_a_triage_process():
    stream = io.StringIO()
    _log(json_handler("triage", stream), logging.ERROR, "unhandled exception", tag="reporter")
    (line,) = json_log_lines(stream.getvalue())
    assert line["app"] == "reporter" and line["date"] == _today() and "time" not in line


def test_exceptions_are_logged_by_type_only():
    stream = io.StringIO()
    try:
        raise ValueError("the reporter typed ZqSecretMarker\nand more")
    except ValueError:
        _log(json_handler("reporter", stream), logging.ERROR, "Error handling request", exc_info=sys.exc_info())
    text = stream.getvalue()
    (line,) = json_log_lines(text)
    assert line["exc_type"] == "ValueError" and line["event"] == "Error handling request"
    assert "ZqSecretMarker" not in text and "Traceback" not in text and "test_logs.py" not in text


def test_only_known_fields_and_no_client_details():
    stream = io.StringIO()
    handler = json_handler("triage", stream)
    _log(handler, logging.WARNING, "with extras", user_input="ZqTyped", path="/x?y=1", login="lead")
    _log(handler, logging.WARNING, "dropped", remote_addr="203.0.113.5")
    _log(handler, logging.WARNING, "dropped", user_agent="ZqAgent/1.0")
    _log(handler, logging.WARNING, "dropped", referrer="https://ref.example/")
    (line,) = json_log_lines(stream.getvalue())
    assert line["event"] == "with extras" and "ZqTyped" not in stream.getvalue() and "lead" not in stream.getvalue()
    assert NoClientDetails().filter(logging.makeLogRecord({"remote_addr": "x"})) is False


@pytest.mark.parametrize(("message", "expected"), [
    ("Invalid request from ip=203.0.113.9: Invalid HTTP request line", "Invalid request from ip=[address]: Invalid HTTP request line"),
    ("Invalid request from ip=2001:db8::17: bad", "Invalid request from ip=[address]: bad"),
    ("peer ::ffff:198.51.100.2 went away", "peer [address] went away"),
    ("Error handling request /follow-up?code=able-baker&x=1", "Error handling request /follow-up?[query]"),
    ("Listening at: http://127.0.0.1:8081 (42)", "Listening at: http://[address]:8081 (42)"),
    ("version 3.1.3 of R-ABCD-EFGH, files/0123456789abcdef0123456789abcdef", "version 3.1.3 of R-ABCD-EFGH, files/0123456789abcdef0123456789abcdef"),
])
def test_addresses_and_query_strings_are_masked(message, expected):
    assert scrub(message) == expected


def test_one_line_per_record_however_long_or_strange():
    stream = io.StringIO()
    handler = json_handler("reporter", stream)
    _log(handler, logging.WARNING, "line one\nline two \u202e \x00 " + "x" * 2000)
    _log(handler, logging.WARNING, "bad format %s %s", "only one")  # a broken call logs its template
    assert stream.getvalue().count("\n") == 2  # a newline in a message is escaped, never a second line
    first, second = json_log_lines(stream.getvalue())
    assert first["event"].startswith("line one\nline two") and len(first["event"]) <= 503
    assert second["event"] == "bad format %s %s"


def test_the_logging_config_is_what_gunicorn_loads():
    config = _gunicorn_settings("reporter")
    assert config["logconfig_dict"] == logging_config("reporter", "error")
    assert config["accesslog"] is None
    assert _gunicorn_settings("triage")["logconfig_dict"] == logging_config("triage", "warning")
    formatter = logging_config("triage")["formatters"]["json"]
    assert formatter["()"] == "portal.logs.JsonFormatter" and isinstance(JsonFormatter(formatter["app"]), logging.Formatter)


def _gunicorn_settings(kind: str) -> dict:
    code = ("import json, runpy; s = runpy.run_path('config/gunicorn.conf.py'); "
            "print(json.dumps({k: s[k] for k in ('logconfig_dict', 'accesslog', 'loglevel')}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True, timeout=60,
                         env={**os.environ, "PORTAL_APP_KIND": kind})
    return json.loads(out.stdout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("kind", ["reporter", "triage"])
def test_gunicorn_writes_json_lines_without_the_client_address(kind, tmp_path):
    """The real server, with config/gunicorn.conf.py: a malformed request and a normal one."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        pytest.skip("gunicorn is not installed next to this Python")
    from portal.instance import ensure_instance
    from portal.migrate import upgrade

    instance = tmp_path / "instance"
    ensure_instance(instance)
    upgrade(f"sqlite:///{instance / 'portal.sqlite3'}")
    port = _free_port()
    env = {**os.environ, "PORTAL_APP_KIND": kind, "PORTAL_INSTANCE_DIR": str(instance), "PORTAL_BIND": f"127.0.0.1:{port}",
           "PORTAL_WORKERS": "1", "XDG_RUNTIME_DIR": str(tmp_path), "HOME": str(tmp_path)}
    env.pop("PORTAL_DATABASE_URL", None)
    server = subprocess.Popen([str(gunicorn), "--config", str(PROJECT / "config" / "gunicorn.conf.py"), "--chdir", str(PROJECT),
                               f"wsgi:{kind}_app"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                    conn.sendall(b"GET /healthz HTTP/1.0\r\nUser-Agent: ZqAgent/7.3\r\n\r\n")
                    assert conn.recv(4096).startswith(b"HTTP/1.0 200")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:  # gunicorn: "Invalid request from ip=..."
            conn.sendall(b"NOT A REQUEST LINE ZqGarbage\r\nUser-Agent: ZqAgent/7.3\r\n\r\n")
            conn.recv(4096)
        time.sleep(0.5)
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    lines = json_log_lines(err)  # every line of gunicorn's stderr, if any, is one JSON object
    assert out == "", out
    assert all(line["app"] == kind for line in lines)
    assert "127.0.0.1" not in err and "ZqAgent" not in err
    invalid = [line for line in lines if line["event"].startswith("Invalid request")]
    if kind == "triage":  # logged at warning, the address masked
        assert invalid and all("ip=[address]" in line["event"] for line in invalid)
        assert all("time" in line for line in lines)
    else:  # the reporter's gunicorn logs errors only: not even a masked line about a malformed request
        assert invalid == [] and all("time" not in line for line in lines)
