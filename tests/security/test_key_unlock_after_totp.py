"""Issue 19: the reviewer's private key is unlocked only once the second factor has passed, and
only if it is the key whose public half the account holds.

Before: the passphrase alone unlocked the key into the "second factor pending" session, so a
copy of that row plus the cookie (or a compromised host reading the shared session table) gave
the long-term key with no TOTP code. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json

from sqlalchemy import select, update
from triage_support import LOGIN_FAILED, enter_code, enter_passphrase, fresh_code, page_text, reviewer_cookie

from portal.crypto.envelope import open_with_key
from portal.crypto.keys import RecipientPrivateKey, lock_private_key, unlock_private_key
from portal.sessions import ID_LEN, ReviewerSession, _context
from portal.triage.audit import AuditEntry
from portal.triage.models import Reviewer


def payload_of(database, cookie: str) -> dict:
    """What the session row holds, opened with the cookie (what an attacker holding both would read)."""
    raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    session_id, key = raw[:ID_LEN], raw[ID_LEN:]
    with database.transaction() as session:
        row = session.get(ReviewerSession, hashlib.sha256(session_id).digest())
        assert row is not None
        return json.loads(open_with_key(key, row.sealed_payload, _context("reviewer", session_id)))


def private_hex(database, lead) -> str:
    with database.transaction() as session:
        locked = session.scalar(select(Reviewer.locked_private_key).where(Reviewer.id == lead.id))
    return unlock_private_key(locked, lead.passphrase).to_bytes().hex()


def test_the_key_stays_locked_until_the_code_is_right(triage_client, database, lead):
    key_hex = private_hex(database, lead)
    assert enter_passphrase(triage_client, lead.login, lead.passphrase).status_code == 302
    pending = payload_of(database, reviewer_cookie(triage_client))
    assert pending["stage"] == "second-factor"
    assert "key" not in pending and key_hex not in json.dumps(pending)  # the key is not in the pending session
    assert enter_code(triage_client, "000000").status_code == 400  # a wrong code unlocks nothing either
    assert key_hex not in json.dumps(payload_of(database, reviewer_cookie(triage_client)))

    assert enter_code(triage_client, fresh_code(lead)).status_code == 302
    signed_in = payload_of(database, reviewer_cookie(triage_client))
    assert signed_in["stage"] == "signed-in" and signed_in["key"] == key_hex and "kek" not in signed_in


def test_a_key_that_does_not_match_the_public_key_is_refused(triage_client, database, lead):
    """A database writer puts another key, locked under the same passphrase, in the account: sign-in
    is refused after the code, nothing is signed in, and the refusal is audited."""
    with database.transaction() as session:
        session.execute(update(Reviewer).where(Reviewer.id == lead.id).values(
            locked_private_key=lock_private_key(RecipientPrivateKey.generate(), lead.passphrase)))
    assert enter_passphrase(triage_client, lead.login, lead.passphrase).status_code == 302
    response = enter_code(triage_client, fresh_code(lead))
    assert response.status_code == 400
    assert "the key stored for your account is not the one its public key belongs to" in page_text(response)
    assert LOGIN_FAILED not in page_text(response)
    assert reviewer_cookie(triage_client) is None
    assert triage_client.get("/").status_code == 302
    with database.transaction() as session:
        assert session.scalar(select(ReviewerSession).limit(1)) is None
        actions = list(session.scalars(select(AuditEntry.action)))
    assert "reviewer.sign-in-key-mismatch" in actions and "reviewer.signed-in" not in actions
