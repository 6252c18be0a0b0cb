"""Reading a report with the organisation's offline recovery key (break-glass)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.crypto.envelope import open_record
from portal.crypto.keys import RecipientPrivateKey, unwrap_dek
from portal.reports.answers import MessageBody, ReportAnswers
from portal.reports.integrity import Checker, ReportAltered, verify_report
from portal.reports.models import KeyWrap, Report
from portal.reports.service import open_attachment_meta


def recovery_dek(db: Session, private: RecipientPrivateKey, report: Report) -> bytes:
    fingerprint = private.public_key().fingerprint
    wrap = db.scalar(select(KeyWrap).where(KeyWrap.report_id == report.id, KeyWrap.recipient_fingerprint == fingerprint))
    if wrap is None:
        raise LookupError("this report was not wrapped to that recovery key")
    return unwrap_dek(wrap.wrap, private, report.public_id)


def recover_report(db: Session, private: RecipientPrivateKey, reference: str, checker: Checker) -> str:
    """The report as text, after the same integrity check a reviewer's open makes (ReportAltered
    when it fails: nothing of the content is returned)."""
    report = db.scalar(select(Report).where(Report.reference == reference.strip().upper()))
    if report is None:
        raise LookupError("no report with that reference")
    dek = recovery_dek(db, private, report)
    verdict = verify_report(report, dek, checker)
    if verdict.altered:
        raise ReportAltered(report.reference, verdict)
    answers = ReportAnswers.from_json(open_record(dek, report.public_id, "report", report.sealed_report))
    lines = [f"Report {report.reference}, received {report.received_on.isoformat()}, status {report.coarse_status.label}", "",
             "What happened:", answers.what_happened, ""]
    for person in answers.people:
        lines.append(f"Person: {person.name} | {person.role} | {person.identifier} | {person.unit}")
    lines += [f"When: {answers.when}", f"Where: {answers.where}", f"At risk now: {answers.risk_now}",
              f"Vulnerable person: {answers.vulnerable_person}", f"Witnesses: {answers.witnesses}",
              f"How known: {answers.how_known}", f"Category (reporter): {answers.category}", ""]
    for attachment in report.attachments:
        meta = open_attachment_meta(dek, report, attachment)
        lines.append(f"Attachment: {meta.name} ({meta.type}, {meta.size} bytes)")
    for message in report.messages:
        body = MessageBody.from_json(open_record(dek, report.public_id, "message", message.sealed_body, message.public_id))
        who = "Reporter" if message.from_reporter else "Reviewer"
        lines.append(f"[{message.sent_on.isoformat()}] {who}: {body.text}")
    return "\n".join(lines)
