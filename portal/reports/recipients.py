"""Who a new report is sealed to: the intake reviewers, the independent body, the recovery key(s),
and the screening key.

Reviewers' wraps and the independent body's are held (sealed to the screening key) until
screening releases them: the reviewers' for a report that stays with this force, the body's alone
for one routed to it (portal.triage.routing). The recovery key's wrap is stored as it is, so
break-glass recovery never depends on screening. A reporter who chooses "only the independent
body" has their report sealed to the body and the recovery key, and to no reviewer at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.crypto.keys import RecipientPublicKey
from portal.referrals.bodies import BodyKey, body_key, independent_body
from portal.triage.models import RecoveryKey, Reviewer, ScreeningKey

REVIEWER, BODY, RECOVERY = "reviewer", "body", "recovery"
NO_INDEPENDENT_BODY = lazy_gettext(
    "This report cannot be sent only to the independent body just now: the portal has no key for it. "
    "Nothing was sent. Untick that choice to send it to this force's reviewers, or try again later.")


@dataclass
class Recipient:
    fingerprint: str
    public_key: RecipientPublicKey
    held: bool = True  # a reviewer or the body: the wrap waits for screening (False: the recovery key)
    kind: str = REVIEWER  # REVIEWER, BODY or RECOVERY (published in /keys.json for the browser)


@dataclass(frozen=True)
class IndependentBody:
    """The body reports about senior officers go to, with its registered key (None: not registered)."""

    slug: str
    name: str
    key: BodyKey | None


def independent(db: Session, settings: Settings) -> IndependentBody | None:
    """The configured independent body (config/bodies.toml) and its active key, if one is registered."""
    body = independent_body(settings)
    if body is None:
        return None
    return IndependentBody(body.slug, body.name, body_key(db, body.slug))


def intake_recipients(db: Session, body: IndependentBody | None = None, *, only_independent: bool = False) -> list[Recipient]:
    """Who a new report is wrapped to: the intake reviewers, the independent body (when its key is
    registered) and the recovery key(s); with `only_independent`, the body and the recovery key(s)."""
    recovery = db.execute(select(RecoveryKey.fingerprint, RecoveryKey.public_key).where(RecoveryKey.active.is_(True))).all()
    out = [] if only_independent else [Recipient(fp, RecipientPublicKey.from_bytes(pk)) for fp, pk in db.execute(
        select(Reviewer.key_fingerprint, Reviewer.public_key).where(Reviewer.active.is_(True), Reviewer.receives_new_reports.is_(True))).all()]
    if body is not None and body.key is not None:
        out.append(Recipient(body.key.fingerprint, RecipientPublicKey.from_bytes(body.key.public_key), kind=BODY))
    return out + [Recipient(fp, RecipientPublicKey.from_bytes(pk), held=False, kind=RECOVERY) for fp, pk in recovery]


def screening_key(db: Session) -> Recipient | None:
    """The screening key the triage host published (portal.triage.screening.publish_key), if any."""
    row = db.execute(select(ScreeningKey.fingerprint, ScreeningKey.public_key).where(ScreeningKey.active.is_(True))
                     .order_by(ScreeningKey.id.desc()).limit(1)).first()
    return None if row is None else Recipient(row[0], RecipientPublicKey.from_bytes(row[1]), held=False, kind="screening")
