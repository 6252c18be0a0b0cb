"""Reviewer accounts: creation, passphrase policy, TOTP secrets, recovery keys.

The building blocks take a database session (the CLI's `portal reviewer add` and
`portal init --dev` use them); the account and administration actions at the end
take an actor, check its role and write the audit entry, as every service does.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from functools import lru_cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn

from portal.crypto import kdf
from portal.crypto.envelope import open_with_key, seal_with_key
from portal.crypto.keys import RecipientPrivateKey, RecipientPublicKey, change_passphrase, lock_private_key, unwrap_dek, wrap_dek
from portal.crypto.receipt import wordlist
from portal.i18n import DEFAULT_LANGUAGE, current_language
from portal.reports.models import KeyWrap, Report
from portal.sessions import end_reviewer_sessions
from portal.triage import audit, conflicts
from portal.triage.context import ActionError, Actor, Context, Forbidden, NotFound, require_role
from portal.triage.identities import comparable, normalise_display_name, normalise_login
from portal.triage.internal import rewrap_internal_key
from portal.triage.models import Conflict, RecoveryKey, Reviewer, Role
from portal.triage.subjects import subject_values

MIN_PASSPHRASE_CHARS = 12
MAX_PASSPHRASE_CHARS = 256
MIN_STRENGTH = 3  # zxcvbn score 0..4


def password_hasher() -> PasswordHasher:
    params = kdf.PASSPHRASE_ARGON2
    return PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib, parallelism=params.parallelism)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of a passphrase nobody knows: checked when the login is unknown,
    so an unknown login costs the same time as a wrong passphrase."""
    return password_hasher().hash(secrets.token_urlsafe(32))


class AccountError(ActionError):
    """A message safe to show to the administrator."""


def passphrase_problem(passphrase: str, user_inputs: tuple[str, ...] = ()) -> str | None:
    """Why a passphrase is refused, in words a person can act on; None if it is acceptable."""
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        return _("Use at least %(count)s characters. Several unrelated words make a strong passphrase.", count=MIN_PASSPHRASE_CHARS)
    if len(passphrase) > MAX_PASSPHRASE_CHARS:
        return _("Use at most %(count)s characters.", count=MAX_PASSPHRASE_CHARS)
    result = zxcvbn(passphrase[:100], user_inputs=list(user_inputs))
    if result["score"] < MIN_STRENGTH:
        hint = (result.get("feedback") or {}).get("warning")  # zxcvbn's hints are in English only
        if hint and current_language() == DEFAULT_LANGUAGE:
            return _("This passphrase is too easy to guess: %(hint)s. Add more unrelated words.", hint=hint.rstrip("."))
        return _("This passphrase is too easy to guess. Add more unrelated words.")
    return None


def generate_passphrase(words: int = 6) -> str:
    return "-".join(secrets.choice(wordlist()) for _ in range(words))


def totp_context(login: str) -> bytes:
    return b"portal/v1/totp:" + login.encode("utf-8")


def seal_totp_secret(totp_key: bytes, login: str, secret: str) -> bytes:
    return seal_with_key(totp_key, secret.encode("ascii"), totp_context(login))


def open_totp_secret(totp_key: bytes, reviewer: Reviewer) -> str:
    return open_with_key(totp_key, reviewer.sealed_totp_secret, totp_context(reviewer.login)).decode("ascii")


def verify_passphrase(reviewer: Reviewer | None, passphrase: str) -> bool:
    """Constant work whether or not the reviewer exists."""
    try:
        return password_hasher().verify(reviewer.passphrase_hash if reviewer else _dummy_hash(), passphrase) and reviewer is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass
class NewReviewer:
    reviewer: Reviewer
    totp_secret: str


def create_reviewer(
    db: Session,
    totp_key: bytes,
    *,
    login: str,
    display_name: str,
    role: Role,
    passphrase: str,
    receives_new_reports: bool = True,
    blind_index_key: bytes | None = None,
    must_change_passphrase: bool = False,
) -> NewReviewer:
    try:
        login = normalise_login(login)
        display_name = normalise_display_name(display_name or login)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    check_distinct(db, login, display_name)
    problem = passphrase_problem(passphrase, (login, display_name))
    if problem:
        raise AccountError(problem)
    totp_secret = pyotp.random_base32()
    reviewer = Reviewer(
        login=login,
        display_name=display_name,
        login_skeleton=comparable(login),
        name_skeleton=comparable(display_name),
        role=role.value,
        active=True,
        receives_new_reports=receives_new_reports and role != Role.ADMINISTRATOR,
        passphrase_hash=password_hasher().hash(passphrase),
        sealed_totp_secret=seal_totp_secret(totp_key, login, totp_secret),
        totp_enrolled=False,
        last_totp_step=0,
        must_change_passphrase=must_change_passphrase,
    )
    _new_key_pair(reviewer, passphrase)
    db.add(reviewer)
    db.flush()
    if blind_index_key is not None:
        # Reports naming this reviewer are never shown to them (and go to leads only).
        for kind, value in subject_values(blind_index_key, reviewer.display_name, ""):
            db.add(Conflict(reviewer_id=reviewer.id, kind=kind, value=value, own_identity=True))
        db.flush()
    return NewReviewer(reviewer, totp_secret)


def check_distinct(db: Session, login: str, display_name: str) -> None:
    """Refuse a login or display name that is, or looks like, another account's (UTS #39 skeletons;
    deactivated accounts count too: their names are in the history)."""
    if db.scalar(select(Reviewer.id).where(Reviewer.login == login)) is not None:
        raise AccountError(_("That login is already in use."))
    login_skeleton = comparable(login)
    taken = db.scalar(select(Reviewer.login).where(
        (Reviewer.login_skeleton == login_skeleton) | (Reviewer.name_skeleton == login_skeleton)).limit(1))
    if taken is not None:
        raise AccountError(_("That login looks too much like the existing account %(login)s. Choose a clearly different one.",
                             login=taken))
    name_skeleton = comparable(display_name)
    taken = db.scalar(select(Reviewer.login).where(
        (Reviewer.name_skeleton == name_skeleton) | (Reviewer.login_skeleton == name_skeleton)).limit(1))
    if taken is not None:
        raise AccountError(_("That name is the same as, or looks like, the name of the existing account %(login)s. "
                             "Add a middle initial or a unit to tell them apart.", login=taken))


EMAIL_SHAPE = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}")


def update_settings(reviewer: Reviewer, email: str, receives_new_reports: bool) -> list[str]:
    """The e-mail address for the content-free digest, and membership of the intake pool (wrapped to
    on every new report from now on; reports already received are granted by a lead). Returns the
    names of the settings that changed."""
    email = (email or "").strip()
    if email and not EMAIL_SHAPE.fullmatch(email):
        raise AccountError(_("Enter an e-mail address like name@force.example, or leave it empty."))
    if receives_new_reports and reviewer.role == Role.ADMINISTRATOR:
        raise AccountError(_("Administrators manage accounts and never receive reports."))
    if receives_new_reports and not reviewer.active:
        raise AccountError(_("A deactivated account cannot receive reports."))
    changed = []
    if (reviewer.email or "") != email:
        reviewer.email = email or None
        changed.append("email")
    if reviewer.receives_new_reports != receives_new_reports:
        reviewer.receives_new_reports = receives_new_reports
        changed.append("intake")
    return changed


def reset_sign_in(db: Session, totp_key: bytes, reviewer: Reviewer, passphrase: str) -> int:
    """A reviewer who lost their passphrase or authenticator: a new key pair locked under a
    temporary passphrase, a new TOTP secret to enrol, the passphrase to be changed at first
    sign-in. The old private key is locked under a passphrase nobody knows, so the wraps to it
    are deleted: a lead grants access again. Returns how many wraps were removed. (The reviewer
    reads the new TOTP secret off the enrolment page at their next sign-in.)"""
    removed = db.execute(delete(KeyWrap).where(KeyWrap.recipient_fingerprint == reviewer.key_fingerprint)).rowcount or 0
    _new_key_pair(reviewer, passphrase)  # the new fingerprint also ends every session of the old key (auth.current_actor)
    totp_secret = pyotp.random_base32()
    reviewer.passphrase_hash = password_hasher().hash(passphrase)
    reviewer.sealed_totp_secret = seal_totp_secret(totp_key, reviewer.login, totp_secret)
    reviewer.totp_enrolled = False
    reviewer.last_totp_step = 0
    reviewer.must_change_passphrase = True
    reviewer.sealed_conflict_labels = None  # sealed under the old key; the declarations themselves still apply
    db.flush()
    return removed


def replace_key_pair(db: Session, reviewer: Reviewer, old_private: RecipientPrivateKey, passphrase: str) -> RecipientPrivateKey:
    """A new key pair under the reviewer's own passphrase, with every report key re-wrapped to it
    (in this session, from the old private key): whoever chose the previous passphrase can no
    longer open anything with it. Returns the new private key."""
    rows = db.execute(
        select(KeyWrap, Report.public_id).join(Report, Report.id == KeyWrap.report_id)
        .where(KeyWrap.recipient_fingerprint == reviewer.key_fingerprint)
    ).all()
    private = _new_key_pair(reviewer, passphrase)
    public = private.public_key()
    for wrap, report_public_id in rows:
        dek = unwrap_dek(wrap.wrap, old_private, report_public_id)
        wrap.wrap = wrap_dek(dek, public, report_public_id)
        if wrap.internal_wrap is not None:
            wrap.internal_wrap = rewrap_internal_key(wrap.internal_wrap, old_private, public, report_public_id)
        wrap.recipient_fingerprint = public.fingerprint
    db.flush()
    return private


def _new_key_pair(reviewer: Reviewer, passphrase: str) -> RecipientPrivateKey:
    """Give the reviewer a fresh key pair, the private half locked under `passphrase`."""
    private = RecipientPrivateKey.generate()
    public = private.public_key()
    reviewer.locked_private_key = lock_private_key(private, passphrase)
    reviewer.public_key = public.to_bytes()
    reviewer.key_fingerprint = public.fingerprint
    return private


def register_recovery_key(db: Session, key: RecipientPublicKey | RecipientPrivateKey) -> RecoveryKey:
    """Store the public half (`portal keys ceremony`; a development instance passes its private key)."""
    public = key.public_key() if isinstance(key, RecipientPrivateKey) else key
    key = RecoveryKey(fingerprint=public.fingerprint, public_key=public.to_bytes(), active=True)
    db.add(key)
    db.flush()
    return key


# -- a reviewer's own account ------------------------------------------------------------


def set_own_passphrase(ctx: Context, actor: Actor, current: str, new: str) -> RecipientPrivateKey | None:
    """Replace the actor's passphrase (the caller has checked `current` and the policy).

    A passphrase someone else chose is replaced together with the key pair, every report key
    re-wrapped to the new one, so whoever chose it cannot open anything with it: the new private
    key is returned (the session must change to it). Otherwise the same key is re-locked: None.
    """
    reviewer = actor.reviewer
    reviewer.passphrase_hash = password_hasher().hash(new)
    if reviewer.must_change_passphrase:
        old_fingerprint = reviewer.key_fingerprint
        private = replace_key_pair(ctx.db, reviewer, actor.private_key, new)
        reviewer.must_change_passphrase = False
        audit.record(ctx.db, ctx.audit_key, reviewer.login, "reviewer.passphrase-chosen",
                     previous_key=old_fingerprint, new_key=reviewer.key_fingerprint)
        return private
    reviewer.locked_private_key = change_passphrase(reviewer.locked_private_key, current, new)
    audit.record(ctx.db, ctx.audit_key, reviewer.login, "reviewer.passphrase-changed")
    return None


# -- administration (leads and administrators) ---------------------------------------------


def check_role_grant(actor: Actor, role: str) -> None:
    """Only an administrator makes another administrator (checked before the rest of the form)."""
    require_role(actor, Role.LEAD)
    if role == Role.ADMINISTRATOR and actor.role != Role.ADMINISTRATOR:
        raise AccountError(_("Only an administrator can create another administrator."))


def add_reviewer(ctx: Context, actor: Actor, totp_key: bytes, *, login: str, display_name: str, role: str,
                 passphrase: str) -> Reviewer:
    """A new account outside the intake pool, whose first passphrase must be replaced at first sign-in."""
    check_role_grant(actor, role)
    new = create_reviewer(ctx.db, totp_key, login=login, display_name=display_name, role=Role(role),
                          passphrase=passphrase, receives_new_reports=False, blind_index_key=ctx.blind_index_key,
                          must_change_passphrase=True)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "reviewer.created",
                 reviewer=new.reviewer.login, role=new.reviewer.role)
    # Reports already stored that name the new reviewer go to leads only, now, not at the next declaration.
    conflicts.apply_to_existing_reports(ctx, subject_values(ctx.blind_index_key, new.reviewer.display_name, ""))
    return new.reviewer


def reviewer_to_manage(ctx: Context, actor: Actor, reviewer_id: int) -> Reviewer:
    require_role(actor, Role.LEAD)
    target = ctx.db.get(Reviewer, reviewer_id)
    if target is None:
        raise NotFound
    return target


def change_settings(ctx: Context, actor: Actor, target: Reviewer, email: str, receives_new_reports: bool) -> list[str]:
    """update_settings, audited when anything changed; returns what changed."""
    require_role(actor, Role.LEAD)
    changed = update_settings(target, email, receives_new_reports)
    if changed:
        audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "reviewer.updated", reviewer=target.login, changed=changed)
    return changed


def reset_reviewer_sign_in(ctx: Context, actor: Actor, totp_key: bytes, reviewer_id: int) -> tuple[Reviewer, str, int]:
    """reset_sign_in with a generated temporary passphrase: (reviewer, that passphrase, wraps removed)."""
    target = reviewer_to_manage(ctx, actor, reviewer_id)
    if not target.active:
        raise NotFound
    if target.id == actor.reviewer.id:
        raise ActionError(_("You cannot reset your own sign-in: ask another lead or an administrator."))
    if target.role == Role.ADMINISTRATOR and actor.role != Role.ADMINISTRATOR:
        raise Forbidden(_("Only an administrator can reset an administrator's sign-in."))
    passphrase = generate_passphrase()
    removed = reset_sign_in(ctx.db, totp_key, target, passphrase)
    end_reviewer_sessions(ctx.db, target.id)  # whoever holds one of their sessions is out, not only the old key
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "reviewer.sign-in-reset", reviewer=target.login,
                 access_removed=removed)
    return target, passphrase, removed


def deactivate_reviewer(ctx: Context, actor: Actor, reviewer_id: int) -> None:
    """Deactivate an account and delete every wrap to its key: it can read nothing any more."""
    require_role(actor, Role.LEAD, _("Only a lead or an administrator can deactivate a reviewer."))
    target = ctx.db.get(Reviewer, reviewer_id)
    if target is None or target.id == actor.reviewer.id:
        raise ActionError(_("Choose another reviewer."))
    if target.role == Role.ADMINISTRATOR and actor.role != Role.ADMINISTRATOR:
        raise Forbidden(_("Only an administrator can deactivate an administrator."))
    target.active = False
    removed = ctx.db.execute(delete(KeyWrap).where(KeyWrap.recipient_fingerprint == target.key_fingerprint)).rowcount
    ctx.db.execute(Report.__table__.update().where(Report.assignee_id == target.id).values(assignee_id=None))
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "reviewer.deactivated", None,
                 reviewer=target.login, wraps_removed=removed)


def end_sessions_of(ctx: Context, actor: Actor, reviewer_id: int) -> tuple[Reviewer, int]:
    """A lead ends every session of another reviewer (a lost laptop, a suspicion); audited."""
    target = reviewer_to_manage(ctx, actor, reviewer_id)
    if target.id == actor.reviewer.id:
        raise ActionError(_("Use \"Sign out everywhere\" on your account page to end your own sessions."))
    if target.role == Role.ADMINISTRATOR and actor.role != Role.ADMINISTRATOR:
        raise Forbidden(_("Only an administrator can end an administrator's sessions."))
    ended = end_reviewer_sessions(ctx.db, target.id)
    audit.record(ctx.db, ctx.audit_key, actor.reviewer.login, "reviewer.sessions-ended", reviewer=target.login, sessions=ended)
    return target, ended
