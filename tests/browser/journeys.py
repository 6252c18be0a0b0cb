"""Steps shared by the browser tests (import as `from journeys import ...`).

Each step drives the real pages the way a person would: typing, choosing,
attaching and pressing buttons; assertions are on what the page then shows.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, expect

DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 390, "height": 844}

# What the browser may post when it encrypts on the device (assets/README.md, report-form.js contract).
BROWSER_FIELDS = re.compile(
    r"^(csrf_token|mode|pow_challenge|pow_solution|report_id|lookup_token|urgent|sealed_report|reporter_wrap|key_commitment"
    r"|recipient_inner\.[0-9a-f]{32}|subjects_inner|screening_fingerprint|attachment_meta\.[0-9a-f]{32}|attachment\.[0-9a-f]{32})$"
)
# ... and for a follow-up message (reply-form.js).
BROWSER_REPLY_FIELDS = re.compile(
    r"^(csrf_token|mode|pow_challenge|pow_solution|message_id|sealed_message|attachment_meta\.[0-9a-f]{32}|attachment\.[0-9a-f]{32})$"
)


@dataclass
class Report:
    """One report's answers, every one a unique marker that must never cross the wire in clear."""

    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    risk_now: str = "yes"
    vulnerable_person: str = "no"
    how_known: str = "saw"
    category: str = "sexual-abuse-of-position"

    def __post_init__(self) -> None:
        t = self.tag
        self.what_happened = f"Whathappened{t} asked a victim for her number after a custody visit."
        self.name = f"Personname{t} Smith"
        self.role = f"Sergeantrole{t}"
        self.identifier = f"Collar{t}"
        self.unit = f"Unitstation{t}"
        self.when = f"Whenhappened{t} most night shifts"
        self.where = f"Wherehappened{t} custody suite"
        self.witnesses = f"Witnessesknow{t} on the same team"
        self.file_name = f"evidence-filename{t}.txt"
        self.file_content = f"Filecontent{t}: screenshot of messages\n".encode()

    def markers(self) -> dict[str, str]:
        """Every distinctive string typed or attached (the file's name and its content included)."""
        return {
            "what happened": f"Whathappened{self.tag}",
            "person name": f"Personname{self.tag}",
            "person role": f"Sergeantrole{self.tag}",
            "collar number": f"Collar{self.tag}",
            "unit": f"Unitstation{self.tag}",
            "when": f"Whenhappened{self.tag}",
            "where": f"Wherehappened{self.tag}",
            "witnesses": f"Witnessesknow{self.tag}",
            "file name": f"filename{self.tag}",
            "file content": f"Filecontent{self.tag}",
        }


def add_reviewer(instance, login: str, display_name: str, passphrase: str, **options) -> str:
    """Create a reviewer straight in the browser tests' instance; returns their TOTP secret."""
    from portal.db import Database
    from portal.instance import read_secret
    from portal.triage.accounts import create_reviewer
    from portal.triage.models import Role

    db = Database(instance.database_url)
    try:
        with db.transaction() as session:
            return create_reviewer(session, read_secret(instance.directory, "totp_key"), login=login,
                                   display_name=display_name, role=Role.LEAD, passphrase=passphrase, **options).totp_secret
    finally:
        db.dispose()


def assert_unique_ids(page: Page) -> None:
    """No two elements share an id (labels, error links and aria references would point at the wrong one).
    Flask-WTF's hidden `csrf_token` inputs, one per form, are left out: nothing refers to them."""
    duplicates = page.evaluate("""() => {
        const seen = {};
        document.querySelectorAll('[id]').forEach((el) => {
            if (!(el.id === 'csrf_token' && el.type === 'hidden')) seen[el.id] = (seen[el.id] || 0) + 1;
        });
        return Object.entries(seen).filter(([, n]) => n > 1);
    }""")
    assert not duplicates, f"duplicate ids on {page.url}: {duplicates}"


def shoot(page: Page, directory: Path, name: str) -> Path:
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# -- reporter --------------------------------------------------------------------------------


def in_language(url: str, lang: str = "en") -> str:
    """`url` as the portal's pages link to it in `lang` (?lang=cy; English has no parameter)."""
    if lang == "en":
        return url
    return url + ("&" if "?" in url else "?") + f"lang={lang}"


RECEIPT_HEADING = {"en": "Your report has been sent", "cy": "Mae eich adroddiad wedi’i anfon"}


def open_form(page: Page, base: str, lang: str = "en") -> None:
    page.goto(in_language(base + "/", lang))
    page.locator("a.govuk-button--start").click()  # "Start a report", in any language
    expect(page).to_have_url(in_language(base + "/report", lang))
    expect(page.locator("#report-form")).to_be_visible()


def fill_form(page: Page, report: Report, *, what_happened: bool = True, attach: bool = True) -> None:
    if what_happened:
        page.fill("#what_happened", report.what_happened)
    page.fill("#people-0-name", report.name)
    page.fill("#people-0-role", report.role)
    page.fill("#people-0-identifier", report.identifier)
    page.fill("#people-0-unit", report.unit)
    page.fill("#when_happened", report.when)
    page.fill("#where_happened", report.where)
    page.check(f"#risk_now-{report.risk_now}")
    page.check(f"#vulnerable_person-{report.vulnerable_person}")
    page.check(f"#how_known-{report.how_known}")
    page.fill("#witnesses", report.witnesses)
    page.check(f"#category-{report.category}")
    if attach:
        page.set_input_files("#evidence", files=[{"name": report.file_name, "mimeType": "text/plain",
                                                  "buffer": report.file_content}])


def assert_form_kept(page: Page, report: Report) -> None:
    """Everything typed (but "what happened") is still in the form."""
    expect(page.locator("#people-0-name")).to_have_value(report.name)
    expect(page.locator("#people-0-role")).to_have_value(report.role)
    expect(page.locator("#people-0-identifier")).to_have_value(report.identifier)
    expect(page.locator("#people-0-unit")).to_have_value(report.unit)
    expect(page.locator("#when_happened")).to_have_value(report.when)
    expect(page.locator("#where_happened")).to_have_value(report.where)
    expect(page.locator(f"#risk_now-{report.risk_now}")).to_be_checked()
    expect(page.locator(f"#vulnerable_person-{report.vulnerable_person}")).to_be_checked()
    expect(page.locator(f"#how_known-{report.how_known}")).to_be_checked()
    expect(page.locator("#witnesses")).to_have_value(report.witnesses)
    expect(page.locator(f"#category-{report.category}")).to_be_checked()


def send_report(page: Page, lang: str = "en") -> str:
    """Press "Send report", wait for the receipt, return the code shown."""
    page.locator("#send-report").click()
    expect(page.locator("#receipt-heading")).to_have_text(RECEIPT_HEADING[lang], timeout=30_000)
    code = page.locator("[data-receipt-code]").inner_text().strip()
    assert re.fullmatch(r"[a-z]+( [a-z]+){7}", code), f"receipt code {code!r} is not 8 words"
    return code


def multipart_parts(body: bytes) -> list[tuple[str, str | None, bytes]]:
    """(field name, file name or None, value) for each part of a multipart/form-data body."""
    boundary = body.split(b"\r\n", 1)[0]
    assert boundary.startswith(b"--"), body[:80]
    parts = []
    for chunk in body.split(boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, value = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = re.search(rb'Content-Disposition: form-data; name="([^"]*)"(?:; filename="([^"]*)")?', head, re.I)
        assert disposition, head
        filename = disposition.group(2).decode() if disposition.group(2) is not None else None
        parts.append((disposition.group(1).decode(), filename, value.removesuffix(b"\r\n")))
    return parts


def sign_in_with_code(page: Page, base: str, code: str) -> None:
    page.goto(base + "/follow-up")
    expect(page.get_by_role("heading", name="Follow up a report")).to_be_visible()
    page.get_by_label("Your receipt code").fill(code)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(base + "/follow-up/case")
    expect(page.get_by_role("heading", name="Your report", exact=True)).to_be_visible()


def assert_case_shows(page: Page, report: Report) -> None:
    summary = page.locator("dl.govuk-summary-list").last
    expect(summary).to_contain_text(report.what_happened)
    expect(summary).to_contain_text(report.name)
    expect(summary).to_contain_text(report.identifier)
    expect(summary).to_contain_text(report.where)
    expect(summary).to_contain_text(report.witnesses)
    expect(summary.get_by_role("link", name=report.file_name)).to_be_visible()


def download_evidence(page: Page, name: str) -> bytes:
    with page.expect_download() as info:
        page.get_by_role("link", name=name).first.click()
    return Path(info.value.path()).read_bytes()


def reply(page: Page, text: str, attachment: tuple[str, bytes] | None = None) -> None:
    """Send a follow-up message (and a file) from the case page; it then shows in the conversation."""
    page.get_by_label("Your message").fill(text)
    if attachment:
        page.set_input_files("#evidence", files=[{"name": attachment[0], "mimeType": "text/plain", "buffer": attachment[1]}])
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Your message has been encrypted and sent to the reviewers.")).to_be_visible()
    mine = page.locator(".portal-message--reporter").last
    expect(mine).to_contain_text(text)
    if attachment:
        expect(mine.get_by_role("link", name=attachment[0])).to_be_visible()


def sign_out_and_check(page: Page, base: str) -> None:
    """Sign out; the session cookie goes, and the case page is no longer reachable, not even by Back."""
    with page.expect_response(lambda r: r.url == base + "/follow-up/sign-out") as signed_out:
        page.locator("header").get_by_role("button", name="Sign out").click()
    clear = signed_out.value.header_value("clear-site-data") or ""
    assert all(f'"{kind}"' in clear for kind in ("cache", "cookies", "storage")), clear
    expect(page).to_have_url(base + "/signed-out")
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "portal_followup"], page.context.cookies()
    page.go_back()
    expect(page).to_have_url(re.compile(re.escape(base) + r"/follow-up(\?.*)?$"))
    expect(page.get_by_role("heading", name="Follow up a report")).to_be_visible()
    page.goto(base + "/follow-up/case")
    expect(page).to_have_url(re.compile(re.escape(base) + r"/follow-up(\?.*)?$"))


_used_codes: dict[str, str] = {}


def sign_in_reviewer(page: Page, base: str, login: str, passphrase: str, totp_secret: str, lang: str = "en") -> None:
    """Sign in to the triage interface, with a TOTP code this secret has not used yet: the portal
    refuses a code used once, and a second sign-in of the same account may fall in the same 30 s."""
    import time

    import pyotp

    page.goto(in_language(base + "/login", lang))
    page.locator("#login").fill(login)
    page.locator("#passphrase").fill(passphrase)
    page.locator("#passphrase").press("Enter")
    totp = pyotp.TOTP(totp_secret)
    while totp.now() == _used_codes.get(totp_secret):
        time.sleep(0.5)
    _used_codes[totp_secret] = totp.now()
    page.locator("#code").fill(_used_codes[totp_secret])
    page.locator("#code").press("Enter")
    expect(page).to_have_url(in_language(base + "/", lang))


def report_about(browsing, reporter, what: str, name: str, collar: str) -> None:
    """One report naming one person, sent with JavaScript from a fresh context (another reporter)."""
    page = browsing.new_page()
    open_form(page, reporter.url)
    page.fill("#what_happened", what)
    page.fill("#people-0-name", name)
    page.fill("#people-0-identifier", collar)
    send_report(page)
    page.context.close()


def set_stage(instance, reference: str | None = None, **values) -> str:
    """Move a report (the newest, if no reference) through the workflow, as reviewers would have."""
    from sqlalchemy import select

    from portal.db import Database
    from portal.reports.models import Report as ReportRow

    db = Database(instance.database_url)
    try:
        with db.transaction() as session:
            query = select(ReportRow).order_by(ReportRow.id.desc()).limit(1) if reference is None else \
                select(ReportRow).where(ReportRow.reference == reference)
            row = session.scalars(query).one()
            for key, value in values.items():
                setattr(row, key, value)
            return row.reference
    finally:
        db.dispose()
