"""Oversight without content: the reviewers' digest, themes over time, retention.

Everything here works on metadata columns only; nothing is decrypted. Themes
suppress every cell below a threshold (default 5) so that no figure can point
at an individual report, let alone a reporter.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from flask_babel import gettext as _
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from portal.blobs import delete_blob
from portal.clock import today
from portal.config import Settings
from portal.deadlines import overdue_clause
from portal.i18n import DEFAULT_LANGUAGE, parse_languages, translations
from portal.reports.models import Attachment, KeyWrap, Report, SafeCopy
from portal.triage import audit
from portal.triage.listing import new_information_clause, unread_clause
from portal.triage.models import Reviewer
from portal.triage.vocabulary import ROUTES, Stage

SUPPRESSED = None  # a suppressed cell


# -- digest -----------------------------------------------------------------------------


@dataclass
class Digest:
    reviewer: Reviewer
    unacknowledged: int
    overdue: int
    assigned_open: int
    awaiting_approval: int
    purge_soon: int
    footer: str | None = None
    unread: int = 0
    new_information: int = 0

    def text(self, language: str = DEFAULT_LANGUAGE) -> str:
        catalog = translations(language)
        gettext = catalog.gettext
        lines = [
            gettext("Confidential reporting portal: summary for %(name)s") % {"name": self.reviewer.display_name},
            "",
            gettext("Reports not yet acknowledged: %(count)d") % {"count": self.unacknowledged},
            gettext("Overdue reports: %(count)d") % {"count": self.overdue},
            gettext("Open reports assigned to you: %(count)d") % {"count": self.assigned_open},
        ]
        if self.awaiting_approval:
            lines.append(gettext("Closures proposed by someone else, awaiting a lead's approval: %(count)d")
                         % {"count": self.awaiting_approval})
        if self.unread:
            lines.append(gettext("Reports with a reply from the reporter not yet read: %(count)d") % {"count": self.unread})
        if self.new_information:
            lines.append(gettext("Closed reports with new information from the reporter, awaiting a decision: %(count)d")
                         % {"count": self.new_information})
        if self.purge_soon:
            lines.append(gettext("Your closed reports to be deleted within 30 days: %(count)d") % {"count": self.purge_soon})
        lines += ["", gettext("Sign in to the triage interface on the internal network to see them. "
                              "This message holds no report content.")]
        if self.footer:
            lines += ["", self.footer]
        return "\n".join(lines)

    def message(self, languages: list[str]) -> str:
        """The digest in each of `languages`, one after the other (a bilingual e-mail)."""
        return ("\n\n" + "-" * 60 + "\n\n").join(self.text(language) for language in languages)


def digest_subject(languages: list[str]) -> str:
    return " / ".join(translations(language).gettext("Confidential reporting portal: your summary") for language in languages)


def digests(db: Session, settings: Settings) -> list[Digest]:
    on = today()
    purge_cutoff = on - dt.timedelta(days=settings.retention_days - 30)
    out = []
    for reviewer in db.scalars(select(Reviewer).where(Reviewer.active.is_(True)).order_by(Reviewer.login)):
        mine = select(KeyWrap.report_id).where(KeyWrap.recipient_fingerprint == reviewer.key_fingerprint)
        base = select(func.count(Report.id)).where(Report.id.in_(mine), Report.junk.is_(False))
        out.append(Digest(
            reviewer=reviewer,
            unacknowledged=db.scalar(base.where(Report.acknowledged_on.is_(None), Report.stage != Stage.CLOSED)) or 0,
            overdue=db.scalar(base.where(overdue_clause(on))) or 0,
            assigned_open=db.scalar(base.where(Report.assignee_id == reviewer.id, Report.stage != Stage.CLOSED)) or 0,
            awaiting_approval=(db.scalar(base.where(Report.stage == Stage.CLOSURE_PENDING,
                                                    Report.closure_proposer_id.is_distinct_from(reviewer.id))) or 0)
            if reviewer.role != "reviewer" else 0,
            unread=db.scalar(base.where(unread_clause(), Report.assignee_id.is_(None) | (Report.assignee_id == reviewer.id))) or 0,
            new_information=db.scalar(base.where(new_information_clause())) or 0,
            purge_soon=db.scalar(base.where(Report.assignee_id == reviewer.id, Report.stage == Stage.CLOSED,
                                            Report.closed_on <= purge_cutoff)) or 0,
        ))
    return out


def send_digests(db: Session, settings: Settings, echo, footer: str | None = None) -> int:
    """E-mail each reviewer who has an address when SMTP is configured; otherwise print.
    `footer` (the audit log's signed checkpoint) ends every message: each inbox keeps a copy."""
    sent = 0
    languages = parse_languages(settings.digest_languages)
    items = digests(db, settings)
    for item in items:
        item.footer = footer
    if not settings.smtp_host:
        for item in items:
            echo(item.message(languages))
            echo("-" * 60)
        return 0
    import smtplib
    from email.message import EmailMessage

    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        for item in items:
            if not item.reviewer.email:
                continue
            message = EmailMessage()
            message["Subject"] = digest_subject(languages)
            message["From"] = settings.smtp_from
            message["To"] = item.reviewer.email
            message.set_content(item.message(languages))
            smtp.send_message(message)
            sent += 1
    return sent


# -- themes -----------------------------------------------------------------------------


@dataclass
class Themes:
    months: list[str]
    categories: list[tuple[str, str]]  # (key, label)
    by_category_month: dict[tuple[str, str], int | None]
    category_totals: dict[str, int | None]
    by_route: dict[str, int | None]
    median_days_to_acknowledge: float | None
    median_days_to_close: float | None
    threshold: int
    totals_by_month: dict[str, int | None] = field(default_factory=dict)


def _suppress(n: int, threshold: int) -> int | None:
    return n if n >= threshold else SUPPRESSED


def _month_key(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def themes(db: Session, settings: Settings, months: int = 12) -> Themes:
    threshold = settings.theme_min_count
    on = today()
    first = (on.replace(day=1) - dt.timedelta(days=31 * (months - 1))).replace(day=1)
    month_keys = []
    cursor = first
    while cursor <= on:
        month_keys.append(_month_key(cursor))
        cursor = (cursor + dt.timedelta(days=32)).replace(day=1)
    # Junk is no theme (a flood must not skew them), nor is a report not screened yet or quarantined.
    genuine = and_(Report.junk.is_(False), Report.screening == "screened", Report.received_on >= first)
    rows = db.execute(select(Report.category, Report.received_on).where(genuine)).all()
    raw: dict[tuple[str, str], int] = {}
    per_category: dict[str, int] = {}
    per_month: dict[str, int] = {}
    for category, received in rows:
        key = category or "uncategorised"
        month = _month_key(received)
        raw[(key, month)] = raw.get((key, month), 0) + 1
        per_category[key] = per_category.get(key, 0) + 1
        per_month[month] = per_month.get(month, 0) + 1
    categories = [(c.key, c.label) for c in settings.taxonomy.categories] + [("uncategorised", _("Not yet categorised"))]
    routes = dict(db.execute(select(Report.escalation_route, func.count(Report.id)).where(
        Report.escalation_route.is_not(None), genuine).group_by(Report.escalation_route)).all())
    ack = [(a - r).days for r, a in db.execute(select(Report.received_on, Report.acknowledged_on).where(
        Report.acknowledged_on.is_not(None), genuine)).all()]
    closed = [(c - r).days for r, c in db.execute(select(Report.received_on, Report.closed_on).where(
        Report.closed_on.is_not(None), genuine)).all()]
    return Themes(
        months=month_keys,
        categories=categories,
        by_category_month={(c, m): _suppress(raw.get((c, m), 0), threshold) for c, _ in categories for m in month_keys},
        category_totals={c: _suppress(per_category.get(c, 0), threshold) for c, _ in categories},
        by_route={k: _suppress(routes.get(k, 0), threshold) for k in ROUTES},
        median_days_to_acknowledge=statistics.median(ack) if len(ack) >= threshold else None,
        median_days_to_close=statistics.median(closed) if len(closed) >= threshold else None,
        threshold=threshold,
        totals_by_month={m: _suppress(per_month.get(m, 0), threshold) for m in month_keys},
    )


def themes_csv(data: Themes) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["category", *data.months, "total"])
    for key, label in data.categories:
        cells = [data.by_category_month[(key, m)] for m in data.months]
        writer.writerow([label, *[("<" + str(data.threshold)) if c is None else c for c in cells],
                         ("<" + str(data.threshold)) if data.category_totals[key] is None else data.category_totals[key]])
    writer.writerow([])
    writer.writerow(["escalation route", "reports"])
    for key, label in ROUTES.items():
        value = data.by_route[key]
        writer.writerow([label, ("<" + str(data.threshold)) if value is None else value])
    writer.writerow([])
    writer.writerow(["median days to acknowledge", "" if data.median_days_to_acknowledge is None else data.median_days_to_acknowledge])
    writer.writerow(["median days to close", "" if data.median_days_to_close is None else data.median_days_to_close])
    return out.getvalue()


def themes_svg(data: Themes) -> str:
    """A bar chart of reports per month (suppressed months drawn as hatched placeholders)."""
    width, height, left, bottom, top = 760, 260, 40, 40, 20
    values = [data.totals_by_month.get(m) for m in data.months]
    peak = max([v for v in values if v] + [data.threshold])
    slot = (width - left - 10) / max(1, len(values))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-labelledby="chart-title"><title id="chart-title">{escape(_("Reports received per month"))}</title>',
             '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
             '<line x1="0" y1="0" x2="0" y2="6" stroke="#b1b4b6" stroke-width="3"/></pattern></defs>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#0b0c0c"/>']
    for i, (month, value) in enumerate(zip(data.months, values, strict=True)):
        x = left + i * slot + slot * 0.15
        bar_w = slot * 0.7
        if value is None:
            bar_h = (height - bottom - top) * (data.threshold / peak) * 0.5
            parts.append(f'<rect x="{x:.1f}" y="{height - bottom - bar_h:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}" fill="url(#hatch)">'
                         f'<title>{escape(month)}: fewer than {data.threshold}</title></rect>')
        else:
            bar_h = (height - bottom - top) * value / peak
            parts.append(f'<rect x="{x:.1f}" y="{height - bottom - bar_h:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}" fill="#1d70b8">'
                         f'<title>{escape(month)}: {value}</title></rect>')
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom - bar_h - 4:.1f}" font-size="11" text-anchor="middle" '
                         f'font-family="sans-serif">{value}</text>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 16:.1f}" font-size="11" text-anchor="middle" '
                     f'font-family="sans-serif">{escape(month[2:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- retention --------------------------------------------------------------------------


def purge_due(db: Session, settings: Settings, audit_key: bytes, on: dt.date | None = None) -> list[str]:
    """Delete closed reports past the retention period, and quarantined ones (never screened, never
    read by a reviewer) received before it: ciphertext, wraps, attachments, blind-index values. The
    audit log keeps a tombstone. Safe to run repeatedly (cron)."""
    on = on or today()
    cutoff = on - dt.timedelta(days=settings.retention_days)
    due = list(db.scalars(select(Report).where(or_(
        and_(Report.stage == Stage.CLOSED, Report.closed_on < cutoff),
        and_(Report.screening == "quarantined", Report.received_on < cutoff)))))
    purged = []
    for report in due:
        blob_ids = list(db.scalars(select(Attachment.public_id).where(Attachment.report_id == report.id)))
        attachments = len(blob_ids)
        blob_ids += db.scalars(select(SafeCopy.public_id).join(Attachment).where(Attachment.report_id == report.id))
        reference = report.reference
        db.delete(report)
        db.flush()
        for blob_id in blob_ids:
            delete_blob(db, blob_id)
        audit.record(db, audit_key, "retention", "report.purged", reference, attachments=attachments)
        purged.append(reference)
    db.execute(delete(KeyWrap).where(~KeyWrap.report_id.in_(select(Report.id))))
    return purged
