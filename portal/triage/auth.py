"""Reviewer sign-in: passphrase, then TOTP; the private key lives only in the session.

Step 1 checks the passphrase (Argon2id hash) and derives the key that unlocks the
reviewer's private key (Argon2id KEK), without unlocking it. The KEK goes into a new
server-side session that is sealed under a key held only in the reviewer's cookie
(portal.sessions), marked "second factor pending". Step 2 checks a TOTP code
(enrolling the authenticator on first sign-in) and refuses a code already used;
only then is the private key unlocked, checked against the reviewer's stored public
key, and the pending session replaced with a fresh, fully signed-in one holding the
key (so a session id seen before sign-in is never the one used after it, and a
passphrase without the second factor never yields the key). Failures are counted
per account and per client and answered with one message.

Also here: who is acting in this request (current_actor, request_context), and the
account actions that change the reviewer's session (a new passphrase, signing out).
"""

from __future__ import annotations

import hmac
import time

import pyotp
from flask import Response, current_app, g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from portal import limits, state
from portal.crypto import CryptoError
from portal.crypto.keys import RecipientPrivateKey, locked_key_kek, unlock_private_key, unlock_private_key_with_kek
from portal.triage import audit, throttle
from portal.triage.accounts import open_totp_secret, passphrase_problem, set_own_passphrase, verify_passphrase
from portal.triage.context import ActionError, Actor, Context
from portal.triage.models import Reviewer

LOGIN_FAILED = _l("Sign-in failed. Check your login, passphrase and code, and try again.")
THROTTLED = _l("Too many sign-in attempts for this login from this computer. Wait a minute, then try again: "
               "each further failure makes the wait longer.")
KEY_MISMATCH = _l("Sign-in failed: the key stored for your account is not the one its public key belongs to. "
                  "Nothing was opened. Tell an administrator: the account's key was changed outside the portal.")
STAGE_PENDING = "second-factor"
STAGE_FULL = "signed-in"


def _store():
    return state.server_sessions()


def request_context() -> Context:
    """What the services need besides the actor, for this request."""
    secrets = state.triage_secrets()
    return Context(db=state.db_session(), settings=state.settings(), audit_key=secrets.audit_key,
                   blind_index_key=secrets.blind_index_key)


def set_session_cookie(response: Response, value: str) -> Response:
    return _store().set_cookie(response, value)  # Secure over HTTPS or with the `https` setting


def forget_session_cookie(response: Response) -> Response:
    return _store().forget_cookie(response)


def _keys(login: str) -> throttle.Keys:
    """The counters a sign-in attempt counts against (HMACs: no login or address in clear)."""
    name = login.strip().lower()
    client = limits.client_key()
    return throttle.Keys(pair=limits.opaque_key("login-pair", name, client), client=limits.opaque_key("login-client", client),
                         account=limits.opaque_key("login-account", name))


def throttled(login: str) -> bool:
    """Count this attempt, on the way in, or say it must wait (portal.triage.throttle).

    Checked and counted in one atomic step before the passphrase or code is looked at, so
    concurrent attempts cannot slip in together. A complete sign-in or a passphrase change
    forgives what this client and the account counted (`forgive`).
    """
    return state.SIGN_IN_BACKOFF.get().attempt(_keys(login)) > 0


def forgive(login: str) -> None:
    """Clear the attempts counted for this login from this client, and for the login as a whole
    (and take them off the client's count over every login)."""
    state.SIGN_IN_BACKOFF.get().forgive(_keys(login))


def check_passphrase(login: str, passphrase: str) -> tuple[Reviewer, RecipientPrivateKey] | None:
    reviewer = state.db_session().scalar(select(Reviewer).where(Reviewer.login == login.strip().lower()))
    if not verify_passphrase(reviewer, passphrase) or reviewer is None or not reviewer.active:
        return None
    try:
        return reviewer, unlock_private_key(reviewer.locked_private_key, passphrase)
    except CryptoError:
        return None


def check_passphrase_for_sign_in(login: str, passphrase: str) -> tuple[Reviewer, bytes] | None:
    """Step 1: the reviewer and the key that will unlock their private key after the second factor."""
    reviewer = state.db_session().scalar(select(Reviewer).where(Reviewer.login == login.strip().lower()))
    if not verify_passphrase(reviewer, passphrase) or reviewer is None or not reviewer.active:
        return None
    try:
        return reviewer, locked_key_kek(reviewer.locked_private_key, passphrase)
    except CryptoError:
        return None


def start_pending_session(reviewer: Reviewer, kek: bytes) -> str:
    """A session waiting for the second factor: it holds the unlocking key, never the private key."""
    return _store().create(state.db_session(), {"reviewer": reviewer.id, "stage": STAGE_PENDING, "kek": kek.hex(),
                                                "fingerprint": reviewer.key_fingerprint}, reviewer_id=reviewer.id)


def start_session(reviewer: Reviewer, private: RecipientPrivateKey, stage: str = STAGE_FULL) -> str:
    return _store().create(state.db_session(), {"reviewer": reviewer.id, "stage": stage, "key": private.to_bytes().hex(),
                                   "fingerprint": reviewer.key_fingerprint}, reviewer_id=reviewer.id)


def unlock_after_second_factor(reviewer: Reviewer, payload: dict) -> RecipientPrivateKey | None:
    """The private key, unlocked with the pending session's KEK, if it is the key whose public half the
    account holds (None: the stored locked key was replaced or damaged; the sign-in is refused)."""
    try:
        private = unlock_private_key_with_kek(reviewer.locked_private_key, bytes.fromhex(payload.get("kek", "")))
    except (CryptoError, ValueError):
        return None
    if not hmac.compare_digest(private.public_key().to_bytes(), bytes(reviewer.public_key)):
        return None
    return private


def session_payload() -> dict | None:
    if "session_payload" not in g:
        g.session_payload = _store().load(state.db_session(), _store().cookie())  # committed with the request's transaction
    return g.session_payload


def pending_reviewer() -> Reviewer | None:
    payload = session_payload()
    if not payload or payload.get("stage") != STAGE_PENDING:
        return None
    reviewer = state.db_session().get(Reviewer, payload["reviewer"])
    if reviewer is None or not reviewer.active or payload.get("fingerprint") != reviewer.key_fingerprint:
        return None
    return reviewer


def complete_sign_in(reviewer: Reviewer) -> str | None:
    """The right code was given: the private key is unlocked and checked, the pending session is replaced
    by a fully signed-in one (its cookie value returned), the authenticator counts as enrolled, the counted
    attempts are forgiven. None (audited, the pending session ended): the unlocked key does not match the
    account's public key."""
    store, db = _store(), state.db_session()
    private = unlock_after_second_factor(reviewer, session_payload())
    store.destroy(db, store.cookie())
    if private is None:
        audit.record(db, state.triage_secrets().audit_key, reviewer.login, "reviewer.sign-in-key-mismatch")
        return None
    reviewer.totp_enrolled = True
    cookie = start_session(reviewer, private, STAGE_FULL)
    audit.record(db, state.triage_secrets().audit_key, reviewer.login, "reviewer.signed-in")
    forgive(reviewer.login)
    return cookie


def sign_out(response: Response) -> Response:
    """End the session (audited when a reviewer was signed in) and clear the cookies on `response`."""
    actor = current_actor()
    if actor is not None:
        audit.record(state.db_session(), state.triage_secrets().audit_key, actor.reviewer.login, "reviewer.signed-out")
    return _store().sign_out(state.db_session(), response, current_app.config["SESSION_COOKIE_NAME"])


def change_passphrase(actor: Actor, current: str, new: str) -> str | None:
    """The actor replaces their passphrase. Returns a new session cookie value when their key pair
    was replaced too (a passphrase someone else chose: accounts.set_own_passphrase), else None."""
    reviewer = actor.reviewer
    problem = passphrase_problem(new, (reviewer.login, reviewer.display_name))
    if problem:
        raise ActionError(problem)
    if throttled(reviewer.login):
        raise ActionError(LOGIN_FAILED)  # a stolen session cannot guess the passphrase without limit
    if not check_passphrase(reviewer.login, current):
        raise ActionError(_("Your current passphrase is not right."))
    forgive(reviewer.login)
    private = set_own_passphrase(request_context(), actor, current, new)
    store, db = _store(), state.db_session()
    if private is None:
        ended = store.end_others(db, reviewer.id, keep=store.cookie())
        cookie = None
    else:
        store.destroy(db, store.cookie())
        cookie = start_session(reviewer, private, STAGE_FULL)
        ended = store.end_others(db, reviewer.id, keep=cookie)
    if ended:  # whoever else held a session (a stolen cookie, a forgotten browser) is signed out now
        audit.record(db, state.triage_secrets().audit_key, reviewer.login, "reviewer.other-sessions-ended", sessions=ended)
    return cookie


def sign_out_everywhere(response: Response) -> Response:
    """End every session of the signed-in reviewer, this one included (audited), and clear the cookies."""
    actor = current_actor()
    store, db = _store(), state.db_session()
    ended = store.end_others(db, actor.reviewer.id, keep=None)
    audit.record(db, state.triage_secrets().audit_key, actor.reviewer.login, "reviewer.signed-out-everywhere", sessions=ended)
    return store.sign_out(db, response, current_app.config["SESSION_COOKIE_NAME"])


def totp_secret(reviewer: Reviewer) -> str:
    return open_totp_secret(state.triage_secrets().totp_key, reviewer)


def verify_totp(reviewer: Reviewer, code: str) -> bool:
    """Accept the current code or its neighbours (clock drift), never a step already used."""
    code = "".join(ch for ch in (code or "") if ch in "0123456789")  # not isdigit(): "²" would reach compare_digest
    if len(code) != 6:
        return False
    totp = pyotp.TOTP(totp_secret(reviewer))
    now_step = totp.timecode(time.time())
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            # Claim the step with one conditional UPDATE, so that two requests racing with the same
            # code cannot both pass the check: the database lets only one of them move the step on.
            claimed = state.db_session().execute(
                update(Reviewer)
                .where(Reviewer.id == reviewer.id, Reviewer.last_totp_step < step)
                .values(last_totp_step=step)
                .execution_options(synchronize_session="fetch")
            ).rowcount
            return claimed == 1  # 0: a replay of a code already used
    return False


def current_actor() -> Actor | None:
    if "actor" in g:
        return g.actor
    actor = None
    payload = session_payload()
    if payload and payload.get("stage") == STAGE_FULL:
        reviewer = state.db_session().get(Reviewer, payload["reviewer"])
        # A replaced key pair (a reset sign-in) ends every session that holds the old one.
        if reviewer is not None and reviewer.active and payload.get("fingerprint") == reviewer.key_fingerprint:
            actor = Actor(reviewer, RecipientPrivateKey.from_bytes(bytes.fromhex(payload["key"])))
    g.actor = actor
    return actor
