"""The JavaScript follow-up (issue 18), measured in Chromium against the reporter app.

    .venv/bin/python bench/follow_up_bench.py            # 7 sign-ins
    .venv/bin/python bench/follow_up_bench.py --runs 3

A fresh temporary instance (SQLite, the database blob store, the REAL receipt Argon2id
parameters) holds one case with 20 messages (10 from the reporter, 10 from reviewers) and 5
files of 256 KiB (one with the report, four with messages). The reporter app is served
in-process by werkzeug on a loopback port, wrapped in a WSGI timer, and headless Chromium
(/usr/bin/chromium through Playwright) signs in with the receipt code in a fresh context
each run. Printed:

(a) time from pressing Continue with the code entered to the case shown (`#case` marked
    opened: every record decrypted and rendered), median, min, max; split into sign-in
    (Argon2id + proof of work + POST, to the case page's URL) and opening (the case page,
    /follow-up/case.json, unwrapping and decrypting 1 + 20 + 5 records, rendering);
(b) server time per follow-up request, median (from the request reaching the app to the
    last byte of its body handed to the server): POST /follow-up (lookup token),
    GET /follow-up/case, GET /follow-up/case.json, GET /follow-up/files/<id>/sealed
    (256 KiB ciphertext), and (c) the time to decrypt and check one 256 KiB file in the
    browser, from the click to "Decrypted and checked.".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import HOST, Summary, log, machine_line, ms  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
FILE_BYTES = 256 * 1024


class Timer:
    """WSGI middleware: wall time of each request, until its body has been handed on whole."""

    def __init__(self, app) -> None:
        self.app, self.lock, self.times = app, threading.Lock(), defaultdict(list)

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        path = environ.get("PATH_INFO", "")
        key = f"{environ['REQUEST_METHOD']} " + ("/follow-up/files/<id>/sealed" if path.endswith("/sealed") else path)
        body = self.app(environ, start_response)
        try:
            yield from body
        finally:
            if hasattr(body, "close"):
                body.close()
            with self.lock:
                self.times[key].append(time.perf_counter() - started)


def seed(directory: Path) -> tuple[str, str]:
    """(database URL, receipt code) of a new instance with one case of 20 messages and 5 files."""
    from portal.config import load_settings
    from portal.crypto.keys import RecipientPrivateKey
    from portal.db import Database
    from portal.deadlines import Deadlines
    from portal.instance import ensure_instance, read_secret
    from portal.models import create_all
    from portal.reports.answers import Person, ReportAnswers
    from portal.reports.service import Draft, ReporterKeys, add_message, submit_from_server
    from portal.reports.upload import EncryptingSink
    from portal.triage.accounts import register_recovery_key

    ensure_instance(directory)
    url = f"sqlite:///{directory / 'portal.sqlite3'}"
    load_settings({"instance_dir": str(directory), "database_url": url})
    db = Database(url)
    create_all(db.engine)
    keys = ReporterKeys(read_secret(directory, "receipt_pepper"), read_secret(directory, "receipt_salt")[:16],
                        read_secret(directory, "reporter_secret_key"), read_secret(directory, "report_signing_key"))

    def sink(session, dek, report_id, n):
        s = EncryptingSink(session, dek, report_id, f"evidence-{n}.pdf", "application/pdf")
        s.write(os.urandom(FILE_BYTES))
        return s.finish()

    with db.transaction() as session:
        register_recovery_key(session, RecipientPrivateKey.generate())
    with db.transaction() as session:
        draft = Draft.new()
        draft.staged.append(sink(session, draft.dek, draft.report_id, 0))
        answers = ReportAnswers(what_happened="A sergeant messaged a victim late at night. " * 20,
                                people=[Person(name="Alex Example", role="Sergeant", identifier="1234", unit="North")])
        report, code = submit_from_server(session, keys, draft, answers, Deadlines(acknowledge_days=7, feedback_days=90))
        for n in range(20):
            files = [sink(session, draft.dek, report.public_id, n)] if n in (3, 8, 13, 18) else []
            add_message(session, report, draft.dek, f"Message {n + 1}: " + "details of what happened next. " * 8,
                        from_reporter=n % 2 == 0, attachments=files)
    db.dispose()
    return url, code


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from portal.app import create_app

    with tempfile.TemporaryDirectory(prefix="follow-up-bench-") as tmp:
        directory = Path(tmp) / "instance"
        log("seeding one case: 20 messages, 5 files (real Argon2id parameters)…")
        url, code = seed(directory)
        app = create_app("reporter", {"instance_dir": str(directory), "database_url": url})
        timer = Timer(app.wsgi_app)
        app.wsgi_app = timer
        server = make_server(HOST, 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://{HOST}:{server.server_port}"
        total, sign_in, opening, file_times = [], [], [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for run in range(args.runs):
                context = browser.new_context(accept_downloads=True)
                page = context.new_page()
                page.goto(base + "/follow-up")
                page.fill("#receipt_code", code)
                page.wait_for_timeout(500)  # the word list and keys are fetched ahead (sign-in.js warms up)
                started = time.perf_counter()
                page.click("button[type=submit]")
                page.wait_for_url(base + "/follow-up/case", timeout=60_000)
                signed_in = time.perf_counter()
                page.wait_for_selector("#case[data-opened='true']", state="attached", timeout=60_000)
                shown = time.perf_counter()
                assert page.locator(".portal-message").count() == 20, "not every message was shown"
                total.append(shown - started)
                sign_in.append(signed_in - started)
                opening.append(shown - signed_in)
                links = page.locator("a[data-attachment]")
                assert links.count() == 5, "not every file was listed"
                for i in range(5):
                    with page.expect_download():
                        clicked = time.perf_counter()
                        links.nth(i).click()
                    file_times.append(time.perf_counter() - clicked)
                context.close()
                log(f"run {run + 1}: {ms(total[-1])}")
            browser.close()
        server.shutdown()

    print(f"Follow-up with JavaScript, one case of 20 messages and 5 files of {FILE_BYTES // 1024} KiB; {machine_line()}")
    for label, values in (("(a) code entered -> case shown", total), ("    sign-in (Argon2id, proof of work, POST)", sign_in),
                          ("    opening (page, case.json, decrypt, render)", opening),
                          ("(c) one 256 KiB file: click -> checked and saved", file_times)):
        s = Summary.of(values)
        print(f"{label:52s} median {ms(s.median):>10s}  min {ms(s.minimum):>10s}  max {ms(s.maximum):>10s}  (n={s.n})")
    print("(b) server time per follow-up request:")
    for key in ("POST /follow-up", "GET /follow-up/case", "GET /follow-up/case.json", "GET /follow-up/files/<id>/sealed"):
        values = timer.times.get(key, [])
        print(f"    {key:44s} median {ms(statistics.median(values)) if values else '-':>10s}  (n={len(values)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
