"""A lead refers a report to a receiving body: one encrypted case bundle, and its status after.

The bundle is built by portal.referrals.bundles, sealed to the body's registered key (nobody at
the portal, the referring lead included, can open it once built), and kept in the blob store so
that it can be downloaded again. Who referred, when, to which body and key, and the bundle's
SHA-256 go into the audit log. The status (sent, acknowledged by the body, outcome) is recorded
by a lead; the reporter's coarse status becomes "Referred to an independent body".

Only leads refer and record status; every reviewer who can read the report sees the referrals.
A report the actor cannot read is not found, before the role is looked at.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select

from portal.blobs.io import BlobReader, BlobWriter
from portal.clock import today
from portal.crypto import CryptoError
from portal.referrals.bodies import Body, body_key, load_bodies
from portal.reports.answers import MessageBody
from portal.reports.models import Report
from portal.reports.service import open_attachment_meta
from portal.triage import audit, internal, referral_bundle
from portal.triage.context import ActionError, Actor, Context, NotFound, require_role
from portal.triage.models import Reviewer, Role
from portal.triage.referral_records import STATUS_LABELS, Referral, ReferralStatus
from portal.triage.service import get_report, log_action, report_dek, report_internal_key
from portal.triage.vocabulary import Route, Stage

MAX_OUTCOME_CHARS = 1000
BUNDLE_CHUNK = 1 << 16


@dataclass(frozen=True)
class BodyChoice:
    body: Body
    fingerprint: str | None  # of its registered key; None: it has none, and cannot be referred to
    serves_route: bool  # its routes include the report's escalation route


@dataclass(frozen=True)
class FileChoice:
    id: str  # attachment public id, hex
    name: str
    has_safe_copy: bool


@dataclass(frozen=True)
class NoteChoice:
    id: str  # note public id, hex
    author: str
    written_on: dt.date


@dataclass(frozen=True)
class ReferralChoices:
    bodies: list[BodyChoice]
    notes: list[NoteChoice]
    files: list[FileChoice]


@dataclass(frozen=True)
class ReferralItem:
    id: int
    body_name: str
    fingerprint: str
    sent_on: dt.date
    referred_by: str
    sha256: str
    size: int
    status: str
    status_label: str
    acknowledged_on: dt.date | None
    outcome_on: dt.date | None
    outcome: str | None  # None: none recorded, or it did not open


def lead_report(ctx: Context, actor: Actor, reference: str, message: str) -> Report:
    """The report, for a lead: NotFound if the actor cannot read it, then Forbidden unless a lead."""
    report = get_report(ctx, actor, reference)  # NotFound first: a report the actor cannot read
    require_role(actor, Role.LEAD, message)
    return report


def independent_of_the_force(body: Body) -> bool:
    """The oversight body (bodies.toml `independent`, or serving the external-oversight route), as
    opposed to the force's own units: only then is the reporter told "an independent body"."""
    return body.independent or Route.EXTERNAL_OVERSIGHT in body.routes


def body_choices(ctx: Context, report: Report) -> list[BodyChoice]:
    """Every configured body, those serving the report's escalation route first, then by name."""
    choices = []
    for body in load_bodies(ctx.settings).values():
        key = body_key(ctx.db, body.slug)
        choices.append(BodyChoice(body, key.fingerprint if key else None,
                                  bool(report.escalation_route) and report.escalation_route in body.routes))
    return sorted(choices, key=lambda c: (not c.serves_route, c.body.name))


def choices(ctx: Context, actor: Actor, reference: str) -> ReferralChoices:
    """What the referral form offers: bodies, the report's notes and files."""
    report = lead_report(ctx, actor, reference, _("Only a lead can refer a report to another body."))
    dek = report_dek(ctx, actor, report)
    names = dict(ctx.db.execute(select(Reviewer.id, Reviewer.display_name)).all())
    notes = [NoteChoice(n.public_id.hex(), names.get(n.author_id, "Reviewer"), n.written_on) for n in report.notes]
    files = []
    for attachment in report.attachments:
        meta = open_attachment_meta(dek, report, attachment)
        files.append(FileChoice(attachment.public_id.hex(), str(meta.safe_name) if meta.readable else "",
                                attachment.safe_copy is not None))
    return ReferralChoices(body_choices(ctx, report), notes, files)


def refer(ctx: Context, actor: Actor, reference: str, body_slug: str, note_ids: list[str],
          originals: list[str], safe_copies: list[str]) -> Referral:
    """Build the case bundle for `body_slug`, sealed to its registered key, store it and audit it."""
    report = lead_report(ctx, actor, reference, _("Only a lead can refer a report to another body."))
    if report.stage in (Stage.CLOSED, Stage.CLOSURE_PENDING):
        raise ActionError(_("Reopen the report, or decide the pending closure, before referring it."))
    body = load_bodies(ctx.settings).get(body_slug or "")
    if body is None:
        raise ActionError(_("Choose a body from the list."))
    key = body_key(ctx.db, body.slug)
    if key is None:
        raise ActionError(_("%(body)s has no registered key, so nothing can be sealed to it. An administrator registers "
                            "the public half of the key the body made (portal bodies add), after the body confirms its "
                            "fingerprint.", body=body.name))
    chosen = referral_bundle.choose(report, note_ids, originals, safe_copies)
    dek = report_dek(ctx, actor, report)
    internal_key = report_internal_key(ctx, actor, report, dek)
    blob_id = os.urandom(16)
    writer = BlobWriter(ctx.db, blob_id, attached=True)
    sha256 = referral_bundle.write(ctx, actor, report, dek, internal_key, key, chosen, writer)
    writer.close()
    referral = Referral(report_id=report.id, body_slug=body.slug, body_fingerprint=key.fingerprint,
                        referred_by=actor.reviewer.id, sent_on=today(), bundle_blob_id=blob_id,
                        bundle_sha256=sha256, bundle_bytes=writer.size, status=ReferralStatus.SENT,
                        public_id=os.urandom(16))
    ctx.db.add(referral)
    report.referral_status = ReferralStatus.SENT
    if independent_of_the_force(body):
        report.referred_to_independent = True
    if report.stage in (Stage.NEW, Stage.ASSESSING):
        report.stage = Stage.ESCALATED
    if report.acknowledged_on is None:
        report.acknowledged_on = today()
    ctx.db.flush()
    log_action(ctx, actor, "report.referred", report, body=body.slug, body_key=key.fingerprint, sha256=sha256,
               bytes=writer.size, referral=referral.id, notes=len(chosen.notes), originals=len(chosen.originals),
               safe_copies=len(chosen.safe_copies), mandatory=report.referral_required)
    return referral


def _referral(ctx: Context, report: Report, referral_id: int) -> Referral:
    referral = ctx.db.get(Referral, referral_id)
    if referral is None or referral.report_id != report.id:
        raise NotFound
    return referral


def bundle_download(ctx: Context, actor: Actor, reference: str, referral_id: int) -> tuple[object, str]:
    """(chunks, file name) of a stored bundle: ciphertext only the body's key opens. Audited."""
    report = lead_report(ctx, actor, reference, _("Only a lead can download a referral bundle."))
    referral = _referral(ctx, report, referral_id)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "referral.downloaded", report.reference,
                 referral=referral.id, sha256=referral.bundle_sha256)

    def chunks():
        reader = BlobReader(ctx.db, referral.bundle_blob_id)
        try:
            while block := reader.read(BUNDLE_CHUNK):
                yield block
        finally:
            reader.close()

    return chunks(), f"referral-{report.reference}-{referral.body_slug}-{referral.id}.bundle"


def _check_day(day: dt.date | None, referral: Referral) -> dt.date:
    if day is None:
        raise ActionError(_("Enter the date, as day, month and year."))
    if day > today():
        raise ActionError(_("The date cannot be in the future."))
    if day < referral.sent_on:
        raise ActionError(_("The date cannot be before the referral was sent (%(day)s).", day=format_date(referral.sent_on, "d MMMM y")))
    return day


def _newest_status(ctx: Context, report: Report) -> None:
    newest = ctx.db.scalar(select(Referral.status).where(Referral.report_id == report.id).order_by(Referral.id.desc()).limit(1))
    report.referral_status = newest


def record_acknowledged(ctx: Context, actor: Actor, reference: str, referral_id: int, day: dt.date | None) -> None:
    report = lead_report(ctx, actor, reference, _("Only a lead can record a referral's status."))
    referral = _referral(ctx, report, referral_id)
    if referral.status != ReferralStatus.SENT:
        raise ActionError(_("This referral's acknowledgement is already recorded."))
    referral.acknowledged_on = _check_day(day, referral)
    referral.status = ReferralStatus.ACKNOWLEDGED
    _newest_status(ctx, report)
    log_action(ctx, actor, "referral.acknowledged", report, referral=referral.id, on=referral.acknowledged_on.isoformat())


def record_outcome(ctx: Context, actor: Actor, reference: str, referral_id: int, day: dt.date | None, text: str) -> None:
    """The body's outcome: a date and a short text, sealed under the report's internal key."""
    report = lead_report(ctx, actor, reference, _("Only a lead can record a referral's status."))
    referral = _referral(ctx, report, referral_id)
    if referral.status == ReferralStatus.OUTCOME:
        raise ActionError(_("This referral's outcome is already recorded. Add anything further as an internal note."))
    text = (text or "").strip()
    if not text:
        raise ActionError(_("Say what the body decided, in a few words."))
    if len(text) > MAX_OUTCOME_CHARS:
        raise ActionError(_("The outcome must be %(n)s characters or fewer: add detail as an internal note.",
                            n=f"{MAX_OUTCOME_CHARS:,}"))
    referral.outcome_on = _check_day(day, referral)
    if referral.acknowledged_on is None:
        referral.acknowledged_on = referral.outcome_on  # an outcome is an acknowledgement too
    key = report_internal_key(ctx, actor, report, report_dek(ctx, actor, report))
    # Sealed as a note (the internal key's "note" purpose), bound to this referral's own random id.
    referral.sealed_outcome = internal.seal_internal(key, report, "note", MessageBody(text).to_json(), referral.public_id)
    referral.status = ReferralStatus.OUTCOME
    _newest_status(ctx, report)
    log_action(ctx, actor, "referral.outcome-recorded", report, referral=referral.id, on=referral.outcome_on.isoformat())


def items(ctx: Context, actor: Actor, report: Report) -> list[ReferralItem]:
    """The report's referrals, newest first, for its page (any reviewer who can read it)."""
    if not ctx.db.scalar(select(Referral.id).where(Referral.report_id == report.id).limit(1)):
        return []
    internal_key = report_internal_key(ctx, actor, report, report_dek(ctx, actor, report))
    bodies = load_bodies(ctx.settings)
    names = dict(ctx.db.execute(select(Reviewer.id, Reviewer.display_name)).all())
    found = []
    for r in ctx.db.scalars(select(Referral).where(Referral.report_id == report.id).order_by(Referral.id.desc())):
        outcome = None
        if r.sealed_outcome is not None:
            try:
                outcome = MessageBody.from_json(internal.open_internal(internal_key, report, "note", r.sealed_outcome,
                                                                       r.public_id)).text
            except (CryptoError, ValueError):
                outcome = None
        body = bodies.get(r.body_slug)
        found.append(ReferralItem(r.id, body.name if body else r.body_slug, r.body_fingerprint, r.sent_on,
                                  names.get(r.referred_by, "A former reviewer"), r.bundle_sha256, r.bundle_bytes, r.status,
                                  str(STATUS_LABELS.get(r.status, r.status)), r.acknowledged_on, r.outcome_on, outcome))
    return found

