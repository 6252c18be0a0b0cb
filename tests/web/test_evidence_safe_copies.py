"""Safe copies made through the triage interface (issue #14), and file names from either path.

* A PDF with JavaScript, an OpenAction, a tracking link and XMP metadata: the copy made through
  "Make a safe copy" has none of them (parsed with pikepdf), and the page says what was removed.
* A DOCX with comments, a people part and author names: the copy keeps none of them.
* A right-to-left override in a file name, from the no-JavaScript form and from a reply sealed in
  the browser, is never shown or sent: not on the triage report page, not on the reporter's case
  page, not in Content-Disposition.
* While every conversion slot is taken, asking for a copy is answered at once with "try again",
  and nothing is made.
* "Make a safe copy" refuses a request without the session's token, or with a token replayed
  from an earlier session.
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import zipfile

import pikepdf
import pytest
from sqlalchemy import func, select
from support import active_pdf, browser_reply, csrf_from, sign_in
from triage_support import read, sign_in_reviewer, sign_out, submit_with_reference

from portal.reports.models import SafeCopy
from portal.triage.audit import AuditEntry

RLO = "\u202e"


W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
DOCX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
        '<Override PartName="/word/comments.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.comments+xml"/>'
        '<Override PartName="/word/people.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.people+xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        "</Types>"),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="word/document.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" '
        'Target="docProps/core.xml"/></Relationships>'),
    "word/_rels/document.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId5" Type="{REL}/comments" Target="comments.xml"/>'
        '<Relationship Id="rId6" Type="http://schemas.microsoft.com/office/2011/relationships/people" Target="people.xml"/>'
        "</Relationships>"),
    "word/document.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><w:document {W}><w:body><w:p>'
        '<w:commentRangeStart w:id="0"/><w:r><w:t>What I saw. </w:t></w:r>'
        '<w:ins w:id="1" w:author="Alice Author" w:date="2024-01-01T00:00:00Z"><w:r><w:t>Added later. </w:t></w:r></w:ins>'
        '<w:del w:id="2" w:author="Bob Editor" w:date="2024-01-02T00:00:00Z"><w:r><w:delText>DELETED NAME</w:delText></w:r></w:del>'
        '<w:commentRangeEnd w:id="0"/><w:r><w:commentReference w:id="0"/></w:r></w:p></w:body></w:document>'),
    "word/comments.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><w:comments {W}>'
        + "".join(f'<w:comment w:id="{i}" w:author="Carol Commenter" w:initials="CC"><w:p><w:r><w:t>comment {i}</w:t>'
                  "</w:r></w:p></w:comment>" for i in range(2))
        + "</w:comments>"),
    "word/people.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><w15:people xmlns:w15="http://schemas.microsoft.com/office/word/2012/wordml">'
        '<w15:person w15:author="Carol Commenter"/></w15:people>'),
    "docProps/core.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties '
        'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Dave Creator</dc:creator>'
        "<cp:lastModifiedBy>Erin Editor</cp:lastModifiedBy></cp:coreProperties>"),
}
DOCX_SECRETS = (b"Alice Author", b"Bob Editor", b"Carol Commenter", b"Dave Creator", b"Erin Editor", b"DELETED NAME",
                b"comment 0", b"commentReference", b"w15:person")


def people_docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in DOCX_PARTS.items():
            archive.writestr(name, body)
    return out.getvalue()


DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _flashes(page: bytes) -> str:
    match = re.findall(rb'govuk-notification-banner__content">(.*?)</div>', page, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", m.decode()) for m in match)


def _file_item(page: bytes, file_id: str) -> str:
    match = re.search(rf'<li class="portal-file" id="file-{file_id}">(.*?)</li>', page.decode(), re.S)
    assert match, f"no file {file_id} on the page"
    return match.group(1)


def _copies(database) -> int:
    return read(database, lambda s: s.scalar(select(func.count()).select_from(SafeCopy)))


def _audited(database, *actions: str) -> int:
    return read(database, lambda s: s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action.in_(actions))))


@pytest.fixture
def one_file(triage_app, reporter_client, database, lead):
    """Submit one file through the no-JavaScript form; a signed-in reviewer and the file's id."""

    def submit(content: bytes, name: str, ctype: str):
        reference, code = submit_with_reference(reporter_client, database, what_happened="Evidence attached",
                                                evidence=[(io.BytesIO(content), name, ctype)])
        client = sign_in_reviewer(triage_app.test_client(), lead)
        page = client.get(f"/reports/{reference}").data
        (file_id,) = set(re.findall(r'id="file-([0-9a-f]{32})"', page.decode()))
        return client, reference, file_id, page, code

    return submit


def _make(client, reference: str, file_id: str, token: str):
    return client.post(f"/reports/{reference}/files/{file_id}/safe-copy", data={"csrf_token": token})


def test_a_pdf_safe_copy_has_no_script_actions_links_or_metadata(one_file, database):
    original = active_pdf("Sergeant Secret")
    client, reference, file_id, page, _ = one_file(original, "statement.pdf", "application/pdf")
    response = _make(client, reference, file_id, csrf_from(page))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"#file-{file_id}")
    page = client.get(response.headers["Location"]).data
    for removed in ("JavaScript", "automatic action on opening", "links to websites (1)", "metadata (author, title, XMP)",
                    "annotations by 1 person"):
        assert removed in _flashes(page), removed
        assert removed in _file_item(page, file_id), removed  # still said after the flash has gone
    assert "Safe copy ready. Removed: " in _flashes(page)

    response = client.get(f"/reports/{reference}/files/{file_id}/safe-copy")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="safe-copy-statement.pdf"'
    copy = response.data
    with pikepdf.open(io.BytesIO(copy)) as pdf:
        assert len(pdf.pages) == 1
        for key in ("/OpenAction", "/Names", "/Metadata", "/AA"):
            assert key not in pdf.Root, key
        assert "/Info" not in pdf.trailer or not dict(pdf.trailer.Info)
        for page_object in pdf.pages:
            assert "/Annots" not in page_object and "/Metadata" not in page_object and "/AA" not in page_object
        kinds = set()
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                kinds |= {str(obj.get("/S")), str(obj.get("/Type")), str(obj.get("/Subtype"))}
                assert "/JS" not in obj and "/URI" not in obj
        assert not kinds & {"/JavaScript", "/URI", "/Metadata", "/Annot", "/Link"}, kinds
    for marker in (b"/JavaScript", b"/OpenAction", b"/URI", b"/Metadata", b"tracker.example", b"Sergeant Secret"):
        assert marker not in copy, marker
    assert client.get(f"/reports/{reference}/files/{file_id}").data == original  # the evidence is unchanged
    assert _copies(database) == 1


def test_a_docx_safe_copy_keeps_no_comments_people_or_authors(one_file):
    original = people_docx()
    client, reference, file_id, page, _ = one_file(original, "minutes.docx", DOCX_TYPE)
    response = _make(client, reference, file_id, csrf_from(page))
    page = client.get(response.headers["Location"]).data
    item = _file_item(page, file_id)
    for removed in ("author name", "2 comments", "tracked changes by 2 people", "list of people"):
        assert removed in item, (removed, item)

    response = client.get(f"/reports/{reference}/files/{file_id}/safe-copy")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="safe-copy-minutes.docx"'
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        names = set(archive.namelist())
        everything = b"".join(archive.read(name) for name in names)
        document = archive.read("word/document.xml")
    assert "word/comments.xml" not in names and "word/people.xml" not in names
    for secret in DOCX_SECRETS:
        assert secret not in everything, secret
    assert b"What I saw." in document and b"Added later." in document  # the text itself is kept
    assert client.get(f"/reports/{reference}/files/{file_id}").data == original


def test_a_right_to_left_override_in_a_name_is_never_shown_or_sent(triage_app, reporter_client, database, lead):
    """One file from the no-JavaScript form, one in a reply sealed in the browser (whose name the
    server never sees before it is shown): neither page, nor any download, carries the override."""
    reference, code = submit_with_reference(reporter_client, database, what_happened="Names",
                                            evidence=[(io.BytesIO(b"form file"), f"Statement_{RLO}fdp.exe", "application/pdf")])
    assert sign_in(reporter_client, code).status_code == 302
    sent = browser_reply(reporter_client, "A file from the browser",
                         files=[(f"Reply_{RLO}fdp.exe", "application/pdf", b"browser file")], code=code)
    assert sent.status_code == 200 and sent.get_json()["ok"] is True, sent.data

    reviewer = sign_in_reviewer(triage_app.test_client(), lead)
    triage_page = reviewer.get(f"/reports/{reference}")
    case_page = reporter_client.get("/follow-up/case")
    assert triage_page.status_code == 200 and case_page.status_code == 200
    for page in (triage_page.data.decode(), case_page.data.decode()):
        assert RLO not in page and "&#8238;" not in page and "&#x202e;" not in page.lower()
        assert "A file from the browser" in page
    triage_text = triage_page.data.decode()
    for stem in ("Statement_fdp", "Reply_fdp"):  # the real extension is shown apart, as what it is
        assert re.search(rf'portal-file__name">{stem}</span> <strong class="[^"]*portal-file__ext">exe</strong>',
                         triage_text), stem
    case_text = case_page.data.decode()
    assert "Statement_fdp.exe" in case_text and "Reply_fdp.exe" in case_text

    contents = {}
    triage_ids = sorted(set(re.findall(r'id="file-([0-9a-f]{32})"', triage_text)))
    assert len(triage_ids) == 2
    for file_id in triage_ids:
        response = reviewer.get(f"/reports/{reference}/files/{file_id}")
        contents[response.data] = response.headers["Content-Disposition"]
    for file_id in sorted(set(re.findall(r"/follow-up/files/([0-9a-f]{32})", case_text))):
        response = reporter_client.get(f"/follow-up/files/{file_id}")
        assert response.headers["Content-Disposition"] == contents[response.data]
    assert contents == {b"form file": 'attachment; filename="Statement_fdp.exe"',
                        b"browser file": 'attachment; filename="Reply_fdp.exe"'}


def test_while_every_slot_is_taken_nothing_is_made_and_the_reviewer_is_told(one_file, database, instance_dir):
    client, reference, file_id, page, _ = one_file(active_pdf("Sergeant Secret"), "statement.pdf", "application/pdf")
    slots = instance_dir / "run" / "safe-copies"
    slots.mkdir(parents=True, exist_ok=True)
    fd = os.open(slots / "slot-0.lock", os.O_RDWR | os.O_CREAT, 0o600)  # safe_copy_slots = 1 by default
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        response = _make(client, reference, file_id, csrf_from(page))
        assert response.status_code == 302 and response.headers["Location"].endswith(f"#file-{file_id}")
        busy = client.get(response.headers["Location"]).data
        assert "Another safe copy is being made right now. Try again in a minute." in _flashes(busy)
        assert "Make a safe copy" in _file_item(busy, file_id)
        assert _copies(database) == 0
        assert _audited(database, "attachment.safe-copy-made", "attachment.safe-copy-refused") == 0
    finally:
        os.close(fd)
    # the slot free again, the same request makes the copy
    response = _make(client, reference, file_id, csrf_from(page))
    assert "Safe copy ready." in _flashes(client.get(response.headers["Location"]).data)
    assert _copies(database) == 1


def test_making_a_copy_needs_the_sessions_token(one_file, database, lead):
    client, reference, file_id, page, _ = one_file(active_pdf("Sergeant Secret"), "statement.pdf", "application/pdf")
    old_token = csrf_from(page)
    for data in ({}, {"csrf_token": ""}, {"csrf_token": "garbage"}, {"csrf_token": old_token + "x"}):
        response = client.post(f"/reports/{reference}/files/{file_id}/safe-copy", data=data)
        assert response.status_code == 400, data
    # a token replayed from an earlier session of the same reviewer
    assert sign_out(client).status_code == 302
    sign_in_reviewer(client, lead)
    response = _make(client, reference, file_id, old_token)
    assert response.status_code == 400
    assert _copies(database) == 0
    assert _audited(database, "attachment.safe-copy-made", "attachment.safe-copy-refused") == 0
    # control: the current session's token works
    assert _make(client, reference, file_id, csrf_from(client.get(f"/reports/{reference}").data)).status_code == 302
    assert _copies(database) == 1
