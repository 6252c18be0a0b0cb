"""What every reviewer action needs: the actor, the request context and the errors it may raise."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from portal.config import Settings
from portal.crypto.keys import RecipientPrivateKey
from portal.triage.models import Reviewer, Role


class NotFound(Exception):
    """No such report, or not one this reviewer may read (indistinguishable on purpose)."""


class Forbidden(Exception):
    """The actor's role does not allow this action."""


class ActionError(Exception):
    """The action cannot be done as asked; the message is safe to show."""


@dataclass
class Actor:
    reviewer: Reviewer
    private_key: RecipientPrivateKey

    @property
    def role(self) -> Role:
        return Role(self.reviewer.role)

    @property
    def is_lead(self) -> bool:
        return self.role in (Role.LEAD, Role.ADMINISTRATOR)


@dataclass
class Context:
    """What every action needs besides the actor."""

    db: Session
    settings: Settings
    audit_key: bytes
    blind_index_key: bytes
