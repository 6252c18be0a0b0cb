"""Opening a case bundle on the receiving body's machine (`portal referral open`), with no instance.

Everything is verified before anything is kept: the whole bundle authenticates with the body's
key (portal.crypto.bundle.open_bundle), then the entries are written into a new temporary
directory beside the destination while each is checked against its manifest hash (and, for a
routed report, each record and file opens with the report key from the body's wrap). Only then
is the directory renamed to the destination; on any failure it is removed, so a wrong key or a
tampered bundle leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from portal.crypto.bundle import ManifestEntry, OpenedBundle, open_bundle
from portal.crypto.envelope import REPORT_ID_LEN, open_record
from portal.crypto.errors import FormatError
from portal.crypto.keys import RecipientPrivateKey, unwrap_dek
from portal.crypto.stream import decrypt_stream
from portal.referrals.bundles import REPORT_PATH, WRAP_PATH
from portal.referrals.contents import file_path, json_document, report_document, report_text
from portal.reports.answers import AttachmentMeta, MessageBody, ReportAnswers

SEALED_DIR = "sealed"
MANIFEST_FILE = "manifest.json"
RECORD_ID = re.compile(r"[0-9a-f]{32}")


class OpenError(Exception):
    """The destination cannot be used (it exists and is not an empty directory)."""


@dataclass(frozen=True)
class OpenedSummary:
    kind: str
    details: dict[str, Any]
    files: tuple[str, ...]  # what was written, relative to the destination
    sha256: str  # of the bundle file, to compare with the hash the lead read out


def _write_new(path: Path) -> BinaryIO:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600), "wb")


def _write_bytes(path: Path, data: bytes) -> None:
    with _write_new(path) as out:
        out.write(data)


def _extract(opened: OpenedBundle, into: Path) -> None:
    """Every entry to into/PATH (its hash checked as it is written)."""
    with ExitStack() as stack:
        def sink_for(entry: ManifestEntry) -> BinaryIO:
            stack.close()
            return stack.enter_context(_write_new(into / entry.path))
        opened.extract(sink_for)


def _record_id(entry: ManifestEntry) -> bytes:
    value = entry.attributes.get("record_id")
    if not isinstance(value, str) or not RECORD_ID.fullmatch(value):
        raise FormatError("routed bundle entry without a record id")
    return bytes.fromhex(value)


def _open_routed(opened: OpenedBundle, sealed: Path, into: Path, private: RecipientPrivateKey) -> None:
    """The report, messages and files of a routed bundle, opened with the body's key wrap."""
    details = opened.details
    try:
        report_id = bytes.fromhex(str(details["report_id"]))
        received_on = dt.date.fromisoformat(str(details["received_on"]))
        reference = str(details["reference"])
    except (KeyError, ValueError) as exc:
        raise FormatError("routed bundle details malformed") from exc
    if len(report_id) != REPORT_ID_LEN:
        raise FormatError("routed bundle details malformed")
    dek = unwrap_dek((sealed / WRAP_PATH).read_bytes(), private, report_id)
    try:
        answers = ReportAnswers.from_json(open_record(dek, report_id, "report", (sealed / REPORT_PATH).read_bytes()))
        messages = []
        metas: dict[bytes, AttachmentMeta] = {}
        for entry in opened.entries:
            kind = entry.attributes.get("type")
            data_path = sealed / entry.path
            if kind == "sealed-message":
                body = MessageBody.from_json(open_record(dek, report_id, "message", data_path.read_bytes(), _record_id(entry)))
                messages.append({"from": "reporter" if entry.attributes.get("from_reporter") else "reviewer",
                                 "sent_on": str(entry.attributes.get("sent_on", "")), "text": body.text})
            elif kind == "sealed-attachment-meta":
                raw = open_record(dek, report_id, "attachment-meta", data_path.read_bytes(), _record_id(entry))
                metas[_record_id(entry)] = AttachmentMeta.from_json(raw)
        listed = []
        for entry in opened.entries:
            if entry.attributes.get("type") != "sealed-attachment":
                continue
            attachment_id = _record_id(entry)
            meta = metas.get(attachment_id)
            if meta is None:
                raise FormatError("routed bundle file without its details")
            path = file_path(len(listed) + 1, meta.name)
            with (sealed / entry.path).open("rb") as src, _write_new(into / path) as dst:
                decrypt_stream(dek, report_id, attachment_id, src, dst)
            listed.append({"path": path, "name": meta.name, "media_type": meta.type, "variant": "original"})
    except ValueError as exc:  # a record that opened but is not the document it should be
        raise FormatError("routed bundle record malformed") from exc
    document = report_document(reference, received_on, answers, {"routed_to": str(details.get("body", ""))})
    _write_bytes(into / "report.json", json_document(document))
    _write_bytes(into / "report.txt", report_text(document, messages, listed).encode("utf-8"))
    _write_bytes(into / "messages.json", json_document(messages))


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while block := src.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_destination(out: Path) -> None:
    if out.is_symlink() or (out.exists() and (not out.is_dir() or any(out.iterdir()))):
        raise OpenError(f"{out} exists: choose a new directory with --out")


def open_bundle_file(bundle: Path, private: RecipientPrivateKey, out: Path) -> OpenedSummary:
    """Verify `bundle` with `private` and write its contents into the new directory `out`.

    Raises CryptoError (wrong key, tampered or damaged bundle) or OpenError, writing nothing."""
    _check_destination(out)
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    with bundle.open("rb") as src:
        opened = open_bundle(src, private)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            if opened.kind == "routed":
                _extract(opened, work / SEALED_DIR)
                _open_routed(opened, work / SEALED_DIR, work, private)
                shutil.rmtree(work / SEALED_DIR)
            else:
                if any(entry.path.casefold() == MANIFEST_FILE for entry in opened.entries):
                    raise FormatError("bundle entry path not allowed")
                _extract(opened, work)
            _write_bytes(work / MANIFEST_FILE, json_document(opened.manifest))
            _check_destination(out)
            if out.exists():
                out.rmdir()
            work.rename(out)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    files = tuple(sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()))
    return OpenedSummary(opened.kind, dict(opened.details), files, _sha256_of(bundle))
