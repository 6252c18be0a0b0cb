"""Helpers for tests (import as `from support import ...`; tests/ is on sys.path)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pikepdf

# Parametrise a test's `blob_store` fixture with these to run it on both attachment stores.
BLOB_STORES = ["database", "filesystem"]

_CSRF = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: bytes) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1).decode()


def receipt_from(html: bytes) -> str:
    match = re.search(rb"data-receipt-code>([^<]+)<", html)
    assert match, "page shows no receipt code"
    return match.group(1).decode()


def submit_report(client, screen: bool = True, **fields) -> str:
    """Submit a report through the no-JavaScript form; returns the receipt code.

    Then screen it, as portal-screen.service does within a second (`screen=False`: leave it waiting)."""
    token = csrf_from(client.get("/report").data)
    data = {"csrf_token": token, "draft": "", "what_happened": "Something happened", **fields}
    response = client.post("/report", data=data, content_type="multipart/form-data")
    assert response.status_code == 200, response.data[-2000:]
    if screen:
        from triage_support import screen_now

        from portal import state

        screen_now(state.DATABASE.get(client.application), state.SETTINGS.get(client.application).instance_dir)
    return receipt_from(response.data)


def work_fields(client, action: str) -> dict[str, str]:
    """Solve a proof-of-work challenge from the reporter app, as a browser would."""
    from portal.crypto import puzzle

    challenge = client.get(f"/challenge/{action}").get_json()
    number = puzzle.solve(challenge["salt"], bytes.fromhex(challenge["target"]), challenge["max"])
    return {"pow_challenge": challenge["challenge"], "pow_solution": str(number)}


def browser_report(client, secret: bytes, text: str = "Sealed in the browser", people=(), subjects: bytes | None = None,
                   with_subjects: bool = True) -> list[tuple]:
    """The fields report-form.js posts, built the same way (portal.crypto instead of WebCrypto).

    `people`: (name, identifier) pairs named in the report and in its subject list; `subjects`:
    the subject list's plaintext as sent instead (junk); `with_subjects=False` leaves it out."""
    import base64
    import json
    import os

    from portal.crypto.envelope import new_data_key, seal_record
    from portal.crypto.integrity import key_commitment
    from portal.crypto.keys import seal_inner, wrap_dek_for_reporter_root
    from portal.crypto.receipt import lookup_token, reporter_root
    from portal.crypto.screening import seal_subjects_inner
    from portal.reports.answers import Person, subject_document

    keys = client.get("/keys.json").get_json()
    report_id, dek = os.urandom(16), new_data_key()
    persons = [Person(name=n, identifier=i) for n, i in people]
    document = {"v": 1, "what_happened": text, "people": [{"name": p.name, "role": "", "identifier": p.identifier, "unit": ""}
                                                            for p in persons],
                "when": "", "where": "", "risk_now": "", "vulnerable_person": "", "witnesses": "", "how_known": "", "category": ""}
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    fields = [("mode", "browser"), ("report_id", report_id.hex()), ("lookup_token", lookup_token(secret).hex()), ("urgent", "no"),
              ("sealed_report", b64(seal_record(dek, report_id, "report", json.dumps(document).encode()))),
              ("reporter_wrap", b64(wrap_dek_for_reporter_root(dek, reporter_root(secret), report_id))),
              ("key_commitment", b64(key_commitment(dek, report_id)))]
    for recipient in keys["recipients"]:
        inner = seal_inner(dek, bytes.fromhex(recipient["intake_x25519"]), report_id)
        fields.append((f"recipient_inner.{recipient['fingerprint']}", b64(inner)))
    if with_subjects:
        plain = subject_document(persons) if subjects is None else subjects
        fields.append(("subjects_inner", b64(seal_subjects_inner(plain, bytes.fromhex(keys["screening"]["intake_x25519"]), report_id))))
        fields.append(("screening_fingerprint", keys["screening"]["fingerprint"]))
    return fields


def post_browser_report(client, fields, work: dict | None, files=()):
    token = csrf_from(client.get("/report").data)
    data = [("csrf_token", token), *fields[:1], *(work or {}).items(), *fields[1:]]
    body = {}
    for name, value in data:
        body.setdefault(name, value)
    for name, content in files:
        body[name] = (io.BytesIO(content), "encrypted.bin", "application/octet-stream")
    return client.post("/report", data=body, content_type="multipart/form-data", headers={"Accept": "application/json"})


def sign_in(client, code: str):
    token = csrf_from(client.get("/follow-up").data)
    return client.post("/follow-up", data={"csrf_token": token, "receipt_code": code})


def blob_files(blob_dir: Path | None) -> dict[str, bytes]:
    """Every file in the filesystem store's directory (name -> content); {} for the database store."""
    if blob_dir is None or not blob_dir.exists():
        return {}
    return {p.name: p.read_bytes() for p in sorted(blob_dir.iterdir()) if p.is_file()}


LOG_FIELDS = {"date", "time", "level", "app", "logger", "event", "exc_type", "method", "route", "status"}


def json_log_lines(text: str) -> list[dict]:
    """Parse what the JSON log handler wrote: every line one JSON object with only the known fields,
    and never a time of day on a reporter line."""
    import json

    lines = []
    for line in text.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict) and set(record) <= LOG_FIELDS, record
        assert {"level", "app", "logger", "event"} <= set(record), record
        assert ("date" in record) != ("time" in record), record
        if record["app"] == "reporter":
            assert "time" not in record and re.fullmatch(r"\d{4}-\d{2}-\d{2}", record["date"]), record
        lines.append(record)
    return lines


def case_key(client, code: str) -> tuple[bytes, bytes]:
    """(report id, case key) as case.js opens them: the sealed case from /follow-up/case.json and
    the reporter root derived from the receipt code (the server never hands out the key)."""
    import base64

    from portal.crypto.keys import unwrap_dek_for_reporter_root
    from portal.crypto.receipt import receipt_secret, reporter_root

    install_salt = bytes.fromhex(client.get("/keys.json").get_json()["install_salt"])
    sealed = client.get("/follow-up/case.json").get_json()
    report_id = bytes.fromhex(sealed["report_id"])
    root = reporter_root(receipt_secret(code, install_salt))
    return report_id, unwrap_dek_for_reporter_root(base64.b64decode(sealed["reporter_wrap"]), root, report_id)


def browser_reply(client, text: str = "Sealed in the browser", files=(), *, code: str, key: bytes | None = None,
                  meta_key: bytes | None = None, sealed_message: bytes | None = None):
    """POST /follow-up/reply as reply.js does, on a signed-in client: the message and each file's
    details sealed under the case key (or `key` / `meta_key` instead, to send what does not open),
    each file STREAM-encrypted, with a solved proof of work. `files`: (name, type, content)."""
    import base64
    import io
    import os

    from portal.crypto.envelope import seal_record
    from portal.crypto.stream import StreamEncryptor
    from portal.reports.answers import AttachmentMeta, MessageBody

    report_id, dek = case_key(client, code)
    token = csrf_from(client.get("/follow-up/case").data)
    message_id = os.urandom(16)
    if sealed_message is None:
        sealed_message = seal_record(key or dek, report_id, "message", MessageBody(text).to_json(), message_id)
    data = {"csrf_token": token, "mode": "browser", **work_fields(client, "reply"), "message_id": message_id.hex(),
            "sealed_message": base64.b64encode(sealed_message).decode()}
    for name, ctype, content in files:
        file_id = os.urandom(16)
        meta = AttachmentMeta(name, ctype, len(content)).to_json()
        sealed_meta = seal_record(meta_key or dek, report_id, "attachment-meta", meta, file_id)
        data[f"attachment_meta.{file_id.hex()}"] = base64.b64encode(sealed_meta).decode()
        out = io.BytesIO()
        encryptor = StreamEncryptor(dek, report_id, file_id, out)
        encryptor.write(content)
        encryptor.finish()
        data[f"attachment.{file_id.hex()}"] = (io.BytesIO(out.getvalue()), "encrypted.bin", "application/octet-stream")
    return client.post("/follow-up/reply", data=data, content_type="multipart/form-data",
                       headers={"Accept": "application/json"})


def active_pdf(author: str = "Jane Doe") -> bytes:
    """A one-page PDF with everything a safe copy must drop: document JavaScript and an OpenAction,
    a tracking link, an annotation by `author`, page and document XMP, Info (the evidence tests' builder)."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(612, 792))
    js = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('hi')")))
    pdf.Root.OpenAction = js
    pdf.Root.Names = pikepdf.Dictionary(JavaScript=pikepdf.Dictionary(Names=[pikepdf.String("a"), js]))
    link = pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=[72, 72, 300, 100],
                              A=pikepdf.Dictionary(S=pikepdf.Name.URI, URI=pikepdf.String("https://tracker.example/?id=42")))
    note = pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Text, Rect=[72, 200, 92, 220],
                              T=pikepdf.String(f"Inspector {author}"), Contents=pikepdf.String("check this"))
    pdf.pages[0].Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(link), pdf.make_indirect(note)]))
    pdf.pages[0].Metadata = pikepdf.Stream(pdf, b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:creator"] = [author]
    pdf.docinfo["/Author"] = author
    pdf.docinfo["/Title"] = "Internal"
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()
