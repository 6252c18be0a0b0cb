"""Property-based fuzzing of every triage form and the queue's query string (hypothesis).

Sign-in (/login, /login/code), every /reports/<ref>/<action> form, downloads,
/account, /account/conflicts (and withdraw), /admin/reviewers (and deactivate, reset, settings),
sign-out, and the queue filters get arbitrary text, SQL metacharacters, huge
numbers, Unicode digits and values outside the choices. Every answer must be
graceful (never a 500; a 4xx is an HTML page with a heading); the marker put in
every secret text (messages, notes, reasons, passphrases, conflict names) must
not be at rest afterwards.
"""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import quote, urlencode

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from support import csrf_from
from test_adversarial_common import (
    FUZZ,
    MARKER,
    NASTY,
    assert_graceful,
    assert_not_at_rest,
    build_app,
    marked_text,
    nasty_text,
)
from triage_support import enter_passphrase, seed_report, sign_in_reviewer

from portal.triage.vocabulary import OUTCOMES, PRIORITIES, ROUTES

CATEGORIES = ["sexual-assault", "misuse-of-systems", "other", ""]
FLAGS = ["vulnerable-victim", "ongoing-risk", "on-duty"]
HUGE_IDS = ["99999999999999999999", "2147483648", "9223372036854775808", "0", "1", "2", "3", "١", "00000000000000000001"]


@pytest.fixture
def app(settings_overrides, database):
    app = build_app("triage", settings_overrides)
    yield app
    app.extensions["portal.db"].dispose()


@pytest.fixture
def world(app, database, instance_dir, lead, recovery_key, make_reviewer):
    other = make_reviewer("other", "reviewer")
    ref, _ = seed_report(database, instance_dir, what_happened="seeded report", people=[{"name": "Sam Subject", "identifier": "XY123"}])
    client = sign_in_reviewer(app.test_client(), lead)
    page = client.get(f"/reports/{ref}")
    assert page.status_code == 200
    return SimpleNamespace(client=client, ref=ref, token=csrf_from(page.data), other=other, lead=lead)


@pytest.fixture
def marker_check(database, instance_dir):
    yield
    database.session.rollback()
    assert_not_at_rest([MARKER], database, instance_dir)


def choice(valid) -> st.SearchStrategy:
    return st.one_of(st.none(), st.sampled_from(list(valid)), nasty_text())


TEXT = st.one_of(st.none(), marked_text())
ACTION_FIELDS = {
    "acknowledge": {},
    "categorise": {"category": choice(CATEGORIES), "priority": choice(PRIORITIES),
                   "flags": st.lists(st.one_of(st.sampled_from(FLAGS), nasty_text()), max_size=4)},
    "assign": {"assignee": choice(["", "1", "2", "3"] + HUGE_IDS)},
    "message": {"text": TEXT},
    "note": {"text": TEXT},
    "escalate": {"route": choice(ROUTES), "reason": TEXT},
    "close": {"outcome": choice(OUTCOMES), "reason": TEXT},
    "approval": {"decision": choice(["approve", "refuse"]), "reason": TEXT},
    "reopen": {"reason": TEXT},
    "access/grant": {"reviewer": choice(["", "1", "2"] + HUGE_IDS)},
    "access/{id}/revoke": {},
    "subjects": {"name": TEXT, "identifier": TEXT},
    "subjects/{id}/remove": {},
}


def _form(draw, fields: dict) -> dict:
    data = {}
    for name, strategy in fields.items():
        value = draw(strategy)
        if value is not None:
            data[name] = value
    for _ in range(draw(st.integers(0, 2))):
        data[draw(nasty_text(12)) or "x"] = draw(marked_text())
    return data


@pytest.mark.parametrize("action", list(ACTION_FIELDS))
@FUZZ
@given(data=st.data())
def test_report_action_forms_fuzz(world, marker_check, action, data):
    fields = _form(data.draw, ACTION_FIELDS[action])
    token = data.draw(st.sampled_from(["valid"] * 6 + ["missing", "garbage"]))
    if token == "valid":
        fields["csrf_token"] = world.token
    elif token == "garbage":
        fields["csrf_token"] = data.draw(nasty_text())
    reference = data.draw(st.sampled_from([world.ref] * 5 + ["R-0000-0000", "", "%00"]) | nasty_text())
    path_id = data.draw(st.sampled_from(["1", "2"] + HUGE_IDS))
    url = f"/reports/{quote(reference, safe='')}/" + action.replace("{id}", quote(path_id, safe=""))
    response = world.client.post(url, data=fields)
    event(f"status {response.status_code}")
    assert_graceful(response)
    assert response.status_code in (302, 308, 400, 403, 404, 405), response.status_code
    if response.status_code == 302:
        assert response.headers["Location"].startswith(f"/reports/{quote(world.ref)}")


@FUZZ
@given(hex_id=st.one_of(st.sampled_from(["0" * 32, "f" * 64, "zz", "%00"]), nasty_text()),
       route=st.sampled_from(["original", "safe-copy GET", "safe-copy POST"]),
       reference=st.one_of(st.none(), nasty_text()), token=st.sampled_from(["valid", "missing", "garbage"]))
def test_download_routes_fuzz(world, hex_id, route, reference, token):
    ref = world.ref if reference is None else reference
    url = f"/reports/{quote(ref, safe='')}/files/{quote(hex_id, safe='')}" + ("" if route == "original" else "/safe-copy")
    if route == "safe-copy POST":
        data = {} if token == "missing" else {"csrf_token": world.token if token == "valid" else "garbage-token"}
        response = world.client.post(url, data=data)
    else:
        response = world.client.get(url)
    assert_graceful(response)
    assert response.status_code in (302, 308, 400, 404, 405)


QUEUE_KEYS = ["status", "category", "priority", "assignee", "sort", "order", "page", "overdue"]
QUEUE_VALID = {"status": ["new", "assessing", "closed"], "category": CATEGORIES, "priority": list(PRIORITIES),
               "assignee": ["me", "none", "1"], "sort": ["received", "deadline", "priority"], "order": ["asc", "desc"],
               "page": ["1", "2", "0", "-1", "999999", "1000000"] + HUGE_IDS, "overdue": ["1", "0"]}


@FUZZ
@given(data=st.data())
def test_queue_query_string_fuzz(world, data):
    params = []
    for key in QUEUE_KEYS:
        for value in data.draw(st.lists(choice(QUEUE_VALID[key]), max_size=2)):
            if value is not None:
                params.append((key, value))
    if data.draw(st.booleans()):
        params.append((data.draw(nasty_text(10)), data.draw(nasty_text())))
    response = world.client.get("/?" + urlencode(params, encoding="utf-8", errors="surrogatepass"))
    assert_graceful(response)
    if any("\x00" in k + v for k, v in params):
        assert response.status_code == 400  # refused outright: PostgreSQL text cannot hold NUL
    else:
        assert response.status_code == 200
        assert b'id="queue-count"' in response.data


@st.composite
def logins(draw):
    fields = {}
    token = draw(st.sampled_from(["valid"] * 5 + ["missing", "garbage"]))
    if token == "garbage":
        fields["csrf_token"] = draw(nasty_text())
    login = draw(st.one_of(st.none(), st.sampled_from(["lead", "LEAD ", "other", "nobody"]), marked_text(), st.sampled_from(NASTY)))
    if login is not None:
        fields["login"] = login
    passphrase = draw(st.one_of(st.none(), marked_text(), st.sampled_from(NASTY)))
    if passphrase is not None:
        fields["passphrase"] = passphrase
    return fields, token == "valid"


@FUZZ
@given(attempt=logins())
def test_login_form_fuzz(app, lead, marker_check, attempt):
    fields, with_token = attempt
    client = app.test_client()
    if with_token:
        fields["csrf_token"] = csrf_from(client.get("/login").data)
    response = client.post("/login", data=fields)
    assert_graceful(response)
    assert response.status_code in (400, 429)
    assert client.get_cookie("portal_reviewer") is None


@FUZZ
@given(code=st.one_of(st.none(), nasty_text(), st.text(alphabet="0123456789 -", max_size=14)), with_token=st.booleans())
def test_second_factor_form_fuzz(app, lead, code, with_token):
    client = app.test_client()
    assert enter_passphrase(client, lead.login, lead.passphrase).status_code == 302
    fields = {} if code is None else {"code": code}
    if with_token:
        fields["csrf_token"] = csrf_from(client.get("/login/code").data)
    response = client.post("/login/code", data=fields)
    assert_graceful(response)
    assert response.status_code in (400, 302)
    if response.status_code == 302:  # only a correct code (1 in a million) signs in
        assert response.headers["Location"] in ("/", "/login")


@FUZZ
@given(data=st.data())
def test_account_form_fuzz(world, marker_check, data):
    current = data.draw(st.one_of(st.none(), st.just(world.lead.passphrase), marked_text()))
    new = data.draw(st.one_of(st.none(), marked_text(), st.just(f"orbit-{MARKER}-lantern-quartz-meadow")))
    confirm = data.draw(st.one_of(st.none(), st.just(new), marked_text()))
    fields = {k: v for k, v in {"current": current, "new": new, "confirm": confirm}.items() if v is not None}
    fields["csrf_token"] = world.token
    response = world.client.post("/account", data=fields)
    assert_graceful(response)
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        world.lead.passphrase = new  # changed: the fuzz goes on with the new one


@FUZZ
@given(name=TEXT, identifier=TEXT, own=st.one_of(st.none(), nasty_text()), with_token=st.booleans())
def test_conflict_form_fuzz(world, marker_check, name, identifier, own, with_token):
    fields = {k: v for k, v in {"name": name, "identifier": identifier, "own_identity": own}.items() if v is not None}
    if with_token:
        fields["csrf_token"] = world.token
    response = world.client.post("/account/conflicts", data=fields)
    assert_graceful(response)
    assert response.status_code in (302, 400)


@FUZZ
@given(conflict=st.one_of(st.none(), nasty_text(), st.lists(st.sampled_from(HUGE_IDS + ["²", ","]), max_size=5).map(",".join)))
def test_withdraw_conflict_fuzz(world, conflict):
    fields = {"csrf_token": world.token}
    if conflict is not None:
        fields["conflict"] = conflict
    response = world.client.post("/account/conflicts/withdraw", data=fields)
    assert_graceful(response)
    assert response.status_code in (302, 400)


@FUZZ
@given(login=st.one_of(st.none(), nasty_text(), st.from_regex(r"\A[a-z][a-z0-9._-]{0,70}\Z")),
       display_name=st.one_of(st.none(), nasty_text()), role=choice(["reviewer", "lead", "administrator"]),
       passphrase=st.one_of(st.none(), marked_text(), st.just(f"glacier-{MARKER}-pencil-volcano-meadow")))
def test_new_reviewer_form_fuzz(world, marker_check, login, display_name, role, passphrase):
    # Logins and display names are stored in clear by design (reviewers are not anonymous):
    # the marker goes only in the passphrase, which must exist only as an Argon2id hash.
    fields = {k: v for k, v in {"login": login, "display_name": display_name, "role": role, "passphrase": passphrase}.items()
              if v is not None}
    fields["csrf_token"] = world.token
    response = world.client.post("/admin/reviewers", data=fields)
    assert_graceful(response)
    assert response.status_code in (200, 400)


@FUZZ
@given(reviewer_id=st.sampled_from(HUGE_IDS + ["²", "-1", "%00"]), with_token=st.booleans())
def test_deactivate_fuzz(world, reviewer_id, with_token):
    if reviewer_id == str(world.lead.id):
        reviewer_id = "1"
    response = world.client.post(f"/admin/reviewers/{quote(reviewer_id, safe='')}/deactivate",
                                 data={"csrf_token": world.token} if with_token else {})
    assert_graceful(response)
    assert response.status_code in (302, 400, 404, 405)


@FUZZ
@given(email=st.one_of(st.none(), nasty_text(), st.emails()), intake=st.sampled_from([None, "y", "", "no", NASTY[0]]),
       with_token=st.booleans())
def test_reviewer_settings_fuzz(world, email, intake, with_token):
    fields = {k: v for k, v in {"email": email, "receives_new_reports": intake}.items() if v is not None}
    if with_token:
        fields["csrf_token"] = world.token
    response = world.client.post(f"/admin/reviewers/{world.lead.id}", data=fields)
    assert_graceful(response)
    assert response.status_code in (302, 400)


@FUZZ
@given(reviewer_id=st.sampled_from(HUGE_IDS + ["²", "-1", "%00", "1"]), with_token=st.booleans())
def test_reset_sign_in_fuzz(world, reviewer_id, with_token):
    response = world.client.post(f"/admin/reviewers/{quote(reviewer_id, safe='')}/reset",
                                 data={"csrf_token": world.token} if with_token else {})
    assert_graceful(response)
    assert response.status_code in (200, 302, 400, 404, 405)  # "1" is the lead: nobody resets their own sign-in


@FUZZ
@given(token=st.one_of(st.none(), nasty_text()), cookie=st.one_of(st.none(), st.text(alphabet="abcdefABCDEF0123456789-_=", max_size=80)))
def test_logout_fuzz(app, token, cookie):
    client = app.test_client()
    if cookie is not None:
        client.set_cookie("portal_reviewer", cookie or "x", domain="localhost", path="/")
    response = client.post("/logout", data={} if token is None else {"csrf_token": token})
    assert_graceful(response)
    assert response.status_code in (302, 400)



# -- regressions found by this battery (each was a 500) --------------------------------------------

HUGE = "99999999999999999999"
REGRESSIONS = [
    # str.isdigit() is true for "²" but int("²") raises: the queue, assign, grant, withdraw and the TOTP code
    ("get", "/?page=²", None),
    ("get", "/?assignee=²", None),
    ("post", "/reports/{ref}/assign", {"assignee": "²"}),
    ("post", "/reports/{ref}/access/grant", {"reviewer": "²"}),
    ("post", "/account/conflicts/withdraw", {"conflict": "²," + HUGE}),
    # a Python int too large for SQLite's INTEGER (OverflowError) in a path or a form
    ("post", "/reports/{ref}/access/" + HUGE + "/revoke", {}),
    ("post", "/reports/{ref}/subjects/" + HUGE + "/remove", {}),
    ("post", "/admin/reviewers/" + HUGE + "/deactivate", {}),
    ("post", "/reports/{ref}/assign", {"assignee": HUGE}),
    ("post", "/reports/{ref}/access/grant", {"reviewer": HUGE}),
    # NUL reaching a PostgreSQL text parameter (DataError, then a failed transaction under the error page)
    ("get", "/reports/%00", None),
    ("post", "/reports/%00/note", {"text": "x"}),
    ("get", "/?category=%00", None),
    ("post", "/admin/reviewers", {"login": "nul", "display_name": "a\x00b", "role": "reviewer",
                                  "passphrase": "lantern-quartz-meadow-volcano-pencil"}),
]


@pytest.mark.parametrize(("method", "path", "data"), REGRESSIONS, ids=[f"{m} {p}" for m, p, _ in REGRESSIONS])
def test_regressions_found_by_fuzzing(world, method, path, data):
    url = path.replace("{ref}", world.ref)
    if method == "get":
        response = world.client.get(url)
    else:
        response = world.client.post(url, data={"csrf_token": world.token, **data})
    assert_graceful(response)
    assert response.status_code in (200, 302, 400, 404)


def test_unicode_digits_in_the_second_factor_are_refused_not_a_500(app, lead):
    client = app.test_client()
    assert enter_passphrase(client, lead.login, lead.passphrase).status_code == 302
    token = csrf_from(client.get("/login/code").data)
    response = client.post("/login/code", data={"csrf_token": token, "code": "²²²²²²"})
    assert_graceful(response)
    assert response.status_code == 400


def test_nul_in_a_login_is_refused_not_a_500(app, lead):
    client = app.test_client()
    token = csrf_from(client.get("/login").data)
    response = client.post("/login", data={"csrf_token": token, "login": "le\x00ad", "passphrase": lead.passphrase})
    assert_graceful(response)
    assert response.status_code == 400
