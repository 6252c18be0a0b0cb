"""The cheap checks of a report or reply upload, and where each of its files goes.

The multipart parser (portal.reports.upload) asks for a file's sink before the body is
complete: the form token and the proof of work are checked the first time a file part
needs them (so no file is written without them), or at the end. Messages about files
that were not kept collect in `refused`, once each. The report and the reply differ only
in whether files may be kept yet (`accepts_files`) and whose key encrypts them (`encrypt_for`).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal.admission import admission
from portal.admission.storage import FILES_REFUSED_TODAY
from portal.config import Taxonomy
from portal.forms import form_token_valid
from portal.reports.forms import ReportForm
from portal.reports.service import Draft, ReporterKeys
from portal.reports.upload import (
    DiscardSink,
    EncryptingSink,
    FileSink,
    ParsedUpload,
    StagedAttachment,
    UploadLimits,
    ciphertext_sink,
    clean_filename,
    parse_multipart,
)

FILES_NOT_KEPT = _l("Attach your files again once the answers above are complete: files are kept only with a report that can be sent.")


def work_done(fields: MultiDict, action: str) -> bool:
    """Did this request carry a solved, unspent challenge for `action`? (Spends it.)"""
    return admission().work.redeem(fields.get("pow_challenge"), fields.get("pow_solution"), action)


def count_files(attachments: list[StagedAttachment]) -> None:
    """Add files just stored to today's total (portal.admission.storage)."""
    admission().intake.add(sum(a.ciphertext_bytes for a in attachments))


class Upload:
    """One upload request: its checks, each made once, and the sink for each file part."""

    action = ""

    def __init__(self, db: Session) -> None:
        self.db = db
        self._token: bool | None = None
        self._work: bool | None = None
        self.refused: list[str] = []

    def receive(self, stream, content_type: str, limits: UploadLimits) -> ParsedUpload:  # noqa: ANN001
        parsed = parse_multipart(stream, content_type, limits, self.open_sink)
        parsed.file_errors.extend(self.refused)
        return parsed

    def token(self, fields: MultiDict) -> bool:
        if self._token is None:
            self._token = form_token_valid(fields.get("csrf_token"))
        return self._token

    def work(self, fields: MultiDict) -> bool:
        if self._work is None:
            self._work = work_done(fields, self.action)
        return self._work

    def refuse(self, message: str) -> None:
        if message not in self.refused:
            self.refused.append(message)

    def room_for_files(self) -> bool:
        """Below today's file cap? Otherwise the file is dropped and the reporter told why."""
        if admission().intake.has_room(self.db):
            return True
        self.refuse(FILES_REFUSED_TODAY)
        return False

    def open_sink(self, field_name: str, filename: str, content_type: str, fields: MultiDict) -> FileSink:
        if not self.token(fields):
            return DiscardSink()
        if fields.get("mode") == "browser":
            if not self.work(fields) or not self.room_for_files():
                return DiscardSink()
            return ciphertext_sink(self.db, field_name)
        if field_name != "evidence" or not filename or not self.accepts_files(fields) or not self.room_for_files():
            return DiscardSink()
        dek, report_id = self.encrypt_for(fields)
        return EncryptingSink(self.db, dek, report_id, clean_filename(filename), content_type)

    def accepts_files(self, fields: MultiDict) -> bool:
        """May a file the server encrypts be kept, given the fields sent before it?"""
        return True

    def encrypt_for(self, fields: MultiDict) -> tuple[bytes, bytes]:
        """(data key, report id) a file the server encrypts is sealed under."""
        raise NotImplementedError


class ReportUpload(Upload):
    """A new report: files are staged in a draft, and only once the answers before them pass their checks."""

    action = "report"

    def __init__(self, db: Session, keys: ReporterKeys, taxonomy: Taxonomy) -> None:
        super().__init__(db)
        self._keys, self._taxonomy = keys, taxonomy
        self._answers_ok: bool | None = None
        self.draft: Draft | None = None

    def accepts_files(self, fields: MultiDict) -> bool:
        if self._answers_ok is None:
            self._answers_ok = ReportForm(formdata=fields, taxonomy=self._taxonomy).validate()
        if not self._answers_ok:
            # The answers before the file fail their checks (nothing said, too long, not a choice):
            # stage nothing, so a request that fails cheap checks writes nothing at all.
            self.refuse(FILES_NOT_KEPT)
        return self._answers_ok

    def encrypt_for(self, fields: MultiDict) -> tuple[bytes, bytes]:
        self.work(fields)  # a fallback post from a browser with JavaScript carries proof of work
        if self.draft is None:
            self.draft = Draft.from_token(fields.get("draft", ""), self._keys) or Draft.new()
        return self.draft.dek, self.draft.report_id


class ReplyUpload(Upload):
    """A reporter's reply: files are sealed under the signed-in report's key."""

    action = "reply"

    def __init__(self, db: Session, dek: bytes | None, report_id: bytes) -> None:
        super().__init__(db)
        self.dek, self._report_id = dek, report_id  # no key: a JavaScript session, files arrive sealed

    def accepts_files(self, fields: MultiDict) -> bool:
        return self.dek is not None

    def encrypt_for(self, fields: MultiDict) -> tuple[bytes, bytes]:
        return self.dek, self._report_id
