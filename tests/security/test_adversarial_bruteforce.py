"""Guessing receipt codes and reviewer credentials.

* Every wrong receipt code (malformed, well-formed but never issued, the right
  shape in unknown words, a real code with one word changed) gets the same page,
  byte for byte once the echoed input and the one-time token are taken out. No
  wrong code counts against anything another reporter needs: behind Tor they all
  share one address, so there is no per-address limit to lock the right code out.
  A malformed code costs no Argon2id (the word list is public, so that reveals
  nothing); a well-formed one costs exactly one, inside the bounded gate.
* Reviewer sign-in likewise: unknown login, wrong passphrase, deactivated
  account and wrong second factor all get one page; at the limit even the right
  passphrase is refused.
* Timing, with the real Argon2id parameters: the median time of a wrong but
  well-formed code and of the right code differ by less than 10% of the median
  (a malformed code is answered at once, on purpose: see above).
"""

from __future__ import annotations

import re
import statistics
import time

import pytest
from markupsafe import escape
from support import csrf_from, receipt_from
from test_adversarial_common import build_app, post_multipart, reporter_token
from triage_support import LOGIN_FAILED, THROTTLED, enter_code, enter_passphrase, fresh_code

from portal.crypto.receipt import generate_receipt_code

WRONG_CODE = "We could not find a report with that code. Check each word and try again."


@pytest.fixture
def make_app(settings_overrides, database, lead, recovery_key):
    apps = []

    def make(kind: str = "reporter", **overrides):
        app = build_app(kind, settings_overrides, **overrides)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["portal.db"].dispose()


def _issue_code(app) -> str:
    response = post_multipart(app.test_client(), "/report", [("csrf_token", reporter_token(app)), ("what_happened", "guess me")])
    assert response.status_code == 200
    return receipt_from(response.data)


def _normalised(body: bytes, typed: str) -> bytes:
    """The page with what differs by design taken out: the one-time token and the echoed input."""
    body = re.sub(rb'(name="csrf_token"[^>]*value=")[^"]*"', rb'\1"', body)
    echoed = str(escape(typed)).encode()
    return body.replace(b'value="' + echoed + b'"', b'value=""') if echoed else body


def _wrong_codes(real: str) -> dict[str, str]:
    words = real.split()
    changed = words[:-1] + [next(w for w in ("abandon", "zebra", "orbit", "lantern") if w != words[-1])]
    return {
        "malformed: seven words": " ".join(words[:7]),
        "malformed: nine words": real + " " + words[0],
        "malformed: not words": "12345 !!!! ???? #### $$$$ %%%% ^^^^ &&&&",
        "malformed: SQL": "' OR '1'='1' -- ; DROP TABLE reports",
        "right shape, unknown words": " ".join(["zzzz"] * 8),
        "right shape, prefixes not in the list": "qqqq xxxx yyyy kkkk jjjj vvvv wwww uuuu",
        "well-formed, never issued": generate_receipt_code(),
        "well-formed, one word changed": " ".join(changed),
        "well-formed, hyphenated and upper case": generate_receipt_code().upper().replace(" ", "-"),
    }


def test_every_wrong_receipt_code_gets_the_same_page(make_app):
    app = make_app()
    real = _issue_code(app)
    pages = {}
    for kind, code in _wrong_codes(real).items():
        client = app.test_client()
        token = csrf_from(client.get("/follow-up").data)
        response = client.post("/follow-up", data={"csrf_token": token, "receipt_code": code})
        assert response.status_code == 400, kind
        assert WRONG_CODE in response.data.decode(), kind
        assert client.get_cookie("portal_followup") is None
        pages[kind] = (response.status_code, sorted(k for k in response.headers.keys() if k != "Content-Length"),
                       _normalised(response.data, code))
    reference = next(iter(pages.values()))
    for kind, page in pages.items():
        assert page == reference, f"{kind} answers differently"


def _well_formed(code: str) -> bool:
    from portal.crypto import CryptoError
    from portal.crypto.receipt import normalise_receipt_code

    try:
        normalise_receipt_code(code)
        return True
    except CryptoError:
        return False


def test_receipt_guessing_costs_argon2id_only_for_well_formed_codes_and_never_locks_out(make_app, monkeypatch):
    """Cheap before expensive, counted: malformed codes and posts without a form token cost no
    Argon2id at all; each well-formed wrong code costs one; then the right code gets in at once."""
    from portal.crypto import receipt

    app = make_app()
    real = _issue_code(app)
    calls = []
    real_argon2id = receipt.argon2id
    monkeypatch.setattr(receipt, "argon2id", lambda *a, **k: calls.append(1) or real_argon2id(*a, **k))
    client = app.test_client()
    wrong = list(_wrong_codes(real).values())
    malformed = [code for code in wrong if not _well_formed(code)]
    well_formed = [code for code in wrong if _well_formed(code)]
    assert len(malformed) >= 4 and len(well_formed) >= 2
    for code in malformed * 10:
        token = csrf_from(client.get("/follow-up").data)
        assert client.post("/follow-up", data={"csrf_token": token, "receipt_code": code}).status_code == 400
    for code in well_formed * 10:
        assert client.post("/follow-up", data={"receipt_code": code}).status_code == 403  # no form token
    assert calls == []
    for code in well_formed * 10:
        token = csrf_from(client.get("/follow-up").data)
        assert client.post("/follow-up", data={"csrf_token": token, "receipt_code": code}).status_code == 400
    assert len(calls) == 10 * len(well_formed)
    token = csrf_from(client.get("/follow-up").data)
    assert client.post("/follow-up", data={"csrf_token": token, "receipt_code": real}).status_code == 302
    assert client.get_cookie("portal_followup") is not None


def test_every_reviewer_sign_in_failure_gets_the_same_page(make_app, lead, make_reviewer, database):
    from portal.triage.models import Reviewer

    app = make_app("triage", login_free_attempts=1000)
    gone = make_reviewer("gone", "reviewer")
    with database.transaction() as session:
        session.get(Reviewer, gone.id).active = False
    attempts = {
        "unknown login": ("nobody", lead.passphrase),
        "wrong passphrase": (lead.login, lead.passphrase + "x"),
        "deactivated": (gone.login, gone.passphrase),
        "SQL in the login": ("lead' --", lead.passphrase),
        "case and spaces": (" LEAD ", "wrong"),
    }
    pages = {}
    for kind, (login, passphrase) in attempts.items():
        client = app.test_client()
        response = enter_passphrase(client, login, passphrase)
        assert response.status_code == 400, kind
        assert LOGIN_FAILED in response.data.decode()
        assert client.get_cookie("portal_reviewer") is None
        pages[kind] = _normalised(response.data, login)
    reference = next(iter(pages.values()))
    for kind, page in pages.items():
        assert page == reference, f"{kind} answers differently"

    # the second factor fails with the same words
    client = app.test_client()
    assert enter_passphrase(client, lead.login, lead.passphrase).status_code == 302
    code = fresh_code(lead)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    response = enter_code(client, wrong)
    assert response.status_code == 400 and LOGIN_FAILED in response.data.decode()


def test_reviewer_guessing_hits_the_limit_and_then_refuses_the_right_passphrase(make_app, lead, monkeypatch):
    import types

    from portal.triage import throttle

    # The back-off's clock stands still: on a loaded machine the first wait (1 s) could pass between
    # two requests, and the right passphrase was then admitted, as it should be after the wait.
    monkeypatch.setattr(throttle, "time", types.SimpleNamespace(time=lambda: 1_900_000_000.0))
    app = make_app("triage", login_free_attempts=5)
    client = app.test_client()
    statuses = [enter_passphrase(client, lead.login, f"guess-{i}").status_code for i in range(6)]
    assert statuses == [400] * 5 + [429]
    response = enter_passphrase(client, lead.login, lead.passphrase)
    assert response.status_code == 429 and THROTTLED in response.data.decode()
    assert client.get_cookie("portal_reviewer") is None


# -- timing ------------------------------------------------------------------------------------------

SAMPLES = 15


def _timed_sign_in(app, code: str, address: str) -> tuple[float, int]:
    client = app.test_client()
    token = csrf_from(client.get("/follow-up").data)
    started = time.perf_counter()
    response = client.post("/follow-up", data={"csrf_token": token, "receipt_code": code}, environ_base={"REMOTE_ADDR": address})
    return time.perf_counter() - started, response.status_code


def _measure(app, codes: dict[str, str]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {kind: [] for kind in codes}
    order = list(codes.items())
    for i in range(SAMPLES):
        for kind, code in order[:: 1 if i % 2 else -1]:  # alternate, so drift hits every kind alike
            elapsed, status = _timed_sign_in(app, code, "192.0.2.1")
            assert status == (302 if kind == "right" else 400)
            times[kind].append(elapsed)
    return times


def _report(times: dict[str, list[float]]) -> dict[str, float]:
    from portal.crypto import kdf

    params = kdf.RECEIPT_ARGON2
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    print(f"receipt sign-in timing, real Argon2id (t={params.time_cost}, m={params.memory_kib // 1024} MiB, "
          f"p={params.parallelism}), {SAMPLES} alternating samples each:")
    for kind, value in medians.items():
        quartiles = statistics.quantiles(times[kind], n=4)
        print(f"  {kind:9s} median {value * 1000:7.1f} ms  (quartiles {quartiles[0] * 1000:.1f}-{quartiles[2] * 1000:.1f} ms)")
    difference = abs(medians["wrong"] - medians["right"])
    print(f"  |wrong - right| = {difference * 1000:.1f} ms = {100 * difference / medians['right']:.1f}% of the right-code median")
    return medians


@pytest.mark.real_kdf
@pytest.mark.slow
def test_wrong_and_right_codes_take_the_same_time(make_app):
    from portal.crypto import kdf

    assert kdf.RECEIPT_ARGON2.memory_kib >= 64 * 1024  # the production parameters, not the cheap test ones
    app = make_app()
    codes = {"right": _issue_code(app), "wrong": generate_receipt_code()}
    for code in codes.values():  # warm-up: first allocations, template compilation
        _timed_sign_in(app, code, "192.0.2.1")

    def within(medians: dict[str, float]) -> bool:
        return abs(medians["wrong"] - medians["right"]) < 0.10 * medians["right"]

    medians = _report(_measure(app, codes))
    if not within(medians):  # one more run, in case another process stole the CPU; a real gap shows twice
        print("  outside 10%: measuring again")
        medians = _report(_measure(app, codes))
    assert within(medians)
