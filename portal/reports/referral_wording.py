"""What the reporter reads when their report was referred to an independent body (the status
`ReportStatus.REFERRED_TO_BODY`), in plain words: what happened, and what it means for their
anonymity. Kept in one place for both case pages (with and without JavaScript); it belongs with
the other statuses' wording (portal.reports.statuses) once that module exists."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from portal.reports.models import ReportStatus

REFERRED_TO_BODY_EXPLANATION = (
    _l("The reviewers have passed your report to an independent body, such as the Independent Office for Police "
       "Conduct (IOPC). That body now decides what happens next, and may investigate itself."),
    _l("What it received is encrypted so that only that body can open it: what you wrote, your messages, and the files "
       "and reviewers' notes chosen for it."),
    _l("Your anonymity does not change. The portal does not know who you are, so it cannot pass on your name or any "
       "way to contact you. The body reads only what you wrote and attached: if your own words or files could identify "
       "you, the body can read them, as the reviewers could."),
    _l("Keep your receipt code. You can still sign in here, read messages and reply. The body cannot contact you "
       "directly: any questions it has reach you here, through the reviewers."),
)


def status_explanation(status: ReportStatus) -> tuple[str, ...]:
    """Paragraphs explaining `status` to the reporter (empty for the statuses whose label says it all)."""
    return REFERRED_TO_BODY_EXPLANATION if status == ReportStatus.REFERRED_TO_BODY else ()
