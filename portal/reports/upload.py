"""Streaming multipart parsing that never writes a plaintext file.

Werkzeug's default form parser spools large uploads to temporary files, in
clear. This parser reads the request body in small pieces with Werkzeug's
sans-IO decoder: text fields stay in memory (with a size cap), and each file's
bytes go straight into a sink supplied by the caller (for a no-JavaScript
submission, the STREAM encryptor writing into the blob store). Oversized files
are dropped and reported as field errors instead of aborting the request, so
what the reporter typed is never lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

READ_SIZE = 64 * 1024


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


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB"


def parse_multipart(
    stream,
    content_type: str,
    limits: UploadLimits,
    open_sink: Callable[[str, str, str, MultiDict], FileSink],
    accept_file: Callable[[str], bool] = lambda name: True,
) -> ParsedUpload:
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
                if event.filename and accept_file(event.name):
                    file_count += 1
                    if file_count > limits.max_files:
                        parsed.file_errors.append(f"You can attach up to {limits.max_files} files at a time; "
                                                  f"{event.filename!s} was not attached.")
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
                                parsed.file_errors.append(
                                    f"{file_event.filename} is larger than {_megabytes(limits.max_file_bytes)}. "
                                    "Attach a smaller copy, or split it into parts."
                                )
                            else:
                                parsed.file_errors.append(
                                    f"{file_event.filename} was not attached: all files together must be smaller than "
                                    f"{_megabytes(limits.max_total_file_bytes)}."
                                )
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
