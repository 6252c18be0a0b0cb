"""Evidence downloads on the triage interface: the original, and a sanitised copy
for the types that have one."""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import ExifTags, Image
from sqlalchemy import select
from support import BLOB_STORES, blob_files
from triage_support import page_text, read, sign_in_reviewer, submit_with_reference

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


def _files(page: bytes) -> dict[str, str]:
    """File name -> attachment id, from the report page's evidence list."""
    text = page.decode()
    found = re.findall(r'<span class="portal-file__name">([^<]+)</span>.*?/files/([0-9a-f]{32})"', text, re.S)
    return {name: file_id for name, file_id in found}


@pytest.fixture
def evidence(triage_app, reporter_client, database, lead):
    files = [(io.BytesIO(JPEG), "photo.jpg", "image/jpeg"), (io.BytesIO(NOTES), "notes.txt", "text/plain"),
             (io.BytesIO(BROKEN), "broken.jpg", "image/jpeg")]
    reference, code = submit_with_reference(reporter_client, database, what_happened="See the photo", evidence=files)
    client = sign_in_reviewer(triage_app.test_client(), lead)
    page = client.get(f"/reports/{reference}")
    ids = _files(page.data)
    assert set(ids) == {"photo.jpg", "notes.txt", "broken.jpg"}
    return {"client": client, "reference": reference, "ids": ids, "page": page_text(page), "code": code}


def _url(evidence, name: str, sanitised: bool = False) -> str:
    return f"/reports/{evidence['reference']}/files/{evidence['ids'][name]}" + ("/sanitised" if sanitised else "")


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


def test_sanitised_copy_has_no_metadata(evidence):
    response = evidence["client"].get(_url(evidence, "photo.jpg", sanitised=True))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="sanitised-photo.jpg"'
    assert SECRET.encode() not in response.data and b"Exif" not in response.data
    with Image.open(io.BytesIO(response.data)) as image:
        assert image.format == "JPEG" and image.size == (40, 30)
        assert dict(image.getexif()) == {}


def test_downloads_are_audited(evidence, database):
    client = evidence["client"]
    client.get(_url(evidence, "photo.jpg"))
    client.get(_url(evidence, "photo.jpg", sanitised=True))
    entries = read(database, lambda s: [(e.detail, e.report_ref, e.actor) for e in s.scalars(
        select(AuditEntry).where(AuditEntry.action == "attachment.downloaded").order_by(AuditEntry.seq))])
    assert [json.loads(detail)["sanitised"] for detail, _, _ in entries] == [False, True]
    assert all(ref == evidence["reference"] and actor == "lead" for _, ref, actor in entries)
    assert all("photo" not in detail for detail, _, _ in entries)  # never the file's name


def test_unsupported_type_has_no_sanitised_copy(evidence):
    assert "no sanitised copy for this type" in evidence["page"]
    assert _url(evidence, "notes.txt", sanitised=True) not in evidence["page"]
    response = evidence["client"].get(_url(evidence, "notes.txt", sanitised=True))
    assert response.status_code == 404
    assert NOTES not in response.data
    assert evidence["client"].get(_url(evidence, "notes.txt")).data == NOTES  # the original is still available


def test_a_file_that_cannot_be_sanitised_sends_the_reviewer_back(evidence, database):
    response = evidence["client"].get(_url(evidence, "broken.jpg", sanitised=True))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/reports/{evidence['reference']}#evidence")
    follow = page_text(evidence["client"].get(response.headers["Location"]))
    assert "A sanitised copy of that file could not be made" in follow
    assert read(database, lambda s: s.scalar(select(AuditEntry.id).where(AuditEntry.action == "attachment.downloaded"))) is None


def test_unknown_or_foreign_attachment_ids_are_404(evidence, reporter_client, database):
    client = evidence["client"]
    reference = evidence["reference"]
    for file_id in ("0" * 32, "zz", "a" * 33, "g" * 32):
        assert client.get(f"/reports/{reference}/files/{file_id}").status_code == 404, file_id
        assert client.get(f"/reports/{reference}/files/{file_id}/sanitised").status_code == 404, file_id
    other, _ = submit_with_reference(reporter_client, database, what_happened="Another report")
    assert client.get(f"/reports/{other}/files/{evidence['ids']['photo.jpg']}").status_code == 404


def test_files_sent_with_a_reply_are_downloadable(evidence, reporter_client):
    from support import csrf_from, sign_in

    assert sign_in(reporter_client, evidence["code"]).status_code == 302
    token = csrf_from(reporter_client.get("/follow-up/case").data)
    response = reporter_client.post("/follow-up/reply", data={"csrf_token": token, "message": "Here is another photo",
                                                              "evidence": (io.BytesIO(JPEG), "second.jpg", "image/jpeg")},
                                    content_type="multipart/form-data")
    assert response.status_code == 302
    page = evidence["client"].get(f"/reports/{evidence['reference']}")
    ids = _files(page.data)
    assert "second.jpg" in ids
    url = f"/reports/{evidence['reference']}/files/{ids['second.jpg']}"
    assert evidence["client"].get(url).data == JPEG
    assert SECRET.encode() not in evidence["client"].get(url + "/sanitised").data


def test_hostile_file_names_are_made_safe(triage_app, reporter_client, database, lead):
    files = [(io.BytesIO(b"<script>alert(1)</script>"), 'x"; filename=evil.html', "text/html")]
    reference, _ = submit_with_reference(reporter_client, database, what_happened="names", evidence=files)
    client = sign_in_reviewer(triage_app.test_client(), lead)
    page = client.get(f"/reports/{reference}")
    (file_id,) = re.findall(r"/files/([0-9a-f]{32})\"", page.data.decode())
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
