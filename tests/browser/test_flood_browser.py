"""Issue #11 in a real browser: while another client floods the portal with wrong receipt codes
(with and without proof of work), a reporter with JavaScript still sends a report and follows it
up. The flood raises the price of the browser's challenges; the reporter pays it and gets in."""

from __future__ import annotations

import http.cookiejar
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from journeys import Report, fill_form, open_form, send_report, shoot, sign_in_with_code
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _post(opener, url: str, fields: dict) -> int:
    data = urllib.parse.urlencode(fields).encode()
    origin = "/".join(url.split("/")[:3])  # a bot sends what a browser on the site would: its Origin and cookie
    try:
        with opener.open(urllib.request.Request(url, data=data, headers={"Origin": origin}), timeout=10) as response:  # noqa: S310 (loopback)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _token(opener, base: str) -> str:
    """The sign-in form's token, bound to the cookie the form sets (kept in the opener's jar)."""
    with opener.open(base + "/follow-up", timeout=10) as response:
        return re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', response.read()).group(1).decode()


class Flood:
    """Wrong codes as fast as one thread can send them: typed codes, and derived secrets with a solved puzzle."""

    def __init__(self, base: str) -> None:
        self.base, self.stop, self.statuses = base, threading.Event(), []
        self.thread = threading.Thread(target=self._run, name="flood", daemon=True)

    def _run(self) -> None:
        from portal.crypto import puzzle
        from portal.crypto.receipt import generate_receipt_code

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        n = 0
        while not self.stop.is_set():
            n += 1
            if n % 4:  # no JavaScript: a well-formed wrong code, Argon2id on the server, through the gate
                status = _post(opener, self.base + "/follow-up", {"csrf_token": _token(opener, self.base), "receipt_code": generate_receipt_code()})
            else:  # JavaScript: a random "derived secret" with a solved challenge, as a cheap bot would send
                with urllib.request.urlopen(self.base + "/challenge/sign-in", timeout=10) as response:  # noqa: S310
                    challenge = json.loads(response.read())
                number = puzzle.solve(challenge["salt"], bytes.fromhex(challenge["target"]), challenge["max"])
                status = _post(opener, self.base + "/follow-up", {"csrf_token": _token(opener, self.base), "mode": "browser",
                                                          "lookup_token": "ab" * 32, "pow_challenge": challenge["challenge"],
                                                          "pow_solution": str(number)})
            self.statuses.append(status)

    def __enter__(self) -> Flood:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


@pytest.fixture
def flooded_server(instance):
    """A reporter server of its own (its load meter must not slow the other browser tests)."""
    from werkzeug.serving import make_server

    from portal.app import create_app

    app = create_app("reporter", {"instance_dir": str(instance.directory), "database_url": instance.database_url,
                                  "pow_idle_per_minute": 10})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    server.server_close()
    app.extensions["portal.db"].dispose()


def test_a_reporter_with_javascript_gets_through_a_flood_of_wrong_codes(browsing, flooded_server, screenshots):
    base, app = flooded_server
    page = browsing.new_page()
    challenges: list[int] = []
    page.on("response", lambda r: "/challenge/" in r.url and r.ok and challenges.append(r.json()["max"]))

    with Flood(base) as flood:
        deadline = time.monotonic() + 30
        while len(flood.statuses) < 60 and time.monotonic() < deadline:  # well under way before the reporter starts
            page.wait_for_timeout(100)
        assert flood.thread.is_alive(), "the flood stopped: the server refused it in a way it should not"
        open_form(page, base)
        report = Report()
        fill_form(page, report)
        code = send_report(page)
        shoot(page, screenshots, "30-receipt-during-flood")
        sign_in_with_code(page, base, code)
        expect(page.get_by_text(report.what_happened)).to_be_visible()
        sent_during_flood = len(flood.statuses)

    assert sent_during_flood >= 60
    assert set(flood.statuses) <= {400, 503}, set(flood.statuses)  # refused, never 429 and never a 5xx crash
    assert challenges and max(challenges) > 2000, challenges  # the flood raised the price the browser paid
    assert app.extensions["portal.admission"].work.current_max() > 2000
