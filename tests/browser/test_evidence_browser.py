"""Evidence in a real browser (issue #14): a reporter sends a PDF carrying JavaScript, an
OpenAction, a tracking link and author metadata, and a file whose name hides its extension
behind a right-to-left override; a reviewer sees the name without the override, makes a safe
copy, reads what was removed and downloads a copy with none of it (checked with pikepdf)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pikepdf
import pyotp
import pytest
from journeys import add_reviewer, assert_unique_ids, open_form, send_report, shoot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PASSPHRASE = "evidence-lead-copper-harbour-willow-9"
RLO = "\u202e"
DISGUISED = f"Statement_{RLO}fdp.exe"  # shows as "Statement_exe.pdf" where the override is honoured
SHOTS_COPY = Path("/tmp/shots14")


def hostile_pdf(tag: str) -> bytes:
    """One page of visible text, plus document JavaScript, an OpenAction, a /URI link, an
    annotation author, XMP (document and page) and an Info dictionary."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                BaseFont=pikepdf.Name.Helvetica))
    text = b"BT /F1 18 Tf 72 720 Td (Shift rota, custody suite) Tj 0 -28 Td (Reference %s) Tj ET" % tag.encode()
    pdf.pages.append(pikepdf.Page(pikepdf.Dictionary(
        Type=pikepdf.Name.Page, MediaBox=[0, 0, 595, 842],
        Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)), Contents=pdf.make_stream(text))))
    page = pdf.pages[0]
    js = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.launchURL('https://tracker.example/open');")))
    pdf.Root.OpenAction = js
    pdf.Root.Names = pikepdf.Dictionary(JavaScript=pikepdf.Dictionary(Names=[pikepdf.String("track"), js]))
    link = pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=[72, 600, 300, 630],
                              A=pikepdf.Dictionary(S=pikepdf.Name.URI, URI=pikepdf.String("https://tracker.example/?id=42")))
    note = pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Text, Rect=[72, 500, 92, 520],
                              T=pikepdf.String("Inspector Jane Doe"), Contents=pikepdf.String("check this"))
    page.Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(link), pdf.make_indirect(note)]))
    page.Metadata = pikepdf.Stream(pdf, b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:creator"] = ["Jane Doe"]
    pdf.docinfo["/Author"] = "Jane Doe"
    pdf.docinfo["/Title"] = "Internal"
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def active_content(data: bytes) -> list[str]:
    """Every /JavaScript, /OpenAction, /URI or /Metadata found anywhere in the parsed PDF."""
    found = []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for key in ("/OpenAction", "/Names", "/AA", "/Metadata", "/AcroForm"):
            if key in pdf.Root:
                found.append(f"catalogue {key}")
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                for key in obj.keys():
                    if key in ("/JavaScript", "/JS", "/OpenAction", "/URI", "/Metadata", "/AA"):
                        found.append(f"object {obj.objgen} {key}")
                if obj.get("/S") in (pikepdf.Name.JavaScript, pikepdf.Name.URI):
                    found.append(f"object {obj.objgen} action {obj.get('/S')}")
        found += [f"Info {k}" for k in pdf.docinfo.keys() if k in ("/Author", "/Title", "/Creator", "/Producer")]
    return found


@pytest.fixture
def evidence_lead(instance):
    """A lead created before the report, so that it is wrapped to them."""
    from portal.instance import read_secret

    return add_reviewer(instance, "evidencelead", "Ade Okafor", PASSPHRASE,
                        blind_index_key=read_secret(instance.directory, "blind_index_key"))


def shoot_evidence(page, directory: Path, name: str) -> Path:
    """The Evidence section alone (heading to the end of the file list), and a copy in /tmp/shots14."""
    SHOTS_COPY.mkdir(exist_ok=True)
    path = directory / f"{name}.png"
    # Document coordinates (a full-page clip is measured from the top of the page, not the viewport).
    box = page.evaluate("""() => {
        const top = document.getElementById('evidence').getBoundingClientRect();
        const list = document.querySelector('#evidence ~ ul.portal-files').getBoundingClientRect();
        return {y: top.top + window.scrollY, bottom: list.bottom + window.scrollY};
    }""")
    page.screenshot(path=str(path), full_page=True,
                    clip={"x": 0, "y": max(0, box["y"] - 24), "width": page.viewport_size["width"],
                          "height": box["bottom"] - box["y"] + 48})
    shutil.copy(path, SHOTS_COPY / path.name)
    return path


def keep(path: Path, directory: Path) -> None:
    """A whole-page screenshot also under the test's directory and in /tmp/shots14."""
    SHOTS_COPY.mkdir(exist_ok=True)
    shutil.copy(path, directory / path.name)
    shutil.copy(path, SHOTS_COPY / path.name)


def test_reviewer_makes_and_downloads_a_safe_copy_of_a_hostile_pdf(browsing, reporter, triage, instance, evidence_lead,
                                                                    screenshots, tmp_path):
    original = hostile_pdf("E14")
    assert len(active_content(original)) >= 5  # the hostile file is what it claims

    # The reporter sends the PDF and the disguised file, encrypted in their browser.
    reporter_page = browsing.new_page()
    open_form(reporter_page, reporter.url)
    reporter_page.fill("#what_happened", "Evidencejourney: the rota he sent round, and a file he left on the shared drive.")
    reporter_page.set_input_files("#evidence", files=[
        {"name": "shift-rota.pdf", "mimeType": "application/pdf", "buffer": original},
        {"name": DISGUISED, "mimeType": "application/pdf", "buffer": b"MZ\x90\x00 not a document"},
    ])
    before = set(instance.references())
    send_report(reporter_page)
    (reference,) = set(instance.references()) - before

    # The reviewer signs in and opens the report.
    page = browsing.new_page()
    page.goto(triage.url + "/login")
    page.get_by_label("Login").fill("evidencelead")
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("6-digit code").fill(pyotp.TOTP(evidence_lead).now())
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(triage.url + "/")
    page.goto(f"{triage.url}/reports/{reference}")
    expect(page.get_by_role("heading", name=f"Report {reference}")).to_be_visible()

    # Both files are listed; the disguised name is shown without its override, its extension apart.
    files = page.locator("#evidence ~ ul.portal-files")
    expect(files.locator("li.portal-file")).to_have_count(2)
    pdf_item = files.locator("li.portal-file", has_text="shift-rota")
    disguised_item = files.locator("li.portal-file", has_text="Statement_")
    expect(pdf_item.locator(".portal-file__ext")).to_have_text("pdf")
    expect(disguised_item.locator(".portal-file__name")).to_have_text("Statement_fdp")
    expect(disguised_item.locator(".portal-file__ext")).to_have_text("exe")
    shown = page.locator("#evidence").locator("xpath=..").inner_text()
    assert RLO not in shown and "\u202d" not in shown and "\u2066" not in shown, "a bidi control reached the page"
    assert RLO not in page.content()
    expect(pdf_item.get_by_role("link", name="Download safe copy")).to_have_count(0)
    assert_unique_ids(page)
    before_shot = shoot_evidence(page, tmp_path, "14a-evidence-before-safe-copy")
    keep(shoot(page, screenshots, "14a-report-page-before"), tmp_path)

    # Make a safe copy of the PDF: the page says what was removed.
    pdf_item.get_by_role("button", name="Make a safe copy").click()
    banner = page.locator(".govuk-notification-banner--success")
    expect(banner).to_contain_text("Safe copy ready. Removed:", timeout=60_000)
    pdf_item = page.locator("#evidence ~ ul.portal-files li.portal-file", has_text="shift-rota")
    removed = pdf_item.locator(".portal-file__removed")
    expect(removed).to_contain_text("JavaScript")
    expect(removed).to_contain_text("link")
    sentence = removed.inner_text()
    assert sentence.startswith("Removed:"), sentence
    expect(pdf_item).to_contain_text("PDF, 1 page")
    expect(pdf_item.get_by_role("link", name="Download original")).to_be_visible()
    # The disguised file is not a PDF: a safe copy of it is refused, and only the original remains.
    disguised_item = page.locator("#evidence ~ ul.portal-files li.portal-file", has_text="Statement_")
    expect(disguised_item.get_by_role("button", name="Make a safe copy")).to_be_visible()
    assert_unique_ids(page)
    after_shot = shoot_evidence(page, tmp_path, "14b-evidence-after-safe-copy")
    keep(shoot(page, screenshots, "14b-report-page-after"), tmp_path)

    # Download the safe copy: a PDF with no active content and no metadata.
    with page.expect_download() as info:
        pdf_item.get_by_role("link", name="Download safe copy").click()
    download = info.value
    assert download.suggested_filename == "safe-copy-shift-rota.pdf", download.suggested_filename
    copy = Path(download.path()).read_bytes()
    assert copy.startswith(b"%PDF-")
    assert active_content(copy) == []
    with pikepdf.open(io.BytesIO(copy)) as pdf:
        assert len(pdf.pages) == 1
        assert "/Annots" not in pdf.pages[0]
        assert "/Font" not in pdf.pages[0].get("/Resources", {}), "fonts from the original survived"
    for marker in (b"tracker.example", b"Jane Doe", b"app.launchURL", b"Inspector"):
        assert marker not in copy, marker

    # The original is still there, unchanged.
    with page.expect_download() as info:
        pdf_item.get_by_role("link", name="Download original").click()
    assert Path(info.value.path()).read_bytes() == original

    # The disguised file: asking for a safe copy says why none was made; the original stays.
    disguised_item.get_by_role("button", name="Make a safe copy").click()
    refusal = page.locator(".govuk-notification-banner", has_text="No safe copy was made")
    expect(refusal).to_be_visible(timeout=60_000)
    expect(refusal).not_to_have_class("govuk-notification-banner--success")  # a refusal is a warning, not "Done"
    disguised_item = page.locator("#evidence ~ ul.portal-files li.portal-file", has_text="Statement_")
    expect(disguised_item.get_by_role("link", name="Download original")).to_be_visible()
    shoot_evidence(page, tmp_path, "14c-evidence-refused")
    keep(shoot(page, screenshots, "14c-report-page-refused"), tmp_path)

    assert before_shot.exists() and after_shot.exists()
    browsing.assert_clean()
