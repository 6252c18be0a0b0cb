"""What every reviewer action needs: the actor, the request context and the errors it may raise."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.crypto.keys import RecipientPrivateKey
from portal.triage.models import Reviewer, Role


class NotFound(Exception):
    """No such report, or not one this reviewer may read (indistinguishable on purpose).

    `keep_changes`: what was written before it is committed all the same (a report found
    hidden from this reviewer only once its subjects were indexed: the index must stay).
    """

    def __init__(self, *args, keep_changes: bool = False) -> None:
        super().__init__(*args)
        self.keep_changes = keep_changes


class Forbidden(Exception):
    """The actor's role does not allow this action."""


class ActionError(Exception):
    """The action cannot be done as asked; the message is safe to show."""


# Each role may do what the roles before it may.
_RANK = {Role.REVIEWER: 0, Role.LEAD: 1, Role.ADMINISTRATOR: 2}


@dataclass
class Actor:
    reviewer: Reviewer
    private_key: RecipientPrivateKey

    @property
    def role(self) -> Role:
        return Role(self.reviewer.role)

    def holds(self, role: Role) -> bool:
        """True when the actor's role is `role` or one above it (an administrator holds LEAD)."""
        return _RANK[self.role] >= _RANK[role]

    @property
    def is_lead(self) -> bool:
        return self.holds(Role.LEAD)


def require_role(actor: Actor, role: Role, message: str | None = None) -> None:
    """Raise Forbidden(message) unless the actor holds `role`."""
    if not actor.holds(role):
        raise Forbidden(message or _("Your role does not allow this."))


@dataclass
class Context:
    """What every action needs besides the actor."""

    db: Session
    settings: Settings
    audit_key: bytes
    blind_index_key: bytes


def small_int(value: str | None) -> int | None:
    """An id, page number or cursor part sent by the client, or None. ASCII digits only ("²".isdigit()
    is True but int("²") fails) and at most 9 of them (SQLite cannot bind a larger Python int)."""
    value = value or ""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None
