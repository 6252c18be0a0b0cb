"""Whether a report is high-risk, from everything anyone ever said about it; recorded for good.

The second-approval rule (portal.triage.closure) must rest on history, not on labels a handler can
change: a reviewer who recategorises a report as "other" and clears its flags must not thereby
close it alone. So `note_high_risk` is called on every change that can make a report high-risk
(a categorisation, a reviewer opening it, a proposed closure) and sets the sticky
`Report.ever_high_risk`, which nothing clears. "Anyone" is the reporter (their own category,
"someone at risk now", "a vulnerable person or child involved") and every reviewer (a high-risk
category or risk flag in config/taxonomy.toml).
"""

from __future__ import annotations

from portal.config import Taxonomy
from portal.reports.answers import ReportAnswers
from portal.reports.models import Report


def high_risk_reasons(taxonomy: Taxonomy, report: Report, answers: ReportAnswers | None) -> list[str]:
    """Why the report is high-risk now (empty: it is not, by what is at hand)."""
    reasons = []
    if report.category in taxonomy.high_risk_categories:
        reasons.append("category")
    if taxonomy.high_risk_flags & set(filter(None, report.risk_flags.split(","))):
        reasons.append("risk-flag")
    if report.reporter_urgent or (answers is not None and answers.risk_now == "yes"):
        reasons.append("reporter-risk-now")
    if answers is not None and answers.vulnerable_person == "yes":
        reasons.append("reporter-vulnerable-person")
    if answers is not None and answers.category in taxonomy.high_risk_categories:
        reasons.append("reporter-category")
    return reasons


def note_high_risk(taxonomy: Taxonomy, report: Report, answers: ReportAnswers | None) -> bool:
    """Set the sticky flag if the report is high-risk now; True when it is, or ever was."""
    if not report.ever_high_risk and high_risk_reasons(taxonomy, report, answers):
        report.ever_high_risk = True
    return bool(report.ever_high_risk)
