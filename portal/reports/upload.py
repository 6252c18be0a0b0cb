"""Receiving files: streaming multipart parsing that never writes a plaintext file, and the sinks.

Werkzeug's default form parser spools large uploads to temporary files, in
clear. This parser reads the request body in small pieces with Werkzeug's
sans-IO decoder: text fields stay in memory (with a size cap), and each file's
bytes go straight into a sink supplied by the caller (for a no-JavaScript
submission, the STREAM encryptor writing into the blob store). Oversized files
are dropped and reported as field errors instead of aborting the request, so
what the reporter typed is never lost.

A file's bytes go to one of three sinks: `EncryptingSink` (the server encrypts a
no-JavaScript upload as it streams in), `CiphertextSink` (a file the browser
encrypted) or `DiscardSink` (a part that is not kept).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from portal.blobs.io import BlobWriter, delete_blob
from portal.blobs.models import Blob
from portal.config import Settings
from portal.crypto.envelope import seal_record
from portal.crypto.stream import ALG_STREAM, StreamEncryptor
from portal.evidence.names import safe_file_name
from portal.reports.answers import AttachmentMeta

READ_SIZE = 64 * 1024
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


class FileSink(Protocol):
    def write(self, data: bytes) -> object: ...
    def finish(self) -> object: ...
    def abort(self) -> None: ...


@dataclass
class ReceivedFile:
    field_name: str
    filename: str
    content_type: str
    size: int
    result: object  # what the sink's finish() returned


@dataclass
class ParsedUpload:
    fields: MultiDict = field(default_factory=MultiDict)
    files: list[ReceivedFile] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)  # messages naming the rejected file
    unreadable_fields: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class UploadLimits:
    max_field_bytes: int
    max_total_field_bytes: int
    max_fields: int
    max_file_bytes: int
    max_total_file_bytes: int
    max_files: int

    @classmethod
    def for_reporter(cls, settings: Settings) -> UploadLimits:
        return cls(
            # One field can be the browser's sealed report (every answer, base64): allow for it.
            max_field_bytes=512 * 1024,
            max_total_field_bytes=2 * 1024 * 1024,
            max_fields=120,
            max_file_bytes=settings.max_file_bytes,
            max_total_file_bytes=settings.max_report_bytes,
            max_files=settings.max_files,
        )


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB"


def parse_multipart(
    stream,
    content_type: str,
    limits: UploadLimits,
    open_sink: Callable[[str, str, str, MultiDict], FileSink],
) -> ParsedUpload:
    """Text fields into `fields`; each file part into `open_sink(field name, file name, type, fields so far)`."""
    mimetype, options = parse_options_header(content_type)
    boundary = options.get("boundary", "").encode("latin-1")
    if mimetype != "multipart/form-data" or not boundary or len(boundary) > 200:
        raise BadRequest("expected multipart/form-data")

    decoder = MultipartDecoder(boundary, max_form_memory_size=None, max_parts=limits.max_fields + limits.max_files + 10)
    parsed = ParsedUpload()
    current_field: str | None = None
    field_buffer = bytearray()
    current_file: tuple[File, FileSink | None] | None = None
    file_size = 0
    total_files_size = 0
    file_count = 0
    field_bytes = 0

    def end_file() -> None:
        nonlocal current_file, total_files_size
        assert current_file is not None
        event, sink = current_file
        if sink is not None:
            total_files_size += file_size
            result = sink.finish()
            ctype = event.headers.get("Content-Type", "application/octet-stream")
            parsed.files.append(ReceivedFile(event.name, event.filename, ctype, file_size, result))
        current_file = None

    try:
        finished = False
        while not finished:
            event = decoder.next_event()
            if isinstance(event, NeedData):
                chunk = stream.read(READ_SIZE)
                decoder.receive_data(chunk or None)
                continue
            if isinstance(event, Field):
                current_field, field_buffer = event.name, bytearray()
                if len(parsed.fields) >= limits.max_fields:
                    raise RequestEntityTooLarge("too many fields")
            elif isinstance(event, File):
                current_field = None
                file_size = 0
                sink = None
                if event.filename:
                    file_count += 1
                    if file_count > limits.max_files:
                        parsed.file_errors.append(_("You can attach up to %(count)s files at a time; %(name)s was not attached.",
                                                    count=limits.max_files, name=str(event.filename)))
                    else:
                        ctype = event.headers.get("Content-Type", "application/octet-stream")
                        sink = open_sink(event.name, event.filename, ctype, parsed.fields)
                current_file = (event, sink)
            elif isinstance(event, Data):
                if current_file is not None:
                    file_event, sink = current_file
                    if sink is not None:
                        file_size += len(event.data)
                        too_big = file_size > limits.max_file_bytes
                        over_total = total_files_size + file_size > limits.max_total_file_bytes
                        if too_big or over_total:
                            sink.abort()
                            current_file = (file_event, None)
                            if too_big:
                                parsed.file_errors.append(_(
                                    "%(name)s is larger than %(size)s. Attach a smaller copy, or split it into parts.",
                                    name=str(file_event.filename), size=_megabytes(limits.max_file_bytes)))
                            else:
                                parsed.file_errors.append(_(
                                    "%(name)s was not attached: all files together must be smaller than %(size)s.",
                                    name=str(file_event.filename), size=_megabytes(limits.max_total_file_bytes)))
                        else:
                            sink.write(event.data)
                    if not event.more_data:
                        end_file()
                elif current_field is not None:
                    field_buffer += event.data
                    field_bytes += len(event.data)
                    if len(field_buffer) > limits.max_field_bytes or field_bytes > limits.max_total_field_bytes:
                        raise RequestEntityTooLarge("field too large")
                    if not event.more_data:
                        try:
                            parsed.fields.add(current_field, field_buffer.decode("utf-8"))
                        except UnicodeDecodeError:
                            parsed.unreadable_fields.add(current_field)
                        current_field = None
            elif isinstance(event, Epilogue):
                finished = True
    except ValueError as exc:  # malformed or cut-short multipart body
        _abort(current_file)
        raise BadRequest("malformed form data") from exc
    except BaseException:
        _abort(current_file)
        raise
    return parsed


def _abort(current_file) -> None:
    if current_file is not None and current_file[1] is not None:
        current_file[1].abort()


# -- where a file's bytes go ------------------------------------------------------------


class DiscardSink:
    """A file part that is not kept: its bytes are read and dropped."""

    def write(self, data: bytes) -> None:
        pass

    def finish(self) -> None:
        return None

    def abort(self) -> None:
        pass


def clean_filename(name: str) -> str:
    """The name a no-JavaScript upload is stored under: its last path part, made safe to show
    (portal.evidence.names: NFC, no control or format characters such as bidi overrides, capped).
    Names sealed in the browser are made safe the same way whenever they are shown."""
    return str(safe_file_name(name.replace("\\", "/").rsplit("/", 1)[-1]))


@dataclass
class StagedAttachment:
    attachment_id: bytes
    sealed_meta: bytes
    ciphertext_bytes: int


class EncryptingSink:
    """Receives a file's plaintext during upload parsing and stores only ciphertext."""

    def __init__(self, db: Session, dek: bytes, report_id: bytes, filename: str, content_type: str) -> None:
        self.attachment_id = os.urandom(16)
        self._db, self._dek, self._report_id = db, dek, report_id
        self._meta = (filename[-255:] or "attachment", content_type[:100])
        self._writer = BlobWriter(db, self.attachment_id)
        self._encryptor = StreamEncryptor(dek, report_id, self.attachment_id, self._writer)

    def write(self, data: bytes) -> None:
        self._encryptor.write(data)

    def finish(self) -> StagedAttachment:
        self._encryptor.finish()
        self._writer.close()
        meta = AttachmentMeta(self._meta[0], self._meta[1], self._encryptor.plaintext_size)
        sealed = seal_record(self._dek, self._report_id, "attachment-meta", meta.to_json(), self.attachment_id)
        return StagedAttachment(self.attachment_id, sealed, self._writer.size)

    def abort(self) -> None:
        self._writer.close()
        delete_blob(self._db, self.attachment_id)


class CiphertextSink:
    """Receives a file the browser already encrypted; checks its STREAM header."""

    def __init__(self, db: Session, attachment_id: bytes) -> None:
        self.attachment_id = attachment_id
        self._db = db
        self._writer = BlobWriter(db, attachment_id)
        self._head = bytearray()

    def write(self, data: bytes) -> None:
        if len(self._head) < 3:
            self._head += data[: 3 - len(self._head)]
        self._writer.write(data)

    def finish(self) -> int | None:
        """The ciphertext's size, or None (blob dropped) when it is not a STREAM file.

        Raising here would escape the multipart parser as a 500; the view reports
        a None result as a damaged file instead.
        """
        self._writer.close()
        if len(self._head) < 3 or self._head[0] != 0x01 or self._head[1] != ALG_STREAM:
            delete_blob(self._db, self.attachment_id)
            return None
        return self._writer.size

    def abort(self) -> None:
        self._writer.close()
        delete_blob(self._db, self.attachment_id)


def ciphertext_sink(db: Session, field_name: str) -> FileSink:
    """Where a file the browser encrypted goes: `attachment.<32 hex>` parts only."""
    hex_id = field_name.removeprefix("attachment.")
    if not field_name.startswith("attachment.") or not _HEX32.match(hex_id):
        return DiscardSink()
    if db.get(Blob, bytes.fromhex(hex_id)) is not None:  # an id sent twice or already stored: refused, not a crash
        return DiscardSink()
    return CiphertextSink(db, bytes.fromhex(hex_id))
