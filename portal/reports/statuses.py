"""What each status and outcome means, in plain words, for the reporter: the one place for this wording.

The reporter sees a deliberately coarse status (portal.reports.models.ReportStatus) and, once
the report is closed, how it ended (portal.triage.vocabulary.Outcome). Each gets a short title
and an explanation that says what happens next and, where a reporter may fear it, what it means
for their anonymity. Closed reports still accept new information (it is marked "new after
closure" for the reviewers), and the closed wording says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from portal.reports.models import Report, ReportStatus
from portal.triage.vocabulary import Outcome


@dataclass(frozen=True)
class StatusText:
    key: str  # stable: CSS class and tests
    title: str
    explanation: str
    next_step: str  # what the reporter can still do


_ADD_INFORMATION = _l("You can still send a message or add information below. Reviewers read everything you send.")
_AFTER_CLOSURE = _l(
    "You can still add new information below. The report stays closed, but a reviewer reads what you send and "
    "decides whether it changes the outcome; if it does, they reopen the report.")

_BY_STATUS = {
    ReportStatus.RECEIVED: (
        _l("Received"),
        _l("Your report has arrived safely and is waiting for a reviewer. A reviewer acknowledges every report "
           "within 7 days and then assesses it."),
        _ADD_INFORMATION),
    ReportStatus.ASSESSING: (
        _l("Being assessed"),
        _l("A reviewer is reading your report and deciding what should happen next. They may ask you questions "
           "here: check back with your code."),
        _ADD_INFORMATION),
    ReportStatus.REFERRED: (
        _l("Referred for investigation"),
        _l("Your report has been passed to the people who investigate concerns like this, such as the "
           "professional standards or anti-corruption team, the independent oversight body, or safeguarding. "
           "This does not identify you: they receive what you reported, not who you are, and your receipt code "
           "stays the only link to you. You decide whether to tell anyone more."),
        _ADD_INFORMATION),
    ReportStatus.REFERRED_TO_BODY: (
        _l("Referred to an independent body"),
        _l("The reviewers have passed your report to an independent body, such as the Independent Office for Police "
           "Conduct (IOPC), which now decides what happens next and may investigate itself. What it received is "
           "encrypted so that only that body can open it: what you wrote, your messages, and the files and reviewers' "
           "notes chosen for it. Your anonymity does not change: the portal does not know who you are, so it cannot "
           "pass on your name or any way to contact you. The body reads only what you wrote and attached: if your own "
           "words or files could identify you, the body can read them, as the reviewers could."),
        _l("Keep your receipt code. You can still send a message or add information below: the body cannot contact "
           "you directly, so any questions it has reach you here, through the reviewers.")),    ReportStatus.ROUTED: (
        _l("Sent to the independent body"),
        _l("Your report was sent only to the independent body, such as the Independent Office for Police Conduct "
           "(IOPC), because you asked for that or because it is about someone senior to the force's own reviewers. "
           "It was encrypted so that only that body can open it: nobody in the force's professional standards "
           "department can read it. The body decides what happens next. Your anonymity does not change: the portal "
           "does not know who you are."),
        _l("Keep your receipt code. You can still send a message or add information below: only the independent "
           "body can read it.")),
}

_BY_OUTCOME = {
    Outcome.ACTION_TAKEN: (
        _l("Closed: action taken"),
        _l("The reviewers have finished with your report and action was taken: this can be a misconduct or "
           "criminal process, or management action. For the privacy of the people involved, we cannot tell "
           "you the details.")),
    Outcome.REFERRED_ELSEWHERE: (
        _l("Closed: passed to another organisation"),
        _l("Your report was passed to another organisation, which now leads on it, and it is closed here. They "
           "receive what you reported, not who you are.")),
    Outcome.NO_FURTHER_ACTION: (
        _l("Closed: no further action"),
        _l("The reviewers assessed your report carefully and decided that no further action can be taken on "
           "what is known now. This does not mean you were not believed. It will be seen again if someone "
           "raises a concern about the same person.")),
}

_CLOSED = (_l("Closed"), _l("The reviewers have finished working on your report and it is closed. For the privacy of "
                            "the people involved, we cannot tell you more about the outcome."))


def status_text(status: ReportStatus, outcome: str | None = None) -> StatusText:
    """The plain words for a status (and, when closed, its outcome)."""
    if status == ReportStatus.CLOSED:
        known = outcome in _BY_OUTCOME
        title, explanation = _BY_OUTCOME[outcome] if known else _CLOSED
        key = f"closed-{outcome}" if known else "closed"
        return StatusText(key, str(title), str(explanation), str(_AFTER_CLOSURE))
    title, explanation, next_step = _BY_STATUS[status]
    return StatusText(status.value, str(title), str(explanation), str(next_step))


def report_status(report: Report) -> StatusText:
    """What the reporter is told about `report` (an outcome awaiting approval is not shown yet)."""
    return status_text(report.status_for_reporter, report.outcome_for_reporter)


def every_status() -> list[StatusText]:
    """Every wording a reporter can see: the status page tests and translators read this list."""
    return ([status_text(s) for s in ReportStatus if s != ReportStatus.CLOSED]
            + [status_text(ReportStatus.CLOSED, o.value) for o in Outcome] + [status_text(ReportStatus.CLOSED)])
