"""Evidence downloads on the triage interface: the original, byte for byte, and a safe copy a
reviewer has made (POST /reports/<ref>/files/<id>/safe-copy, converted once in the sandbox,
then downloaded with GET on the same address)."""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import ExifTags, Image
from sqlalchemy import func, select
from support import BLOB_STORES, blob_files, csrf_from
from triage_support import read, sign_in_reviewer, submit_with_reference

from portal.reports.models import SafeCopy
from portal.triage.audit import AuditEntry

SECRET = "Jane Reporter"


def _jpeg() -> bytes:
    image = Image.new("RGB", (40, 30), (120, 10, 10))
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = SECRET
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 12.5)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


JPEG = _jpeg()
NOTES = b"plain text notes " + SECRET.encode()
BROKEN = b"\xff\xd8\xff\xe0 this is not really a JPEG"

_FILE = re.compile(r'id="file-([0-9a-f]{32})">\s*<span class="portal-file__name">([^<]+)</span>'
                   r'(?: <strong class="[^"]*portal-file__ext">([^<]+)</strong>)?')


def files_on(page: bytes) -> dict[str, str]:
    """File name (stem.extension, as shown) -> attachment id, from the report page's evidence list."""
    return {f"{stem}.{ext}" if ext else stem: file_id for file_id, stem, ext in _FILE.findall(page.decode())}


def file_item(page: bytes, file_id: str) -> str:
    """The text of one file's entry in the evidence list."""
    match = re.search(rf'<li class="portal-file" id="file-{file_id}">(.*?)</li>', page.decode(), re.S)
    assert match, f"no file {file_id} on the page"
    return match.group(1)


def banners(page: bytes) -> tuple[str, str]:
    """(warnings, done): the text of the two flash banners of a triage page."""
    text = page.decode()
    found = {}
    for name, marker in (("warning", 'id="warning-title"'), ("done", 'id="flash-title"')):
        match = re.search(marker + r".*?govuk-notification-banner__content\">(.*?)</div>", text, re.S)
        found[name] = re.sub(r"<[^>]+>", " ", match.group(1)) if match else ""
    return found["warning"], found["done"]


def make_copy(client, reference: str, file_id: str, token: str | None = None):
    """POST the "Make a safe copy" form for one file, with the report page's token."""
    if token is None:
        token = csrf_from(client.get(f"/reports/{reference}").data)
    return client.post(f"/reports/{reference}/files/{file_id}/safe-copy", data={"csrf_token": token})


def safe_copy_count(database) -> int:
    return read(database, lambda s: s.scalar(select(func.count()).select_from(SafeCopy)))


def audit_entries(database, action: str) -> list[tuple[dict, str, str]]:
    return read(database, lambda s: [(json.loads(e.detail), e.report_ref, e.actor) for e in s.scalars(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))])


@pytest.fixture
def evidence(triage_app, reporter_client, database, lead):
    files = [(io.BytesIO(JPEG), "photo.jpg", "image/jpeg"), (io.BytesIO(NOTES), "notes.txt", "text/plain"),
             (io.BytesIO(BROKEN), "broken.jpg", "image/jpeg")]
    reference, code = submit_with_reference(reporter_client, database, what_happened="See the photo", evidence=files)
    client = sign_in_reviewer(triage_app.test_client(), lead)
    page = client.get(f"/reports/{reference}")
    ids = files_on(page.data)
    assert set(ids) == {"photo.jpg", "notes.txt", "broken.jpg"}
    return {"client": client, "reference": reference, "ids": ids, "page": page.data, "code": code}


def _url(evidence, name: str, safe: bool = False) -> str:
    return f"/reports/{evidence['reference']}/files/{evidence['ids'][name]}" + ("/safe-copy" if safe else "")


@pytest.mark.parametrize("blob_store", BLOB_STORES)
def test_original_is_downloaded_byte_for_byte(evidence, blob_store, blob_dir):
    """A no-JavaScript submission with files, then a reviewer's download, on either attachment store."""
    if blob_store == "filesystem":
        assert sorted(blob_files(blob_dir)) == sorted(evidence["ids"].values())  # one file per attachment, by id
        assert all(JPEG not in content and NOTES not in content for content in blob_files(blob_dir).values())
    response = evidence["client"].get(_url(evidence, "photo.jpg"))
    assert response.status_code == 200
    assert response.data == JPEG
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; filename="photo.jpg"'
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_every_file_offers_to_make_a_safe_copy_and_none_exists_yet(evidence):
    for file_id in evidence["ids"].values():
        item = file_item(evidence["page"], file_id)
        assert f'action="/reports/{evidence["reference"]}/files/{file_id}/safe-copy"' in item
        assert "Make a safe copy" in item and 'name="csrf_token"' in item
        assert "Download safe copy" not in item
        # until one is made, there is nothing to download
        assert evidence["client"].get(_url(evidence, next(k for k, v in evidence["ids"].items() if v == file_id),
                                           safe=True)).status_code == 404


@pytest.mark.parametrize("blob_store", BLOB_STORES)
def test_a_safe_copy_is_made_once_then_downloaded_without_metadata(evidence, database, blob_store, blob_dir):
    client, reference, file_id = evidence["client"], evidence["reference"], evidence["ids"]["photo.jpg"]
    response = make_copy(client, reference, file_id)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/reports/{reference}#file-{file_id}")
    page = client.get(response.headers["Location"]).data
    warnings, done = banners(page)
    assert "Safe copy ready. Removed: GPS location." in done and not warnings
    item = file_item(page, file_id)
    assert "Removed: GPS location." in item  # kept on the page, not only in the flash
    assert f'href="/reports/{reference}/files/{file_id}/safe-copy"' in item and "Download safe copy" in item
    assert "Make a safe copy" not in item
    assert safe_copy_count(database) == 1
    if blob_store == "filesystem":  # the copy is stored encrypted beside the original
        stored = blob_files(blob_dir)
        assert len(stored) == 4 and all(JPEG[200:400] not in content for content in stored.values())

    response = client.get(_url(evidence, "photo.jpg", safe=True))
    assert response.status_code == 200
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; filename="safe-copy-photo.jpg"'
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert SECRET.encode() not in response.data and b"Exif" not in response.data
    with Image.open(io.BytesIO(response.data)) as image:
        assert image.format == "JPEG" and image.size == (40, 30)
        assert dict(image.getexif()) == {}

    # asking again converts nothing new; the original is unchanged
    assert make_copy(client, reference, file_id).status_code == 302
    assert safe_copy_count(database) == 1
    assert len(audit_entries(database, "attachment.safe-copy-made")) == 1
    assert client.get(_url(evidence, "photo.jpg")).data == JPEG


def test_downloads_and_copies_are_audited(evidence, database):
    client = evidence["client"]
    make_copy(client, evidence["reference"], evidence["ids"]["photo.jpg"])
    make_copy(client, evidence["reference"], evidence["ids"]["notes.txt"])
    client.get(_url(evidence, "photo.jpg"))
    client.get(_url(evidence, "photo.jpg", safe=True))
    made = audit_entries(database, "attachment.safe-copy-made")
    refused = audit_entries(database, "attachment.safe-copy-refused")
    downloaded = audit_entries(database, "attachment.downloaded")
    assert [d["attachment"] for d, _, _ in made] == [evidence["ids"]["photo.jpg"]] and made[0][0]["removed"] == 1
    assert [d["attachment"] for d, _, _ in refused] == [evidence["ids"]["notes.txt"]]
    assert [d["copy"] for d, _, _ in downloaded] == ["original", "safe"]
    assert all(d["attachment"] == evidence["ids"]["photo.jpg"] for d, _, _ in downloaded)
    for detail, ref, actor in made + refused + downloaded:
        assert ref == evidence["reference"] and actor == "lead"
        assert "photo" not in json.dumps(detail) and "notes" not in json.dumps(detail)  # never the file's name


def test_unsupported_type_is_refused_with_a_message(evidence, database):
    client, reference, file_id = evidence["client"], evidence["reference"], evidence["ids"]["notes.txt"]
    response = make_copy(client, reference, file_id)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"#file-{file_id}")
    page = client.get(response.headers["Location"]).data
    warnings, done = banners(page)
    assert "No safe copy was made: This kind of file cannot be converted" in warnings
    assert "Only the original is available" in warnings and "Safe copy ready" not in done
    assert NOTES not in page
    assert safe_copy_count(database) == 0
    assert client.get(_url(evidence, "notes.txt", safe=True)).status_code == 404
    assert client.get(_url(evidence, "notes.txt")).data == NOTES  # the original is still available


def test_a_damaged_file_is_refused_and_the_original_kept(evidence, database):
    client, reference, file_id = evidence["client"], evidence["reference"], evidence["ids"]["broken.jpg"]
    response = make_copy(client, reference, file_id)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).data
    warnings, _ = banners(page)
    assert "No safe copy was made: The file could not be read" in warnings
    assert "Traceback" not in page.decode() and "OSError" not in page.decode()
    assert "Make a safe copy" in file_item(page, file_id)  # nothing stored: it can be tried again
    assert safe_copy_count(database) == 0
    assert audit_entries(database, "attachment.downloaded") == []
    assert client.get(_url(evidence, "broken.jpg", safe=True)).status_code == 404
    assert client.get(_url(evidence, "broken.jpg")).data == BROKEN


def test_unknown_or_foreign_attachment_ids_are_404(evidence, reporter_client, database):
    client = evidence["client"]
    reference = evidence["reference"]
    token = csrf_from(evidence["page"])
    for file_id in ("0" * 32, "zz", "a" * 33, "g" * 32):
        assert client.get(f"/reports/{reference}/files/{file_id}").status_code == 404, file_id
        assert client.get(f"/reports/{reference}/files/{file_id}/safe-copy").status_code == 404, file_id
        assert make_copy(client, reference, file_id, token).status_code == 404, file_id
    other, _ = submit_with_reference(reporter_client, database, what_happened="Another report")
    photo = evidence["ids"]["photo.jpg"]
    assert client.get(f"/reports/{other}/files/{photo}").status_code == 404
    assert make_copy(client, other, photo).status_code == 404
    assert make_copy(client, reference, photo).status_code == 302  # made on its own report...
    assert client.get(f"/reports/{other}/files/{photo}/safe-copy").status_code == 404  # ...and only there
    assert safe_copy_count(database) == 1


def test_files_sent_with_a_reply_have_safe_copies_too(evidence, reporter_client):
    from support import sign_in

    assert sign_in(reporter_client, evidence["code"]).status_code == 302
    token = csrf_from(reporter_client.get("/follow-up/case").data)
    response = reporter_client.post("/follow-up/reply", data={"csrf_token": token, "message": "Here is another photo",
                                                              "evidence": (io.BytesIO(JPEG), "second.jpg", "image/jpeg")},
                                    content_type="multipart/form-data")
    assert response.status_code == 302
    client, reference = evidence["client"], evidence["reference"]
    ids = files_on(client.get(f"/reports/{reference}").data)
    assert "second.jpg" in ids
    url = f"/reports/{reference}/files/{ids['second.jpg']}"
    assert client.get(url).data == JPEG
    assert make_copy(client, reference, ids["second.jpg"]).status_code == 302
    copy = client.get(url + "/safe-copy")
    assert copy.status_code == 200 and copy.headers["Content-Disposition"] == 'attachment; filename="safe-copy-second.jpg"'
    assert SECRET.encode() not in copy.data and copy.data.startswith(b"\xff\xd8")


def test_hostile_file_names_are_made_safe(triage_app, reporter_client, database, lead):
    files = [(io.BytesIO(b"<script>alert(1)</script>"), 'x"; filename=evil.html', "text/html")]
    reference, _ = submit_with_reference(reporter_client, database, what_happened="names", evidence=files)
    client = sign_in_reviewer(triage_app.test_client(), lead)
    page = client.get(f"/reports/{reference}")
    (file_id,) = set(re.findall(r"/files/([0-9a-f]{32})\"", page.data.decode()))
    response = client.get(f"/reports/{reference}/files/{file_id}")
    assert response.status_code == 200 and response.mimetype == "application/octet-stream"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="') and disposition.count('"') == 2
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_a_download_does_not_leave_a_database_connection_open(evidence, triage_app):
    """The file is streamed after the view returns: its database reads must end with the request,
    not leave a connection checked out (idle in a transaction) until garbage collection."""
    pool = triage_app.extensions["portal.db"].engine.pool
    assert pool.checkedout() == 0
    response = evidence["client"].get(_url(evidence, "photo.jpg"))
    assert response.data == JPEG
    response.close()
    assert pool.checkedout() == 0
    assert make_copy(evidence["client"], evidence["reference"], evidence["ids"]["photo.jpg"]).status_code == 302
    assert pool.checkedout() == 0
    response = evidence["client"].get(_url(evidence, "photo.jpg", safe=True))
    assert response.status_code == 200 and response.data.startswith(b"\xff\xd8")
    response.close()
    assert pool.checkedout() == 0


def test_history_tells_the_original_from_the_safe_copy(evidence):
    client = evidence["client"]
    file_id = evidence["ids"]["photo.jpg"]
    client.get(_url(evidence, "photo.jpg"))
    page = client.get(f"/reports/{evidence['reference']}").data.decode()
    assert "original file downloaded" in page
    assert file_id not in page.split('id="history"')[1]  # ids stay in the audit detail, not the page
