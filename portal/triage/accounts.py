"""Reviewer accounts: creation, passphrase policy, TOTP secrets, recovery keys.

Used by the CLI (`portal reviewer add`, `portal init --dev`), the admin pages
and the tests alike.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from functools import lru_cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn

from portal.crypto import kdf
from portal.crypto.envelope import open_with_key, seal_with_key
from portal.crypto.keys import RecipientPrivateKey, lock_private_key, unwrap_dek, wrap_dek
from portal.crypto.receipt import wordlist
from portal.reports.models import KeyWrap, Report
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


class AccountError(Exception):
    """A message safe to show to the administrator."""


def passphrase_problem(passphrase: str, user_inputs: tuple[str, ...] = ()) -> str | None:
    """Why a passphrase is refused, in words a person can act on; None if it is acceptable."""
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        return f"Use at least {MIN_PASSPHRASE_CHARS} characters. Several unrelated words make a strong passphrase."
    if len(passphrase) > MAX_PASSPHRASE_CHARS:
        return f"Use at most {MAX_PASSPHRASE_CHARS} characters."
    result = zxcvbn(passphrase[:100], user_inputs=list(user_inputs))
    if result["score"] < MIN_STRENGTH:
        hint = (result.get("feedback") or {}).get("warning") or "It would be easy to guess."
        return f"This passphrase is too easy to guess: {hint.rstrip('.')}. Add more unrelated words."
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
    login = login.strip().lower()
    if not login or len(login) > 64 or not all(c.isalnum() or c in "._-" for c in login):
        raise AccountError("A login is 1 to 64 letters, digits, dots, hyphens or underscores.")
    if db.scalar(select(Reviewer.id).where(Reviewer.login == login)) is not None:
        raise AccountError("That login is already in use.")
    problem = passphrase_problem(passphrase, (login, display_name))
    if problem:
        raise AccountError(problem)
    totp_secret = pyotp.random_base32()
    reviewer = Reviewer(
        login=login,
        display_name=display_name.strip()[:120] or login,
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


EMAIL_SHAPE = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}")


def update_settings(reviewer: Reviewer, email: str, receives_new_reports: bool) -> list[str]:
    """The e-mail address for the content-free digest, and membership of the intake pool (wrapped to
    on every new report from now on; reports already received are granted by a lead). Returns the
    names of the settings that changed."""
    email = (email or "").strip()
    if email and not EMAIL_SHAPE.fullmatch(email):
        raise AccountError("Enter an e-mail address like name@force.example, or leave it empty.")
    if receives_new_reports and reviewer.role == Role.ADMINISTRATOR:
        raise AccountError("Administrators manage accounts and never receive reports.")
    if receives_new_reports and not reviewer.active:
        raise AccountError("A deactivated account cannot receive reports.")
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


def register_recovery_key(db: Session, private: RecipientPrivateKey) -> RecoveryKey:
    """Store the public half; the caller takes the private half offline."""
    public = private.public_key()
    key = RecoveryKey(fingerprint=public.fingerprint, public_key=public.to_bytes(), active=True)
    db.add(key)
    db.flush()
    return key
