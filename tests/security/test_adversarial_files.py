"""Hostile files: empty, oversized, decompression bombs, active content, hostile names.

* A zero-byte file is accepted and shown as 0 bytes in both interfaces.
* An oversized file in a reply (per-file limit lowered) is dropped with a message,
  the typed message kept, and nothing stored.
* Bombs given to the triage "Make a safe copy" route: an image claiming 10^10
  pixels, a PDF with 100,000 pages, and 7 KB of nested FlateDecode that expands
  to 3 GiB. Each ends in the report page (the "No safe copy was made" warning, or a
  copy ready to download) within 10 s. The sandboxed converter's own time and memory
  on a larger hostile corpus are tests/security/test_evidence_hostile.py.
* SVG and HTML with <script> are only ever sent as application/octet-stream
  attachments under a sandbox CSP, from both interfaces.
* Path traversal, control and RTL-override characters, 300-character and empty
  names: the stored name is cleaned and Content-Disposition is plain ASCII.
"""

from __future__ import annotations

import io
import re
import struct
import time
import unicodedata
import zlib

import pytest
from sqlalchemy import select
from support import csrf_from, receipt_from, sign_in
from test_adversarial_common import assert_graceful, build_app, post_multipart, reporter_token, row_counts
from triage_support import attachment_ids, references, reporter_keys, sign_in_reviewer, submit_with_reference

from portal.blobs import Blob
from portal.crypto.receipt import receipt_secret
from portal.reports.models import Attachment, Message, SafeCopy
from portal.reports.receipts import find_with_secret
from portal.reports.service import open_attachment_meta, reporter_dek

# An ASCII filename, and the made-safe UTF-8 name percent-encoded beside it when they differ (RFC 6266).
SAFE_DISPOSITION = re.compile(r"""attachment; filename="[A-Za-z0-9._-]{1,100}"(; filename\*=UTF-8''[A-Za-z0-9._~%-]{1,600})?""")


@pytest.fixture
def reporter(settings_overrides, database, lead, recovery_key):
    app = build_app("reporter", settings_overrides)
    yield app
    app.extensions["portal.db"].dispose()


@pytest.fixture
def triage(settings_overrides, database):
    app = build_app("triage", settings_overrides)
    yield app
    app.extensions["portal.db"].dispose()


def _submit(reporter, database, files, what="hostile files") -> tuple[str, str, object]:
    """Send a report with these (content, name, type) files through the no-JavaScript form."""
    client = reporter.test_client()
    before = set(references(database))
    parts = [("csrf_token", reporter_token(reporter)), ("what_happened", what)]
    parts += [("evidence", data, name, ctype) for data, name, ctype in files]
    response = post_multipart(client, "/report", parts)
    assert response.status_code == 200, response.data[-1500:]
    (reference,) = set(references(database)) - before
    return reference, receipt_from(response.data), client


def _stored_metas(database, instance_dir, code: str):
    keys = reporter_keys(instance_dir)
    session = database.session
    session.expire_all()
    report = find_with_secret(session, keys.pepper, receipt_secret(code, keys.install_salt))
    dek = reporter_dek(report, receipt_secret(code, keys.install_salt))
    metas = [open_attachment_meta(dek, report, a) for a in report.attachments]
    session.rollback()
    return metas


def _assert_safe_download(response, body: bytes | None = None) -> None:
    assert response.status_code == 200
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert SAFE_DISPOSITION.fullmatch(response.headers["Content-Disposition"]), response.headers["Content-Disposition"]
    csp = response.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    data = response.data  # always read to the end: a download streams from the database after the view returns
    response.close()
    if body is not None:
        assert data == body


# -- empty and oversized ---------------------------------------------------------------------


def test_zero_byte_file_is_accepted_and_shown_as_0_bytes(reporter, triage, database, lead):
    reference, code, client = _submit(reporter, database, [(b"", "empty.txt", "text/plain")])
    assert sign_in(client, code).status_code == 302
    case = client.get("/follow-up/case").data.decode()
    assert "empty.txt" in case and "(0 Bytes)" in case
    (file_id,) = re.findall(r"/follow-up/files/([0-9a-f]{32})", case)
    _assert_safe_download(client.get(f"/follow-up/files/{file_id}"), b"")

    reviewer = sign_in_reviewer(triage.test_client(), lead)
    page = reviewer.get(f"/reports/{reference}").data
    assert re.search(rb'portal-file__name">empty</span> <strong[^>]*>txt</strong>', page) and b"0 Bytes" in page
    (file_id,) = attachment_ids(page)
    _assert_safe_download(reviewer.get(f"/reports/{reference}/files/{file_id}"), b"")


def test_oversized_reply_file_is_dropped_and_the_message_kept(settings_overrides, database, lead, recovery_key):
    app = build_app("reporter", settings_overrides, max_file_bytes=4096)
    try:
        client = app.test_client()
        _, code = submit_with_reference(client, database, what_happened="limit test")
        assert sign_in(client, code).status_code == 302
        before = row_counts(database, Blob, Attachment, Message)
        token = csrf_from(client.get("/follow-up/case").data)
        typed = "Here is the recording <you asked for> & more"
        response = post_multipart(client, "/follow-up/reply", [
            ("csrf_token", token), ("message", typed),
            ("evidence", b"x" * 4096, "exactly-at-limit.bin", "application/octet-stream"),
            ("evidence", b"x" * 4097, "one-byte-over.bin", "application/octet-stream"),
        ])
        assert_graceful(response)
        page = response.data.decode()
        assert response.status_code == 400
        assert "one-byte-over.bin is larger than" in page
        assert "Here is the recording &lt;you asked for&gt; &amp; more" in page
        assert row_counts(database, Blob, Attachment, Message) == before  # neither file, nor the message, stored
    finally:
        app.extensions["portal.db"].dispose()


# -- bombs -----------------------------------------------------------------------------------


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b"")


def palette_png(side: int) -> bytes:
    """A palette image that is small on the wire (about 60 KB at 8000 x 8000) and 64 MB decoded."""
    from PIL import Image

    image = Image.new("P", (side, side), 0)
    image.putpalette([0, 0, 0] * 256)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def pdf_with_pages(count: int) -> bytes:
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page()
    page = pdf.pages[0].obj
    pdf.Root.Pages.Kids = pikepdf.Array([page] * count)
    pdf.Root.Pages.Count = count
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def zeros_flate(mib: int) -> bytes:
    """A zlib stream of `mib` MiB of zeros, built in milliseconds (one full-flushed block repeated)."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = co.compress(b"\0" * (1 << 20)) + co.flush(zlib.Z_FULL_FLUSH)
    tail = co.flush(zlib.Z_FINISH)
    adler = (((mib << 20) % 65521) << 16) | 1  # Adler-32 of n zeros
    return b"\x78\xda" + block * mib + tail + struct.pack(">I", adler)


def pdf_stream_bomb(gib: int = 3) -> bytes:
    """A PDF whose page content is FlateDecode twice over: about 7 KB that decodes to `gib` GiB."""
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page()
    stream = pikepdf.Stream(pdf, zlib.compress(zeros_flate(gib * 1024), 9))
    stream.Filter = pikepdf.Array([pikepdf.Name.FlateDecode, pikepdf.Name.FlateDecode])
    pdf.pages[0].Contents = stream
    out = io.BytesIO()
    pdf.save(out, compress_streams=False, stream_decode_level=pikepdf.StreamDecodeLevel.none)
    return out.getvalue()


BOMBS = {
    "image-10^10-pixels": (lambda: png_claiming(100_000, 100_000), "bomb.png", "image/png", "refused"),
    "pdf-100000-pages": (lambda: pdf_with_pages(100_000), "bomb.pdf", "application/pdf", "refused"),
    "pdf-nested-flate-3GiB": (pdf_stream_bomb, "stream.pdf", "application/pdf", "either"),
    "palette-png-64-megapixels": (lambda: palette_png(8000), "big.png", "image/png", "either"),
}


@pytest.mark.slow
@pytest.mark.parametrize("bomb", list(BOMBS))
def test_bombs_on_the_safe_copy_route(bomb, reporter, triage, database, lead):
    make, name, ctype, expected = BOMBS[bomb]
    data = make()
    assert len(data) < 1_000_000  # small on the wire
    reference, _, _ = _submit(reporter, database, [(data, name, ctype)])
    client = sign_in_reviewer(triage.test_client(), lead)
    page = client.get(f"/reports/{reference}").data
    (file_id,) = attachment_ids(page)
    started = time.perf_counter()
    response = client.post(f"/reports/{reference}/files/{file_id}/safe-copy", data={"csrf_token": csrf_from(page)})
    elapsed = time.perf_counter() - started
    print(f"{bomb}: {len(data)} bytes, safe-copy route answered {response.status_code} in {elapsed:.2f} s")
    assert elapsed < 10
    assert_graceful(response)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/reports/{reference}#file-{file_id}")
    page = client.get(response.headers["Location"]).data.decode()
    made = session_count(database, SafeCopy)
    if "No safe copy was made:" in page:
        assert made == 0
        assert "Only the original is available" in page and "Traceback" not in page
        assert client.get(f"/reports/{reference}/files/{file_id}/safe-copy").status_code == 404
    else:
        assert expected == "either" and made == 1
        assert "Safe copy ready." in page
        _assert_safe_download(client.get(f"/reports/{reference}/files/{file_id}/safe-copy"))
    if expected == "refused":
        assert made == 0
    # the original is still there, byte for byte
    assert client.get(f"/reports/{reference}/files/{file_id}").data == data


def session_count(database, model) -> int:
    session = database.session
    try:
        return len(session.scalars(select(model)).all())
    finally:
        session.rollback()


# -- active content ----------------------------------------------------------------------------

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(document.cookie)</script></svg>'
HTML = b"<!doctype html><html><body><script>fetch('/follow-up/case').then(r=>r.text()).then(alert)</script></body></html>"


def test_svg_and_html_with_script_are_never_rendered_by_either_app(reporter, triage, database, lead):
    files = [(SVG, "evil.svg", "image/svg+xml"), (HTML, "evil.html", "text/html"), (HTML, "evil.xhtml", "application/xhtml+xml")]
    reference, code, client = _submit(reporter, database, files)
    assert sign_in(client, code).status_code == 302
    case = client.get("/follow-up/case").data.decode()
    reporter_ids = re.findall(r"/follow-up/files/([0-9a-f]{32})", case)
    assert len(reporter_ids) == 3
    bodies = {SVG, HTML}
    for file_id in reporter_ids:
        response = client.get(f"/follow-up/files/{file_id}")
        _assert_safe_download(response)
        assert response.data in bodies
        assert "svg" not in response.headers["Content-Type"] and "html" not in response.headers["Content-Type"]

    reviewer = sign_in_reviewer(triage.test_client(), lead)
    page = reviewer.get(f"/reports/{reference}").data
    triage_ids = attachment_ids(page)
    assert len(triage_ids) == 3
    for file_id in triage_ids:
        response = reviewer.get(f"/reports/{reference}/files/{file_id}")
        _assert_safe_download(response)
        assert response.data in bodies
        # no safe copy of active content: asking for one is refused with a warning, never a rendering
        assert reviewer.get(f"/reports/{reference}/files/{file_id}/safe-copy").status_code == 404
        made = reviewer.post(f"/reports/{reference}/files/{file_id}/safe-copy", data={"csrf_token": csrf_from(page)})
        assert made.status_code == 302
        follow = reviewer.get(made.headers["Location"])
        assert "No safe copy was made: This kind of file cannot be converted" in follow.data.decode()
        assert b"<script>alert" not in follow.data and b"<svg" not in follow.data
        assert reviewer.get(f"/reports/{reference}/files/{file_id}/safe-copy").status_code == 404
    assert session_count(database, SafeCopy) == 0


# -- hostile names ------------------------------------------------------------------------------

HOSTILE = {  # stored as portal.evidence.names.safe_file_name makes them: extension lower case, 120 characters at most
    "../../etc/passwd": "passwd",
    "..\\..\\windows\\win.ini": "windowswin.ini",  # quoted-string unescaping drops the backslashes
    "report\x00.pdf\x07\x1b[2J": "report.pdf[2j",
    "invoice\u202egpj.exe": "invoicegpj.exe",  # the RTL override would show it as "invoiceexe.jpg"
    "\u202e\u200f\u2066": "file",
    "/": "file",
    "...": "file",
    ".htaccess": "htaccess",
    "a" * 300 + ".txt": "a" * 116 + ".txt",
    "résumé 履歴書.pdf": "résumé 履歴書.pdf",
}


def _is_clean(name: str) -> bool:
    return ("/" not in name and "\\" not in name and not name.startswith(".") and 0 < len(name) <= 120
            and not any(unicodedata.category(ch).startswith("C") for ch in name))


def test_hostile_file_names_are_stored_clean_and_sent_as_ascii(reporter, triage, database, instance_dir, lead):
    files = [(f"content {i}".encode(), name, "application/octet-stream") for i, name in enumerate(HOSTILE)]
    files.append((b"ignored: no name", "", "application/octet-stream"))  # what a browser sends for "no file chosen"
    reference, code, client = _submit(reporter, database, files)
    stored = [m.name for m in _stored_metas(database, instance_dir, code)]
    assert stored == list(HOSTILE.values())  # the nameless part was not stored at all
    assert all(_is_clean(name) for name in stored)

    assert sign_in(client, code).status_code == 302
    case = client.get("/follow-up/case").data.decode()
    reviewer = sign_in_reviewer(triage.test_client(), lead)
    page = reviewer.get(f"/reports/{reference}").data
    for file_id in re.findall(r"/follow-up/files/([0-9a-f]{32})", case):
        _assert_safe_download(client.get(f"/follow-up/files/{file_id}"))
    for file_id in attachment_ids(page):
        _assert_safe_download(reviewer.get(f"/reports/{reference}/files/{file_id}"))


def test_hostile_file_names_in_a_reply_are_cleaned_too(reporter, database, instance_dir):
    client = reporter.test_client()
    _, code = submit_with_reference(client, database, what_happened="reply names")
    assert sign_in(client, code).status_code == 302
    token = csrf_from(client.get("/follow-up/case").data)
    response = post_multipart(client, "/follow-up/reply", [
        ("csrf_token", token), ("message", "names"),
        ("evidence", b"one", "../../../../tmp/x\r\nSet-Cookie: a=b", "text/plain"),
        ("evidence", b"two", "\u202eexe.pdf", "text/plain"),
    ])
    assert response.status_code == 302
    stored = [m.name for m in _stored_metas(database, instance_dir, code)]
    assert stored == ["x%0D%0ASet-Cookie: a=b", "exe.pdf"]  # line breaks arrive percent-encoded, as browsers send them
    assert all(_is_clean(name) for name in stored)


def test_report_form_refuses_a_file_part_without_a_token_first(reporter, database):
    """A file sent before the form token is discarded, never stored, and the form says it expired."""
    response = post_multipart(reporter.test_client(), "/report", [
        ("evidence", b"early file", "early.txt", "text/plain"), ("csrf_token", reporter_token(reporter)),
        ("what_happened", "typed text"),
    ])
    assert response.status_code == 403 and b"typed text" in response.data
    session = database.session
    assert session.scalars(select(Blob)).all() == []
    session.rollback()
