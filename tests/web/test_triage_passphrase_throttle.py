"""Changing one's passphrase is throttled like signing in: a signed-in session cannot guess the
reviewer's current passphrase without limit."""

from __future__ import annotations

from triage_support import signed_in_client, token_for

from portal.app import create_app


def test_passphrase_change_is_throttled(settings_overrides, database, lead):
    app = create_app("triage", {**settings_overrides, "login_free_attempts": 3})
    client = signed_in_client(app, lead)
    statuses = []
    for attempt in range(5):
        token = token_for(client, "/account")
        response = client.post("/account", data={"csrf_token": token, "current": f"wrong-guess-{attempt}",
                                                 "new": "a-fresh-long-passphrase-orbit-91", "confirm": "a-fresh-long-passphrase-orbit-91"})
        statuses.append(b"Sign-in failed" in response.data)
    assert statuses == [False, False, False, True, True]
    # even the right passphrase is refused while throttled
    token = token_for(client, "/account")
    response = client.post("/account", data={"csrf_token": token, "current": lead.passphrase,
                                             "new": "a-fresh-long-passphrase-orbit-91", "confirm": "a-fresh-long-passphrase-orbit-91"})
    assert b"Sign-in failed" in response.data
    app.extensions["portal.db"].dispose()
