"""The reviewers' workflow vocabulary: stages, escalation routes, outcomes and priorities.

Each is a StrEnum whose values are what the database stores and what forms and URLs carry
(members compare equal to those strings, so templates and stored rows need no change), with
the label reviewers read. Defined once, here, at the bottom of the domain layer: the report
model, the services, the forms and the templates all read it, so it imports nothing from the
portal.
"""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l


class _Labelled(enum.StrEnum):
    """A stored value with the label shown for it."""

    label: str  # a lazy gettext string: the reader's language wherever it is shown

    def __new__(cls, value: str, label: str) -> _Labelled:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def labels(cls) -> dict[str, str]:
        """{value: label} in definition order, for select lists and template look-ups."""
        return {member: member.label for member in cls}


class Stage(_Labelled):
    """Where a report is in the reviewers' workflow (the reporter sees a coarser ReportStatus)."""

    NEW = "new", _l("New")
    ASSESSING = "assessing", _l("Being assessed")
    ESCALATED = "escalated", _l("Escalated")
    CLOSURE_PENDING = "closure-pending", _l("Closure awaiting approval")
    CLOSED = "closed", _l("Closed")


class Route(_Labelled):
    """Where a report is escalated to. `investigation`: the reporter is told it was referred for
    investigation (management action is not an investigation)."""

    investigation: bool

    def __new__(cls, value: str, label: str, investigation: bool) -> Route:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label, member.investigation = label, investigation
        return member

    PROFESSIONAL_STANDARDS = "professional-standards", _l("Professional standards investigation"), True
    ANTI_CORRUPTION = "anti-corruption", _l("Anti-corruption unit (covert enquiries)"), True
    EXTERNAL_OVERSIGHT = "external-oversight", _l("Referral to the external oversight body"), True
    CRIMINAL_INVESTIGATION = "criminal-investigation", _l("Criminal investigation"), True
    SAFEGUARDING = "safeguarding", _l("Immediate safeguarding referral"), True
    MANAGEMENT_ACTION = "management-action", _l("Management action or learning"), False


class Outcome(_Labelled):
    """How a closed report ended."""

    ACTION_TAKEN = "action-taken", _l("Action taken (misconduct, criminal or management outcome)")
    REFERRED_ELSEWHERE = "referred-elsewhere", _l("Referred to another body, which now leads")
    NO_FURTHER_ACTION = "no-further-action", _l("No further action")


class Priority(_Labelled):
    """In ascending order of urgency: the order is the rank the queue sorts on."""

    NORMAL = "normal", _l("Normal")
    HIGH = "high", _l("High")
    URGENT = "urgent", _l("Urgent")


# Reviewers' roles (portal.triage.models.Role values), as shown to people.
ROLES = {"reviewer": _l("Reviewer"), "lead": _l("Lead reviewer"), "administrator": _l("Administrator")}

# {value: label} maps, as the forms' choices and the templates read them.
STAGES = Stage.labels()
ROUTES = Route.labels()
OUTCOMES = Outcome.labels()
PRIORITIES = Priority.labels()

# Escalation routes the reporter sees as "referred for investigation".
INVESTIGATION_ROUTES = frozenset(route for route in Route if route.investigation)
# The rank is stored beside the priority so the queue can sort on an index.
PRIORITY_RANK = {priority: rank for rank, priority in enumerate(Priority)}
