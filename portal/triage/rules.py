"""Rules (config/rules.toml) that raise a report's priority and say why.

Re-evaluated whenever what they read changes: the report's categorisation, its subjects, the
reports linked to it, a conflict declaration naming its subjects. `rule_reasons` keeps the keys
that fired, so the report page explains the priority and suggests a route.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache

from sqlalchemy import exists, select

from portal.config import CONFIG_DIR
from portal.reports.answers import ReportAnswers
from portal.reports.models import Report, SubjectIndex
from portal.triage.context import Context
from portal.triage.links import pattern_links
from portal.triage.models import Conflict
from portal.triage.subjects import SAME_KINDS
from portal.triage.vocabulary import PRIORITY_RANK, Priority


@lru_cache(maxsize=1)
def rules() -> dict:
    return tomllib.loads((CONFIG_DIR / "rules.toml").read_text("utf-8"))


def rule_explanations(report: Report) -> list[tuple[str, str, str]]:
    """(rule key, explanation, suggested route) for each rule that fired on this report."""
    out = []
    for key in filter(None, report.rule_reasons.split(",")):
        rule = rules().get(key, {})
        out.append((key, rule.get("explain", key), rule.get("suggest", "")))
    return out


def refresh_flags(ctx: Context, report: Report, answers: ReportAnswers | None) -> None:
    """Recompute which rules fire; raise the priority when a rule newly fires.

    `answers` is None when the report's content is not at hand: rules that need
    it keep their previous state.
    """
    config = rules()
    own = select(Conflict.id).where(
        Conflict.own_identity.is_(True),
        Conflict.kind.in_(SAME_KINDS),  # a "possible" match hides it from that reviewer only (conflicts.visible)
        exists(select(SubjectIndex.id).where(SubjectIndex.report_id == report.id, SubjectIndex.removed.is_(False),
                                             SubjectIndex.kind == Conflict.kind, SubjectIndex.value == Conflict.value)),
    )
    report.names_reviewer = ctx.db.scalar(select(exists(own))) or False
    fired = set(filter(None, report.rule_reasons.split(",")))
    previous = set(fired)

    min_reports = int(config.get("repeat_subject", {}).get("min_reports", 2))
    linked = pattern_links(ctx.db, report, enough=min_reports - 1)
    _set(fired, "repeat_subject", linked + 1 >= min_reports)
    flags = set(filter(None, report.risk_flags.split(",")))
    _set(fired, "risk_now", report.reporter_urgent or "ongoing-risk" in flags)
    _set(fired, "names_reviewer", report.names_reviewer)
    rule = config.get("sexual_misconduct_vulnerable", {})
    if answers is not None or "vulnerable-victim" in flags:
        vulnerable = "vulnerable-victim" in flags or (answers is not None and answers.vulnerable_person == "yes")
        _set(fired, "sexual_misconduct_vulnerable", report.category in rule.get("categories", []) and vulnerable)
    elif report.category not in rule.get("categories", []):
        fired.discard("sexual_misconduct_vulnerable")

    for key in fired - previous:
        wanted = config.get(key, {}).get("priority", Priority.NORMAL)
        if PRIORITY_RANK.get(wanted, 0) > PRIORITY_RANK.get(report.priority, 0):
            report.priority = wanted
    report.rule_reasons = ",".join(sorted(fired))


def _set(fired: set[str], key: str, condition: bool) -> None:
    if condition:
        fired.add(key)
    else:
        fired.discard(key)
