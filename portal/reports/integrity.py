"""Signing what is accepted and checking it whenever a report is opened (docs/crypto.md, "Integrity").

The reporter host signs the statement of every report and reporter's message it accepts with its
Ed25519 key; the triage host binds every reviewer's message and note with an HMAC under its own key.
`verify_report` rebuilds each statement from the rows as they are now and checks it, with the key
commitment, against the data key that was just unwrapped. A failure is returned as a list of
problems (what failed, never content): the caller shows "altered" and audits it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from portal.crypto import CryptoError, IntegrityError
from portal.crypto.envelope import open_record
from portal.crypto.integrity import (
    REPORTER,
    FileEntry,
    bind,
    check_binding,
    check_commitment,
    message_statement,
    note_statement,
    report_statement,
    reviewer_author,
    sign,
    verify,
)
from portal.instance import SignerPin
from portal.reports.models import Attachment, InternalNote, Message, Report

Signer = Callable[[bytes], bytes]  # statement -> signature (Ed25519) or binding (HMAC)
NO_COMMITMENT = bytes(32)  # in message statements of reports received before signatures

VERIFIED = "verified"
BEFORE_SIGNATURES = "before-signatures"
ALTERED = "altered"


@dataclass(frozen=True)
class Problem:
    """One failed check: `code` says which (a key of portal.triage.integrity.PROBLEMS), `position`
    which message (None for the report itself) and `author` whose note."""

    code: str
    position: int | None = None
    item: bytes | None = None  # the message's or note's public id, when the failure is that one item's


REPORT_LEVEL = frozenset({"key", "report-signature", "report-unsigned", "no-pin"})  # nothing of the report can be trusted


@dataclass(frozen=True)
class Verdict:
    state: str  # VERIFIED, BEFORE_SIGNATURES or ALTERED
    problems: tuple[Problem, ...] = field(default=())

    @property
    def altered(self) -> bool:
        return self.state == ALTERED

    @property
    def whole(self) -> bool:
        """The report itself (its key, text, first files or day) failed: none of it may be shown."""
        return any(p.code in REPORT_LEVEL for p in self.problems)

    @property
    def failed_items(self) -> frozenset[bytes]:
        """Messages and notes that failed on their own: shown as altered, the rest of the report as it is."""
        return frozenset(p.item for p in self.problems if p.item is not None)


class ReportAltered(Exception):
    """A report failed its integrity check where the caller cannot show a page (break-glass recovery)."""

    def __init__(self, reference: str, verdict: Verdict) -> None:
        super().__init__(f"report {reference} was altered after it was received")
        self.reference, self.verdict = reference, verdict


@dataclass(frozen=True)
class Checker:
    """What the triage host checks with: its pin of the reporter host's key, and its own binding key
    (None offline, without the triage host's secrets: reviewers' messages and notes go unchecked)."""

    pin: SignerPin | None
    binding_key: bytes | None
    pin_required: bool = True  # False only for an offline recovery without the pin file (it says so)


def reporter_signer(seed: bytes) -> Signer:
    return lambda statement: sign(seed, statement)


def triage_binder(binding_key: bytes) -> Signer:
    return lambda statement: bind(binding_key, statement)


def _files(attachments: Iterable[Attachment]) -> list[FileEntry]:
    return [FileEntry.of(a.public_id, a.sealed_meta) for a in attachments]


def statement_of_report(report: Report) -> bytes:
    return report_statement(report.public_id, report.received_on, report.key_commitment or b"", report.sealed_report,
                            _files(a for a in report.attachments if a.message_id is None))


def author_of(message: Message) -> str:
    return REPORTER if message.from_reporter else reviewer_author(message.reviewer_id or 0)


def statement_of_message(report: Report, message: Message, files: Iterable[FileEntry]) -> bytes:
    return message_statement(report.public_id, message.public_id, message.seq, author_of(message), message.sent_on,
                             report.key_commitment or NO_COMMITMENT, message.sealed_body, files)


def statement_of_note(report: Report, note: InternalNote) -> bytes:
    return note_statement(report.public_id, note.public_id, reviewer_author(note.author_id), note.written_on, note.sealed_body)


def sign_report(report: Report, signer: Signer) -> None:
    """Sign a report as accepted (its commitment and first files already set)."""
    report.signature = signer(statement_of_report(report))


POSITION_LOCK = 0x19 << 32  # advisory lock keys: this base + the report's row id


def next_position(db: Session, report: Report) -> int:
    """The next message's position in this report: one after the highest stored. On PostgreSQL the
    reporter and triage hosts take a per-report advisory lock first (it needs no table privilege), so
    two messages written at once get consecutive positions; the unique index on (report, position)
    refuses a second message at the same place whatever happens."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSITION_LOCK + report.id})
    return (db.scalar(select(func.max(Message.seq)).where(Message.report_id == report.id)) or 0) + 1


def sign_message(report: Report, message: Message, files: Iterable[FileEntry], signer: Signer) -> None:
    message.signature = signer(statement_of_message(report, message, files))


def bind_note(report: Report, note: InternalNote, binding_key: bytes) -> None:
    note.binding = bind(binding_key, statement_of_note(report, note))


def unsigned_reports(db: Session) -> dict[bytes, int]:
    """Reports stored without a signature (received before signatures), each with its last message
    position: what the triage host's pin lists as allowed to be unsigned (portal.instance.SignerPin)."""
    last = (select(Message.report_id, func.max(Message.seq).label("last")).group_by(Message.report_id).subquery())
    rows = db.execute(select(Report.public_id, last.c.last).outerjoin(last, last.c.report_id == Report.id)
                      .where(Report.signature.is_(None))).all()
    return {public_id: last_seq or 0 for public_id, last_seq in rows}


# -- checking ---------------------------------------------------------------------------


def verify_report(report: Report, dek: bytes, checker: Checker) -> Verdict:
    """Every check a report open makes, after its data key was unwrapped (`dek`)."""
    problems: list[Problem] = []
    legacy_until = (checker.pin.before_signatures.get(report.public_id) if checker.pin else None)
    legacy = report.signature is None and report.key_commitment is None and (
        legacy_until is not None or (checker.pin is None and not checker.pin_required))
    if not legacy:
        problems += _report_problems(report, dek, checker)
    problems += _message_problems(report, checker, legacy_until if legacy_until is not None else 0)
    problems += [Problem("note", None, note.public_id) for note in report.notes if not _note_holds(report, note, checker)]
    if problems:
        return Verdict(ALTERED, tuple(problems))
    return Verdict(BEFORE_SIGNATURES if legacy else VERIFIED)


def check_one_key(dek: bytes, report_id: bytes, reporter_key: bytes, commitment: bytes, sealed_report: bytes,
                  files: list[tuple[bytes, bytes]]) -> None:
    """At a no-JavaScript submission the server holds the key, so it checks everything it can open
    against it: the reporter's wrap (opened from the receipt secret: `reporter_key`), the commitment,
    the sealed report and every file's sealed details. Each recipient's inner wrap was made by the
    server itself with an ephemeral key it no longer holds; whoever opens one checks the commitment.
    CryptoError when anything holds another key."""
    if not hmac.compare_digest(reporter_key, dek):
        raise IntegrityError("the reporter's wrap holds another key")
    check_commitment(dek, report_id, commitment)
    open_record(dek, report_id, "report", sealed_report)
    for attachment_id, sealed_meta in files:
        open_record(dek, report_id, "attachment-meta", sealed_meta, attachment_id)


def check_key(report: Report, dek: bytes) -> None:
    """The commitment check alone (the reporter's follow-up): IntegrityError unless this is the report's key.
    A report received before signatures has no commitment to check."""
    if report.key_commitment is not None:
        check_commitment(dek, report.public_id, report.key_commitment)


def _report_problems(report: Report, dek: bytes, checker: Checker) -> list[Problem]:
    if report.key_commitment is None or report.signature is None:
        return [Problem("report-unsigned")]
    problems = []
    try:
        check_commitment(dek, report.public_id, report.key_commitment)
    except CryptoError:
        problems.append(Problem("key"))
    if checker.pin is None:
        return [*problems, Problem("no-pin")] if checker.pin_required else problems
    try:
        verify(checker.pin.public_key, statement_of_report(report), report.signature)
    except CryptoError:
        problems.append(Problem("report-signature"))
    return problems


def _message_problems(report: Report, checker: Checker, legacy_until: int) -> list[Problem]:
    problems = []
    positions = [m.seq for m in report.messages]
    if None in positions or len(set(positions)) != len(positions):
        problems.append(Problem("order"))
    elif positions and sorted(positions) != list(range(1, len(positions) + 1)):
        problems.append(Problem("missing", next(p for p in range(1, max(positions) + 1) if p not in positions)))
    for message in report.messages:
        if message.seq is not None and message.signature is None and message.seq <= legacy_until:
            continue  # stored before signatures
        if not _message_holds(report, message, checker):
            problems.append(Problem("message", message.seq, message.public_id))
    return problems


def _message_holds(report: Report, message: Message, checker: Checker) -> bool:
    if message.signature is None or message.seq is None:
        return False
    files = _files(a for a in report.attachments if a.message_id == message.id)
    try:
        statement = statement_of_message(report, message, files)
        if message.from_reporter:
            if checker.pin is None:
                return not checker.pin_required
            verify(checker.pin.public_key, statement, message.signature)
        elif checker.binding_key is not None:
            check_binding(checker.binding_key, statement, message.signature)
    except CryptoError:
        return False
    return True


def _note_holds(report: Report, note: InternalNote, checker: Checker) -> bool:
    if checker.binding_key is None:
        return True
    if note.binding is None:
        return not report.signature  # notes of reports received before signatures were not bound
    try:
        check_binding(checker.binding_key, statement_of_note(report, note), note.binding)
    except CryptoError:
        return False
    return True
