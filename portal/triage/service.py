"""Every reviewer action, one function each: used by the views, the CLI and the tests.

Authorisation lives here, not in the views: a reviewer can see a report only if
the report's DEK is wrapped to their key (and they are active), and each action
checks the actor's role. A report the actor may not read raises NotFound,
exactly as a report that does not exist. Every action appends an audit entry.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import Select, delete, exists, select

from portal.clock import today
from portal.crypto import CryptoError, IntegrityError
from portal.crypto.envelope import open_record
from portal.crypto.integrity import triage_binding_key
from portal.crypto.keys import RecipientPublicKey, unwrap_dek, wrap_dek
from portal.deadlines import Deadlines
from portal.reports.answers import AttachmentMeta, MessageBody, ReportAnswers
from portal.reports.integrity import BEFORE_SIGNATURES, WRAP_FAILED, Verdict, bind_note, triage_binder
from portal.reports.models import InternalNote, KeyWrap, Report, ReportStatus
from portal.reports.service import (
    ConversationEntry,
    add_message,
    decrypt_attachment,
    find_attachment,
    open_attachment_meta,
    open_report,
)
from portal.triage import audit, conflicts, integrity, internal, linking, mandatory, safe_copies
from portal.triage.context import ActionError, Actor, Context, NotFound, require_role
from portal.triage.models import Reviewer, Role
from portal.triage.risk import note_high_risk
from portal.triage.rules import refresh_flags
from portal.triage.vocabulary import PRIORITIES, ROUTES, Stage

ACKNOWLEDGEMENT = (
    "Thank you for your report. It has been received by the professional standards reviewers and is being assessed. "
    "We may ask you questions here, so please check back with your receipt code."
)


# -- reading ----------------------------------------------------------------------


def readable(actor: Actor) -> Select:
    """Reports whose DEK is wrapped to this reviewer's key, minus those hidden by a conflict of interest."""
    wrapped = select(KeyWrap.id).where(
        KeyWrap.report_id == Report.id, KeyWrap.recipient_fingerprint == actor.reviewer.key_fingerprint
    )
    return conflicts.visible(select(Report).where(exists(wrapped)), actor)


def get_report(ctx: Context, actor: Actor, reference: str) -> Report:
    if not actor.reviewer.active or len(reference) > 16:
        raise NotFound
    report = ctx.db.scalar(readable(actor).where(Report.reference == reference))
    if report is None:
        raise NotFound
    return report


def _unwrapped_dek(ctx: Context, actor: Actor, report: Report) -> bytes:
    """The report's key from this reviewer's wrap (CryptoError when the wrap does not open)."""
    wrap = ctx.db.scalar(
        select(KeyWrap.wrap).where(KeyWrap.report_id == report.id, KeyWrap.recipient_fingerprint == actor.reviewer.key_fingerprint)
    )
    if wrap is None:
        raise NotFound
    return unwrap_dek(wrap, actor.private_key, report.public_id)


def report_dek(ctx: Context, actor: Actor, report: Report) -> bytes:
    """The report's key for an action: a wrap that does not open refuses the action (the page says why)."""
    try:
        return _unwrapped_dek(ctx, actor, report)
    except CryptoError:
        raise ActionError(_("Your copy of the report key does not open: this report was altered after it was "
                            "received.")) from None


def report_internal_key(ctx: Context, actor: Actor, report: Report, dek: bytes) -> bytes:
    """The report's internal key in this reviewer's session (made, and older notes moved under it,
    the first time: portal.triage.internal)."""
    try:
        return internal.internal_key(ctx.db, report, actor.reviewer.key_fingerprint, actor.private_key, dek)
    except LookupError:
        raise NotFound from None


def _note_text(key: bytes, report: Report, note: InternalNote) -> str | None:
    try:
        return MessageBody.from_json(internal.open_internal(key, report, "note", note.sealed_body, note.public_id)).text
    except (CryptoError, ValueError):
        return None


@dataclass
class NoteItem:
    author: str
    written_on: dt.date
    text: str | None  # None: it did not open (shown as "could not be decrypted")
    altered: bool = False  # failed its binding: shown as altered, never as content


@dataclass
class TriageCase:
    report: Report
    answers: ReportAnswers
    attachments: list[tuple[str, AttachmentMeta]]
    conversation: list[ConversationEntry]
    notes: list[NoteItem]
    history: list[audit.AuditEntry]
    links: linking.CaseLinks
    subjects: list[linking.SubjectLabel]
    status: ReportStatus
    deadline: str
    safe_copies: dict[str, safe_copies.SafeCopyInfo]  # attachment id (hex) -> its safe copy, where one was made
    before_signatures: bool = False  # received before reports were signed: shown, with a notice
    altered_items: list[str] = field(default_factory=list)  # what failed among messages and notes, in words


@dataclass
class AlteredCase:
    """A report that failed its integrity check: shown as altered, with what failed, never its content."""

    report: Report
    failed: list[str]  # what failed, in words
    history: list[audit.AuditEntry]
    status: ReportStatus


def checked_dek(ctx: Context, actor: Actor, report: Report) -> tuple[bytes, Verdict]:
    """The report's key for this reviewer and the verdict of its integrity check (audited when altered).
    A wrap that does not open (to another key, or copied from another report) is a failed check too:
    the key returned is then empty and the verdict `whole`, so nothing is opened with it."""
    try:
        dek = _unwrapped_dek(ctx, actor, report)
    except CryptoError:
        integrity.record(ctx.db, ctx.audit_key, actor.reviewer.login, report, WRAP_FAILED)
        return b"", WRAP_FAILED
    return dek, integrity.check(ctx.db, ctx.settings, ctx.audit_key, actor.reviewer.login, report, dek)


def open_case(ctx: Context, actor: Actor, reference: str) -> TriageCase | AlteredCase:
    report = get_report(ctx, actor, reference)
    dek, verdict = checked_dek(ctx, actor, report)
    if verdict.whole:
        return AlteredCase(report, [integrity.describe(p) for p in verdict.problems], _history(ctx, actor, report),
                           report.coarse_status)
    answers = ReportAnswers.from_json(open_record(dek, report.public_id, "report", report.sealed_report))
    if not report.subjects_indexed:
        linking.index_report(ctx, report, answers)
        ctx.db.flush()
        if ctx.db.scalar(readable(actor).where(Report.id == report.id)) is None:
            raise NotFound(keep_changes=True)  # keep the index: the report is now hidden from this reviewer
    note_high_risk(ctx.settings.taxonomy, report, answers)
    if report.assignee_id in (None, actor.reviewer.id):  # the handler has now seen what the reporter wrote
        for message in report.messages:
            message.unread = False
    names = dict(ctx.db.execute(select(Reviewer.id, Reviewer.display_name)).all())
    opened = open_report(report, dek, names)
    failed = verdict.failed_items
    hidden = {item.hex() for item in failed}  # files added after they were received are not listed
    for entry, message in zip(opened.conversation, report.messages, strict=True):
        if message.public_id in failed:  # never its text or its files
            entry.text, entry.attachments, entry.altered = None, [], True
        entry.attachments = [(file_id, meta) for file_id, meta in entry.attachments if file_id not in hidden]
    internal_key = report_internal_key(ctx, actor, report, dek)
    notes = [NoteItem(author=names.get(n.author_id, _("Reviewer")), written_on=n.written_on,
                      text=None if n.public_id in failed else _note_text(internal_key, report, n), altered=n.public_id in failed)
             for n in report.notes]
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "report.viewed", report.reference)
    return TriageCase(
        report=report,
        answers=answers,
        attachments=[(file_id, meta) for file_id, meta in opened.attachments if file_id not in hidden],
        conversation=opened.conversation,
        notes=notes,
        history=_history(ctx, actor, report),
        links=linking.case_links(ctx.db, readable(actor), actor, report),
        subjects=linking.subject_labels(ctx, report, internal_key, answers),
        status=report.coarse_status,
        deadline=Deadlines.from_settings(ctx.settings).state(report),
        safe_copies=safe_copies.infos(report, dek),
        before_signatures=verdict.state == BEFORE_SIGNATURES,
        altered_items=[integrity.describe(p) for p in verdict.problems],
    )


def _history(ctx: Context, actor: Actor, report: Report) -> list[audit.AuditEntry]:
    """The report's history, less link decisions naming a report this reviewer may not read (and, but for leads, conflict removals)."""
    entries = audit.history(ctx.db, report.reference)
    if not actor.is_lead:  # a wrap removed for a conflict says someone declared one: a lead's business
        entries = [e for e in entries if e.action != "access.removed-for-conflict"]
    named = {json.loads(e.detail).get("linked") for e in entries if e.action.startswith("link.")} - {None}
    readable_refs = set(ctx.db.scalars(readable(actor).with_only_columns(Report.reference).where(Report.reference.in_(named))))
    return [e for e in entries if not e.action.startswith("link.") or json.loads(e.detail).get("linked") in readable_refs]


def _readable_attachment(ctx: Context, actor: Actor, reference: str, attachment_hex: str):
    report = get_report(ctx, actor, reference)
    attachment = find_attachment(report, attachment_hex)
    if attachment is None:
        raise NotFound
    dek, verdict = checked_dek(ctx, actor, report)
    message = next((m for m in report.messages if m.id == attachment.message_id), None)
    if verdict.whole or attachment.public_id in verdict.failed_items or (
            message is not None and message.public_id in verdict.failed_items):
        raise IntegrityError("altered after it was received")  # audited; answered as a file that fails verification
    return report, attachment, dek


def make_safe_copy(ctx: Context, actor: Actor, reference: str, attachment_hex: str):
    """The safe copy of one file (portal.triage.safe_copies): made once, in the sandbox; audited."""
    return safe_copies.make(ctx, actor, *_readable_attachment(ctx, actor, reference, attachment_hex))


def download_safe_copy(ctx: Context, actor: Actor, reference: str, attachment_hex: str) -> tuple[object, str]:
    return safe_copies.download(ctx, actor, *_readable_attachment(ctx, actor, reference, attachment_hex))


def record_unreadable(ctx: Context, actor: Actor, reference: str, attachment_hex: str, copy: str) -> None:
    """Audit a file (or safe copy) that failed verification when a reviewer asked for it: a trace
    that content was altered or damaged after it was received."""
    report = get_report(ctx, actor, reference)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "attachment.unreadable", report.reference,
                 attachment=attachment_hex[:32], copy=copy)


def download(ctx: Context, actor: Actor, reference: str, attachment_hex: str) -> tuple[object, str]:
    """(chunks, file name) of one original attachment, verified whole before the first byte; audited."""
    report, attachment, dek = _readable_attachment(ctx, actor, reference, attachment_hex)
    meta = open_attachment_meta(dek, report, attachment)
    chunks = decrypt_attachment(ctx.db, report, dek, attachment)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "attachment.downloaded", report.reference,
                 attachment=attachment_hex[:32], copy="original")
    return chunks, str(meta.safe_name)


# -- acting -----------------------------------------------------------------------


def log_action(ctx: Context, actor: Actor, action: str, report: Report | None = None, **detail) -> None:
    """Audit an action; every action on a report ends here, so its stored deadline is brought up to date here too."""
    if report is not None:
        Deadlines.from_settings(ctx.settings).apply(report)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, action, report.reference if report else None, **detail)


def seal_note(ctx: Context, actor: Actor, report: Report, dek: bytes, text: str) -> None:
    """An internal note, sealed under the report's internal key (never the DEK the reporter holds)."""
    key = report_internal_key(ctx, actor, report, dek)
    public_id = os.urandom(16)
    report.notes.append(
        InternalNote(
            public_id=public_id,
            author_id=actor.reviewer.id,
            written_on=today(),
            sealed_body=internal.seal_internal(key, report, "note", MessageBody(text).to_json(), public_id),
        )
    )
    bind_note(report, report.notes[-1], triage_binding_key(ctx.audit_key))  # its author, bound (portal.reports.integrity)
    ctx.db.flush()


def check_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ActionError(_("Give a reason. It is kept as an encrypted internal note."))
    if len(reason) > 5000:
        raise ActionError(_("The reason must be 5,000 characters or fewer."))
    return reason


def acknowledge(ctx: Context, actor: Actor, reference: str) -> None:
    """Acknowledge receipt: the reporter gets the standard acknowledgement message."""
    report = get_report(ctx, actor, reference)
    if report.acknowledged_on is not None:
        raise ActionError(_("This report has already been acknowledged."))
    send_acknowledgement(ctx, actor, report, report_dek(ctx, actor, report))


def send_acknowledgement(ctx: Context, actor: Actor, report: Report, dek: bytes) -> None:
    """The standard acknowledgement to the reporter, and the report marked acknowledged (audited)."""
    add_message(ctx.db, report, dek, ACKNOWLEDGEMENT, from_reporter=False, reviewer_id=actor.reviewer.id,
                signer=triage_binder(triage_binding_key(ctx.audit_key)))
    report.acknowledged_on = today()
    if report.stage == Stage.NEW:
        report.stage = Stage.ASSESSING
    if report.assignee_id is None:
        report.assignee_id = actor.reviewer.id
    log_action(ctx, actor, "report.acknowledged", report)


def categorise(ctx: Context, actor: Actor, reference: str, category: str, flags: list[str], priority: str) -> None:
    report = get_report(ctx, actor, reference)
    taxonomy = ctx.settings.taxonomy
    if category and category not in taxonomy.keys():
        raise ActionError(_("Choose a category from the list."))
    known_flags = {k for k, _ in taxonomy.risk_flags}
    if any(f not in known_flags for f in flags):
        raise ActionError(_("Choose risk flags from the list."))
    if priority not in PRIORITIES:
        raise ActionError(_("Choose a priority from the list."))
    report.category = category or None
    report.risk_flags = ",".join(sorted(set(flags)))
    report.priority = priority
    if report.stage == Stage.NEW:
        report.stage = Stage.ASSESSING
    dek = report_dek(ctx, actor, report)
    answers = ReportAnswers.from_json(open_record(dek, report.public_id, "report", report.sealed_report))
    refresh_flags(ctx, report, answers)
    note_high_risk(taxonomy, report, answers)  # sticky: a later recategorisation does not clear it
    met = mandatory.note_categorisation(taxonomy, report)  # sticky as well
    log_action(ctx, actor, "report.categorised", report, category=category, flags=sorted(set(flags)), priority=priority,
               **({"mandatory_referral": met} if met else {}))


def assign(ctx: Context, actor: Actor, reference: str, assignee_id: int | None) -> None:
    report = get_report(ctx, actor, reference)
    if assignee_id not in (None, actor.reviewer.id):
        require_role(actor, Role.LEAD, _("Only a lead can assign a report to someone else."))
    if assignee_id is not None:
        assignee = ctx.db.get(Reviewer, assignee_id)
        has_wrap = ctx.db.scalar(
            select(KeyWrap.id).where(KeyWrap.report_id == report.id, KeyWrap.recipient_fingerprint == (assignee.key_fingerprint if assignee else ""))
        )
        if assignee is None or not assignee.active or has_wrap is None:
            raise ActionError(_("That reviewer cannot read this report. Grant them access first."))
    report.assignee_id = assignee_id
    log_action(ctx, actor, "report.assigned", report, assignee=assignee_id)


def message_reporter(ctx: Context, actor: Actor, reference: str, text: str) -> None:
    report = get_report(ctx, actor, reference)
    text = (text or "").strip()
    if not text:
        raise ActionError(_("Write a message to send."))
    if len(text) > int(ctx.settings.max_text_chars):
        raise ActionError(_("A message must be %(count)s characters or fewer.", count=f"{int(ctx.settings.max_text_chars):,}"))
    dek = report_dek(ctx, actor, report)
    add_message(ctx.db, report, dek, text, from_reporter=False, reviewer_id=actor.reviewer.id,
                signer=triage_binder(triage_binding_key(ctx.audit_key)))
    if report.acknowledged_on is None:
        report.acknowledged_on = today()
        if report.stage == Stage.NEW:
            report.stage = Stage.ASSESSING
    log_action(ctx, actor, "report.messaged", report)


def add_note(ctx: Context, actor: Actor, reference: str, text: str) -> None:
    report = get_report(ctx, actor, reference)
    text = (text or "").strip()
    if not text:
        raise ActionError(_("Write a note to add."))
    if len(text) > int(ctx.settings.max_text_chars):
        raise ActionError(_("A note must be %(count)s characters or fewer.", count=f"{int(ctx.settings.max_text_chars):,}"))
    seal_note(ctx, actor, report, report_dek(ctx, actor, report), text)
    log_action(ctx, actor, "report.note-added", report)


def escalate(ctx: Context, actor: Actor, reference: str, route: str, reason: str) -> None:
    report = get_report(ctx, actor, reference)
    if route not in ROUTES:
        raise ActionError(_("Choose an escalation route."))
    if report.stage in (Stage.CLOSED, Stage.CLOSURE_PENDING):
        raise ActionError(_("Reopen the report, or decide the pending closure, before escalating it."))
    reason = check_reason(reason)
    seal_note(ctx, actor, report, report_dek(ctx, actor, report), f"Escalated: {ROUTES[route]}.\nReason: {reason}")
    report.stage = Stage.ESCALATED
    report.escalation_route = route
    if report.acknowledged_on is None:
        report.acknowledged_on = today()
    log_action(ctx, actor, "report.escalated", report, route=route)


# -- access -----------------------------------------------------------------------


def grant_access(ctx: Context, actor: Actor, reference: str, reviewer_id: int) -> None:
    """Wrap the report's DEK to another reviewer (in the lead's session)."""
    require_role(actor, Role.LEAD, _("Only a lead can grant access to a report."))
    report = get_report(ctx, actor, reference)
    target = ctx.db.get(Reviewer, reviewer_id)
    if target is None or not target.active:
        raise ActionError(_("Choose an active reviewer."))
    already = ctx.db.scalar(select(KeyWrap.id).where(KeyWrap.report_id == report.id, KeyWrap.recipient_fingerprint == target.key_fingerprint))
    if already:
        raise ActionError(_("%(name)s can already read this report.", name=target.display_name))
    if ctx.db.scalar(select(exists(conflicts.excluded_reviewers(ctx.db, report).where(Reviewer.id == target.id)))):
        raise ActionError(_("%(name)s cannot be given this report: a conflict of interest applies.", name=target.display_name))
    dek = report_dek(ctx, actor, report)
    public = RecipientPublicKey.from_bytes(target.public_key)
    internal_wrap = internal.wrap_internal_key(report_internal_key(ctx, actor, report, dek), public, report)
    ctx.db.add(KeyWrap(report_id=report.id, recipient_fingerprint=target.key_fingerprint,
                       wrap=wrap_dek(dek, public, report.public_id), internal_wrap=internal_wrap))
    log_action(ctx, actor, "access.granted", report, reviewer=target.login)


def revoke_access(ctx: Context, actor: Actor, reference: str, reviewer_id: int) -> None:
    require_role(actor, Role.LEAD, _("Only a lead can remove access to a report."))
    report = get_report(ctx, actor, reference)
    target = ctx.db.get(Reviewer, reviewer_id)
    if target is None or target.id == actor.reviewer.id:
        raise ActionError(_("Choose another reviewer."))
    ctx.db.execute(delete(KeyWrap).where(KeyWrap.report_id == report.id, KeyWrap.recipient_fingerprint == target.key_fingerprint))
    if report.assignee_id == target.id:
        report.assignee_id = None
    log_action(ctx, actor, "access.revoked", report, reviewer=target.login)


def readers(ctx: Context, report: Report) -> list[Reviewer]:
    fingerprints = select(KeyWrap.recipient_fingerprint).where(KeyWrap.report_id == report.id)
    return list(ctx.db.scalars(select(Reviewer).where(Reviewer.key_fingerprint.in_(fingerprints), Reviewer.active.is_(True)).order_by(Reviewer.display_name)))


def active_reviewers(ctx: Context) -> list[Reviewer]:
    return list(ctx.db.scalars(select(Reviewer).where(Reviewer.active.is_(True)).order_by(Reviewer.display_name)))


def add_subject(ctx: Context, actor: Actor, reference: str, name: str, identifier: str) -> None:
    report = get_report(ctx, actor, reference)
    linking.add_subject(ctx, actor, report, report_internal_key(ctx, actor, report, report_dek(ctx, actor, report)), name, identifier)


def remove_subject(ctx: Context, actor: Actor, reference: str, subject_id: int) -> None:
    report = get_report(ctx, actor, reference)
    dek = report_dek(ctx, actor, report)
    answers = ReportAnswers.from_json(open_record(dek, report.public_id, "report", report.sealed_report))
    linking.remove_subject(ctx, actor, report, report_internal_key(ctx, actor, report, dek), answers, subject_id)


def decide_link(ctx: Context, actor: Actor, reference: str, other_reference: str, decision: str) -> None:
    """Confirm or reject a possible link (both reports must be readable: unreadable ones are not found)."""
    report = get_report(ctx, actor, reference)
    linking.decide_link(ctx, actor, readable(actor), report, other_reference, decision)
