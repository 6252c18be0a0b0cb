"""The integrity check every report open makes on the triage host, and what a failure looks like.

`check` runs after the reviewer's (or the recovery key's) wrap was opened and before any content is:
a failed check is audited as `report.altered`, with what failed, and the caller shows the report as
altered instead of its content (docs/crypto.md, "Integrity"; docs/threat-model.md).
"""

from __future__ import annotations

from flask_babel import lazy_gettext

from portal.config import Settings
from portal.crypto.integrity import triage_binding_key
from portal.instance import read_signer_pin
from portal.reports.integrity import Checker, Problem, Verdict, verify_report
from portal.reports.models import Report
from portal.triage import audit

# What each failed check means, for the reviewer who sees it (a key per Problem.code).
PROBLEMS = {
    "key": lazy_gettext("The report's key is not the key it was received with: the report was re-encrypted, "
                        "or a different key was wrapped to you."),
    "report-signature": lazy_gettext("The report's signature does not match: its text, its files or the day it "
                                     "was received were changed."),
    "report-unsigned": lazy_gettext("The report has no signature, but it was received after reports were signed."),
    "no-pin": lazy_gettext("This triage host has no pinned key for the reporter host, so no signature can be "
                           "checked (portal keys pin-report-signer)."),
    "message": lazy_gettext("Message %(position)s does not match its signature: its text, author, position, "
                            "day or files were changed."),
    "order": lazy_gettext("The messages' positions were changed (repeated or removed)."),
    "missing": lazy_gettext("Message %(position)s is missing: it was deleted or withheld."),
    "note": lazy_gettext("An internal note does not match its binding: its text or author was changed."),
}


def describe(problem: Problem) -> str:
    return str(PROBLEMS[problem.code]) % {"position": problem.position}


def checker(settings: Settings, audit_key: bytes) -> Checker:
    return Checker(read_signer_pin(settings.instance_dir), triage_binding_key(audit_key))


def check(db, settings: Settings, audit_key: bytes, actor: str, report: Report, dek: bytes) -> Verdict:  # noqa: ANN001
    """Verify one report as it is opened; audit a failure (`report.altered`, with the failed checks)."""
    verdict = verify_report(report, dek, checker(settings, audit_key))
    if verdict.altered:
        audit.record(db, audit_key, actor, "report.altered", report.reference,
                     failed=sorted({p.code for p in verdict.problems}),
                     messages=sorted({p.position for p in verdict.problems if p.position is not None}))
    return verdict
