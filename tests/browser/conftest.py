"""Browser tests: both applications served on loopback, driven by headless Chromium.

One instance (SQLite in a temporary directory, a lead reviewer, a recovery key)
and one pair of servers for the whole session; each test gets fresh browser
contexts (no shared cookies). Debian's /usr/bin/chromium is used through the
`playwright` package; `playwright install` is never run. Without Chromium every
browser test skips with a reason, except under CI (`CI` set), where it fails.

Every page opened through `browsing` is watched: console errors, uncaught page
errors, CSP violations (the browser's own console report, and a
`securitypolicyviolation` listener where JavaScript runs) and responses without
a Content-Security-Policy header are collected and asserted empty by
`browsing.assert_clean()`.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from journeys import DESKTOP

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
PASSPHRASE = "correct-horse-battery-staple-orbit"


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"Chromium not installed at {CHROMIUM}; CI installs it"
    if os.environ.get("CI"):
        pytest.fail(reason + " (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


# -- the instance and the two servers ------------------------------------------------------


@dataclass
class Reviewer:
    login: str
    passphrase: str
    totp_secret: str


@dataclass
class Instance:
    directory: Path
    database_url: str
    lead: Reviewer

    def references(self) -> list[str]:
        """Every report reference, oldest first (read straight from the database)."""
        from sqlalchemy import select

        from portal.db import Database
        from portal.reports.models import Report

        db = Database(self.database_url)
        try:
            return list(db.session.scalars(select(Report.reference).order_by(Report.id)))
        finally:
            db.dispose()


@pytest.fixture(scope="session")
def cheap_kdf_session() -> Iterator[None]:
    """Cheap Argon2id for the whole session: the servers outlive each test's own `cheap_kdf`."""
    from portal.crypto import kdf

    cheap = kdf.Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
    patch = pytest.MonkeyPatch()
    patch.setattr(kdf, "RECEIPT_ARGON2", cheap)
    patch.setattr(kdf, "PASSPHRASE_ARGON2", cheap)
    yield
    patch.undo()


@pytest.fixture(scope="session")
def instance(tmp_path_factory, cheap_kdf_session) -> Instance:
    require_chromium()
    from portal.crypto.keys import RecipientPrivateKey
    from portal.db import Database
    from portal.instance import ensure_instance, pin_local_signer, read_secret
    from portal.models import create_all
    from portal.triage.accounts import create_reviewer, register_recovery_key
    from portal.triage.models import Role

    directory = tmp_path_factory.mktemp("browser") / "instance"
    ensure_instance(directory)
    pin_local_signer(directory)  # the triage host's pin of the reporter host's signing key, as `portal init` makes it
    url = f"sqlite:///{directory / 'portal.sqlite3'}"
    db = Database(url)
    create_all(db.engine)
    with db.transaction() as session:
        new = create_reviewer(session, read_secret(directory, "totp_key"), login="lead", display_name="Lead Reviewer",
                              role=Role.LEAD, passphrase=PASSPHRASE, receives_new_reports=True,
                              blind_index_key=read_secret(directory, "blind_index_key"))
        lead = Reviewer(new.reviewer.login, PASSPHRASE, new.totp_secret)
        register_recovery_key(session, RecipientPrivateKey.generate())
    from portal.config import load_settings
    from portal.triage import screener

    screener.publish(db, screener.load_secrets(load_settings({"instance_dir": str(directory)})))  # as `portal init` does
    db.dispose()
    return Instance(directory, url, lead)


class BodyRecorder:
    """WSGI middleware: keeps every POST body the reporter app receives, and hands the app a copy."""

    def __init__(self, app) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.posts: list[tuple[str, bytes]] = []

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            stream = environ["wsgi.input"]
            length = environ.get("CONTENT_LENGTH")
            body = stream.read(int(length)) if length else stream.read()
            with self.lock:
                self.posts.append((environ.get("PATH_INFO", ""), body))
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["wsgi.input_terminated"] = True
        return self.app(environ, start_response)

    def bodies(self, path: str) -> list[bytes]:
        with self.lock:
            return [body for p, body in self.posts if p == path]


@dataclass
class Server:
    url: str
    recorder: BodyRecorder | None = None


def _serve(app) -> tuple[Server, object, threading.Thread]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-test-server", daemon=True)
    thread.start()
    return Server(f"http://127.0.0.1:{server.server_port}"), server, thread


@pytest.fixture(scope="session")
def servers(instance) -> Iterator[tuple[Server, Server]]:
    """(reporter, triage), each on its own random loopback port."""
    from portal.app import create_app

    overrides = {"instance_dir": str(instance.directory), "database_url": instance.database_url}
    reporter_app = create_app("reporter", overrides)
    triage_app = create_app("triage", overrides)
    recorder = BodyRecorder(reporter_app.wsgi_app)
    reporter_app.wsgi_app = recorder
    reporter, reporter_server, reporter_thread = _serve(reporter_app)
    reporter.recorder = recorder
    triage, triage_server, triage_thread = _serve(triage_app)
    # Screening, as portal-screen.service (or `portal serve-dev`) runs it beside the triage interface.
    from portal import state
    from portal.triage import screener

    stop_screening = screener.start_thread(state.DATABASE.get(triage_app), state.SETTINGS.get(triage_app), poll=0.1)
    yield reporter, triage
    stop_screening.set()
    for srv, thread in ((reporter_server, reporter_thread), (triage_server, triage_thread)):
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)
    for app in (reporter_app, triage_app):
        app.extensions["portal.db"].dispose()


@pytest.fixture(scope="session")
def reporter(servers) -> Server:
    return servers[0]


@pytest.fixture(scope="session")
def triage(servers) -> Server:
    return servers[1]


# -- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS


# A listener added before any page script: CSP violations are also reported in the console.
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' on ' + e.documentURI);
});
"""


@dataclass
class Browsing:
    """Opens pages in fresh contexts and records anything that went wrong on them."""

    browser: object
    origins: tuple[str, ...]
    problems: list[str] = field(default_factory=list)
    contexts: list = field(default_factory=list)
    expected_statuses: dict[str, int] = field(default_factory=dict)
    responses: int = 0

    leave_prompts: list = field(default_factory=list)

    def new_page(self, javascript: bool = True, viewport: dict | None = None, bypass_csp: bool = False):
        """bypass_csp: only for the accessibility test, which injects axe-core (a test tool, never served)."""
        context = self.browser.new_context(java_script_enabled=javascript, viewport=viewport or DESKTOP,
                                           accept_downloads=True, locale="en-GB", bypass_csp=bypass_csp)
        context.set_default_timeout(15_000)
        if javascript:
            context.add_init_script(CSP_LISTENER)
        self.contexts.append(context)
        page = context.new_page()
        self.watch(page)
        return page

    def expect_status(self, path: str, status: int) -> None:
        """A navigation to `path` is expected to answer `status` (a form with errors, say): the
        browser's "Failed to load resource" console line for it is then not a problem."""
        self.expected_statuses[path] = status

    def watch(self, page) -> None:
        def on_console(message) -> None:
            text = message.text
            if message.type == "error" or "Content Security Policy" in text or "CSP violation" in text:
                if message.type == "error" and "Failed to load resource" in text:
                    url = (message.location or {}).get("url", "")
                    path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else url
                    path = path.split("?", 1)[0]
                    status = self.expected_statuses.get(path)
                    if status is not None and f"status of {status}" in text:
                        return
                self.problems.append(f"console {message.type} on {page.url}: {text} @ {message.location}")

        def on_response(response) -> None:
            if not response.url.startswith(self.origins):
                return
            self.responses += 1
            if not response.header_value("content-security-policy"):
                self.problems.append(f"no Content-Security-Policy on {response.status} {response.url}")

        def on_dialog(dialog) -> None:
            # The receipt's "Have you written down your code?" prompt: recorded, and the page is left.
            if dialog.type == "beforeunload":
                self.leave_prompts.append(page.url)
                dialog.accept()
            else:
                dialog.dismiss()

        page.on("console", on_console)
        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: self.problems.append(f"page error on {page.url}: {error}"))
        page.on("response", on_response)

    def assert_clean(self) -> None:
        assert self.responses > 0, "no response from the portal was seen"
        assert not self.problems, "\n".join(self.problems)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsing(chromium, reporter, triage) -> Iterator[Browsing]:
    session = Browsing(chromium, (reporter.url, triage.url))
    yield session
    session.close()
