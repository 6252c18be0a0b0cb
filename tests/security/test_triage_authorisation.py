"""Who may do what on the triage interface.

A reviewer may read a report only if its key is wrapped to them: anyone else
gets 404 on every report route, with no plaintext in the response. Reviewers
cannot assign others, grant or revoke access, approve closures or reach the
administration pages; leads and administrators can. New reviewers see nothing
until a lead grants access; revoking and deactivating take it away again.
"""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from support import csrf_from
from triage_support import (
    STRONG_PASSPHRASE,
    attachment_ids,
    closing,
    enter_code,
    enter_passphrase,
    is_login_redirect,
    page_text,
    post_action,
    queue_references,
    queue_total,
    read,
    report_by_reference,
    sign_in_reviewer,
    submit_with_reference,
    token_for,
)

from portal.reports.models import KeyWrap, SafeCopy
from portal.triage.audit import AuditEntry
from portal.triage.models import Reviewer

MARKER = "PLAINTEXT-MARKER-7Q2"
EVIDENCE = b"evidence file body " + MARKER.encode()


def _submit(reporter_client, database, label: str) -> str:
    reference, _ = submit_with_reference(
        reporter_client, database,
        what_happened=f"{MARKER} {label}",
        **{"people-0-name": f"Subject {label} Person", "evidence": (io.BytesIO(EVIDENCE), "evidence.txt", "text/plain")},
    )
    return reference


def _wraps(database, reference: str, account) -> int:
    report = report_by_reference(database, reference)
    return read(database, lambda s: s.scalar(
        select(func.count()).select_from(KeyWrap).where(KeyWrap.report_id == report.id,
                                                      KeyWrap.recipient_fingerprint == account.fingerprint)))


def _reviewer(database, account) -> Reviewer:
    def load(session):
        reviewer = session.get(Reviewer, account.id)
        session.expunge(reviewer)
        return reviewer

    return read(database, load)


def _login_exists(database, login: str) -> bool:
    return read(database, lambda s: s.scalar(select(Reviewer.id).where(Reviewer.login == login))) is not None


@pytest.fixture
def people(make_reviewer, lead):
    return {
        "lead": lead,
        "reviewer": make_reviewer("rev", "reviewer"),
        "administrator": make_reviewer("admin", "administrator"),  # never in the intake pool
        "outsider": make_reviewer("outsider", "reviewer", receives_new_reports=False),
        "spare": make_reviewer("spare", "reviewer", receives_new_reports=False),
    }


def _grant(client, reference: str, account):
    response = post_action(client, reference, "access/grant", {"reviewer": str(account.id)})
    assert response.status_code == 302, response.status_code


ACTIONS = ["view", "download", "acknowledge", "categorise", "assign_self", "assign_other", "message", "note",
           "escalate", "close", "reopen", "grant", "revoke", "approve", "admin_page", "deactivate"]
OK = {"view": 200, "download": 200, "admin_page": 200}
LEAD_EXPECTED = {action: OK.get(action, 302) for action in ACTIONS}
EXPECTED = {
    "lead": LEAD_EXPECTED,
    "administrator": LEAD_EXPECTED,
    "reviewer": {**LEAD_EXPECTED, "assign_other": 403, "grant": 403, "revoke": 403, "approve": 403, "admin_page": 403,
                 "deactivate": 403},
}


@pytest.mark.parametrize("role", ["reviewer", "lead", "administrator"])
def test_role_matrix(role, triage_app, reporter_client, database, people):
    me = people[role]
    proposer = people["reviewer"] if role == "lead" else people["lead"]
    other_reader = people["reviewer"] if role == "lead" else people["lead"]
    main = _submit(reporter_client, database, "main")
    pending = _submit(reporter_client, database, "pending")

    lead_client = sign_in_reviewer(triage_app.test_client(), people["lead"])
    if role == "administrator":
        for reference in (main, pending):
            _grant(lead_client, reference, me)
    elif role == "reviewer":  # an independent approver for the lead's proposal (leads: only "lead")
        _grant(lead_client, pending, people["administrator"])
    proposer_client = lead_client if proposer is people["lead"] else sign_in_reviewer(triage_app.test_client(), proposer)
    for action, data in (("categorise", {"category": "sexual-harassment", "priority": "high"}),
                         ("close", closing("no-further-action"))):
        assert post_action(proposer_client, pending, action, data).status_code == 302
    assert report_by_reference(database, pending).stage == "closure-pending"

    client = sign_in_reviewer(triage_app.test_client(), me)
    page = client.get(f"/reports/{main}")
    (file_id,) = attachment_ids(page.data)
    results = {}

    def record(action, response):
        results[action] = response.status_code
        return response

    view = record("view", client.get(f"/reports/{main}"))
    assert MARKER in page_text(view)
    download = record("download", client.get(f"/reports/{main}/files/{file_id}"))
    assert download.data == EVIDENCE and download.headers["Content-Disposition"].startswith("attachment;")
    record("acknowledge", post_action(client, main, "acknowledge"))
    record("categorise", post_action(client, main, "categorise", {"category": "discrimination-bullying", "priority": "high"}))
    record("assign_self", post_action(client, main, "assign", {"assignee": str(me.id)}))
    assert report_by_reference(database, main).assignee_id == me.id
    record("assign_other", post_action(client, main, "assign", {"assignee": str(other_reader.id)}))
    record("message", post_action(client, main, "message", {"text": "A question for you"}))
    record("note", post_action(client, main, "note", {"text": "An internal note"}))
    record("escalate", post_action(client, main, "escalate", {"route": "management-action", "reason": "Words of advice"}))
    record("close", post_action(client, main, "close", closing("action-taken", "Advice given by the inspector, recorded on the subject's file.", "action-completed")))
    assert report_by_reference(database, main).stage == "closed"
    record("reopen", post_action(client, main, "reopen", {"reason": "New information"}))
    assert report_by_reference(database, main).stage == "assessing"
    record("grant", post_action(client, main, "access/grant", {"reviewer": str(people["outsider"].id)}))
    revoke_target = people["outsider"] if results["grant"] == 302 else people["lead"] if role != "lead" else people["reviewer"]
    record("revoke", post_action(client, main, f"access/{revoke_target.id}/revoke"))
    record("approve", post_action(client, pending, "approval", {"decision": "approve"}))
    record("admin_page", client.get("/admin/reviewers"))
    record("deactivate", client.post(f"/admin/reviewers/{people['spare'].id}/deactivate",
                                     data={"csrf_token": token_for(client)}))

    assert results == EXPECTED[role]

    main_report = report_by_reference(database, main)
    pending_report = report_by_reference(database, pending)
    if EXPECTED[role]["assign_other"] == 302:
        assert main_report.assignee_id in (other_reader.id, None)  # None: that reader's access was revoked since
    else:
        assert main_report.assignee_id == me.id
    if role == "reviewer":
        assert _wraps(database, main, people["outsider"]) == 0
        assert _wraps(database, main, people["lead"]) == 1
        assert pending_report.stage == "closure-pending"
        assert _reviewer(database, people["spare"]).active
    else:
        assert _wraps(database, main, people["outsider"]) == 0  # granted, then revoked
        assert pending_report.stage == "closed"
        assert not _reviewer(database, people["spare"]).active


def test_reviewer_cannot_post_to_the_admin_page(triage_app, database, people):
    client = sign_in_reviewer(triage_app.test_client(), people["reviewer"])
    response = client.post("/admin/reviewers", data={"csrf_token": token_for(client), "login": "sneaky", "display_name": "Sneaky",
                                                     "role": "administrator", "passphrase": STRONG_PASSPHRASE})
    assert response.status_code == 403
    assert not _login_exists(database, "sneaky")


def test_a_lead_cannot_create_an_administrator(triage_app, database, people):
    client = sign_in_reviewer(triage_app.test_client(), people["lead"])
    response = client.post("/admin/reviewers", data={"csrf_token": token_for(client), "login": "boss", "display_name": "Boss",
                                                     "role": "administrator", "passphrase": STRONG_PASSPHRASE})
    assert response.status_code == 400
    assert "Only an administrator can create another administrator." in page_text(response)
    assert not _login_exists(database, "boss")


def test_reviewer_without_a_wrap_gets_404_everywhere(triage_app, reporter_client, database, people):
    reference = _submit(reporter_client, database, "hidden")
    lead_client = sign_in_reviewer(triage_app.test_client(), people["lead"])
    (file_id,) = attachment_ids(lead_client.get(f"/reports/{reference}").data)
    before = report_by_reference(database, reference)
    state = (before.stage, before.category, before.assignee_id, len(before.messages), len(before.notes), len(before.wraps))

    client = sign_in_reviewer(triage_app.test_client(), people["outsider"])
    queue = client.get("/")
    assert queue_total(queue.data) == 0 and reference not in page_text(queue)
    token = token_for(client)
    gets = [f"/reports/{reference}", f"/reports/{reference}/files/{file_id}", f"/reports/{reference}/files/{file_id}/safe-copy"]
    posts = {
        "acknowledge": {}, "categorise": {"category": "other", "priority": "urgent"},
        "assign": {"assignee": str(people["outsider"].id)}, "message": {"text": "hello"}, "note": {"text": "note"},
        "escalate": {"route": "safeguarding", "reason": "x"}, "close": {"outcome": "action-taken", "reason": "x"},
        "approval": {"decision": "approve"}, "reopen": {"reason": "x"},
        "access/grant": {"reviewer": str(people["outsider"].id)}, f"access/{people['lead'].id}/revoke": {},
        f"files/{file_id}/safe-copy": {},
    }
    responses = [client.get(path) for path in gets]
    responses += [client.post(f"/reports/{reference}/{action}", data={"csrf_token": token, **data}) for action, data in posts.items()]
    for response in responses:
        assert response.status_code == 404
        assert MARKER.encode() not in response.data and EVIDENCE not in response.data
        assert b"Subject hidden Person" not in response.data
    # A report that does not exist looks exactly the same.
    missing = client.get("/reports/R-ZZZZ-ZZZZ")
    assert missing.status_code == 404
    assert re.sub(rb'value="[^"]+"', b"", missing.data) == re.sub(rb'value="[^"]+"', b"", responses[0].data)

    after = report_by_reference(database, reference)
    assert (after.stage, after.category, after.assignee_id, len(after.messages), len(after.notes), len(after.wraps)) == state
    assert _wraps(database, reference, people["outsider"]) == 0
    assert read(database, lambda s: s.scalar(select(func.count()).select_from(SafeCopy))) == 0  # no copy made for them


def test_administrators_do_not_receive_new_reports(triage_app, reporter_client, database, people):
    reference = _submit(reporter_client, database, "admin")
    assert _wraps(database, reference, people["administrator"]) == 0
    client = sign_in_reviewer(triage_app.test_client(), people["administrator"])
    assert client.get(f"/reports/{reference}").status_code == 404
    assert client.get("/admin/reviewers").status_code == 200


OWN_PASSPHRASE = "tangerine-harbour-glacier-violin-mosaic"


def _enrol_new_reviewer(triage_app, lead_client, login: str):
    """Create a reviewer through the admin page and sign them in, reading the TOTP secret from the enrolment page."""
    response = lead_client.post("/admin/reviewers", data={"csrf_token": token_for(lead_client, "/admin/reviewers"), "login": login,
                                                          "display_name": login.title(), "role": "reviewer",
                                                          "passphrase": STRONG_PASSPHRASE})
    assert response.status_code == 200, page_text(response)[-1500:]
    assert "Reviewer created" in page_text(response)
    client = triage_app.test_client()
    assert enter_passphrase(client, login, STRONG_PASSPHRASE).status_code == 302
    enrolment = page_text(client.get("/login/code"))
    secret = re.search(r'class="portal-secret">([A-Z2-7]+)<', enrolment).group(1)
    import pyotp

    signed_in = enter_code(client, pyotp.TOTP(secret).now())
    assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/account")
    assert client.get("/").headers["Location"].endswith("/account")  # nothing else until they choose a passphrase
    chosen = client.post("/account", data={"csrf_token": token_for(client, "/account"), "current": STRONG_PASSPHRASE,
                                           "new": OWN_PASSPHRASE, "confirm": OWN_PASSPHRASE})
    assert chosen.status_code == 302, page_text(chosen)[-800:]
    return client


def test_new_reviewer_sees_reports_only_once_granted(triage_app, reporter_client, database, people):
    first = _submit(reporter_client, database, "first")
    second = _submit(reporter_client, database, "second")
    lead_client = sign_in_reviewer(triage_app.test_client(), people["lead"])
    newbie_client = _enrol_new_reviewer(triage_app, lead_client, "newbie")
    newbie = _reviewer(database, SimpleNamespace(id=read(database, lambda s: s.scalar(
        select(Reviewer.id).where(Reviewer.login == "newbie")))))
    assert newbie.receives_new_reports is False and newbie.totp_enrolled
    later = _submit(reporter_client, database, "later")  # not wrapped to the new reviewer either

    queue = newbie_client.get("/")
    assert queue.status_code == 200 and queue_total(queue.data) == 0
    for reference in (first, second, later):
        assert newbie_client.get(f"/reports/{reference}").status_code == 404

    _grant(lead_client, first, newbie)
    queue = newbie_client.get("/")
    assert queue_references(queue.data) == [first]
    page = newbie_client.get(f"/reports/{first}")
    assert page.status_code == 200 and f"{MARKER} first" in page_text(page)
    assert newbie_client.get(f"/reports/{second}").status_code == 404

    response = post_action(lead_client, first, f"access/{newbie.id}/revoke")
    assert response.status_code == 302
    assert newbie_client.get(f"/reports/{first}").status_code == 404
    assert queue_total(newbie_client.get("/").data) == 0

    for reference in (first, second):
        _grant(lead_client, reference, newbie)
    assert queue_total(newbie_client.get("/").data) == 2
    fingerprint = newbie.key_fingerprint
    response = lead_client.post(f"/admin/reviewers/{newbie.id}/deactivate", data={"csrf_token": token_for(lead_client, "/admin/reviewers")})
    assert response.status_code == 302
    assert read(database, lambda s: s.scalar(
        select(func.count()).select_from(KeyWrap).where(KeyWrap.recipient_fingerprint == fingerprint))) == 0
    assert read(database, lambda s: s.get(Reviewer, newbie.id).active) is False

    assert is_login_redirect(newbie_client.get("/"))  # the live session ends with the account
    client = triage_app.test_client()
    assert enter_passphrase(client, "newbie", STRONG_PASSPHRASE).status_code == 400


def test_deactivating_removes_every_wrap_and_assignment(triage_app, reporter_client, database, people):
    references = [_submit(reporter_client, database, f"r{n}") for n in range(3)]
    reviewer = people["reviewer"]
    client = sign_in_reviewer(triage_app.test_client(), reviewer)
    assert post_action(client, references[0], "assign", {"assignee": str(reviewer.id)}).status_code == 302
    assert all(_wraps(database, reference, reviewer) == 1 for reference in references)

    admin_client = sign_in_reviewer(triage_app.test_client(), people["administrator"])
    response = admin_client.post(f"/admin/reviewers/{reviewer.id}/deactivate", data={"csrf_token": token_for(admin_client, "/admin/reviewers")})
    assert response.status_code == 302
    assert all(_wraps(database, reference, reviewer) == 0 for reference in references)
    assert report_by_reference(database, references[0]).assignee_id is None
    assert all(_wraps(database, reference, people["lead"]) == 1 for reference in references)
    assert is_login_redirect(client.get(f"/reports/{references[0]}"))


def test_cannot_deactivate_yourself(triage_app, database, people):
    client = sign_in_reviewer(triage_app.test_client(), people["lead"])
    response = client.post(f"/admin/reviewers/{people['lead'].id}/deactivate", data={"csrf_token": token_for(client, "/admin/reviewers")})
    assert response.status_code == 302
    assert _reviewer(database, people["lead"]).active
    assert client.get("/").status_code == 200


def test_assigning_to_someone_without_access_is_refused(triage_app, reporter_client, database, people):
    reference = _submit(reporter_client, database, "assign")
    client = sign_in_reviewer(triage_app.test_client(), people["lead"])
    response = post_action(client, reference, "assign", {"assignee": str(people["outsider"].id)})
    assert response.status_code == 400
    assert "Grant them access first" in page_text(response)
    assert report_by_reference(database, reference).assignee_id is None


def test_csrf_token_from_login_page_is_bound_to_the_browser(triage_app, people):
    """A token read on one browser's login page does not sign in from another."""
    a, b = triage_app.test_client(), triage_app.test_client()
    token = csrf_from(a.get("/login").data)
    response = b.post("/login", data={"csrf_token": token, "login": people["lead"].login, "passphrase": people["lead"].passphrase})
    assert response.status_code == 400


def test_a_lead_cannot_deactivate_an_administrator(triage_app, database, people, make_reviewer):
    """Only an administrator can create an administrator; likewise only one can remove one."""
    client = sign_in_reviewer(triage_app.test_client(), people["lead"])
    response = client.post(f"/admin/reviewers/{people['administrator'].id}/deactivate",
                           data={"csrf_token": token_for(client, "/admin/reviewers")})
    assert response.status_code == 302
    assert "Only an administrator can deactivate an administrator." in page_text(client.get("/admin/reviewers"))
    assert _reviewer(database, people["administrator"]).active

    second_admin = make_reviewer("admin2", "administrator")
    admin_client = sign_in_reviewer(triage_app.test_client(), people["administrator"])
    for target in (second_admin, people["lead"]):
        response = admin_client.post(f"/admin/reviewers/{target.id}/deactivate",
                                     data={"csrf_token": token_for(admin_client, "/admin/reviewers")})
        assert response.status_code == 302
        assert not _reviewer(database, target).active


def test_every_report_route_is_404_without_a_wrap(triage_app, reporter_client, database, people):
    """Whatever report routes exist (now or later), none answers differently for a report the reviewer cannot read."""
    from flask import url_for

    reference = _submit(reporter_client, database, "generic")
    lead_client = sign_in_reviewer(triage_app.test_client(), people["lead"])
    (file_id,) = attachment_ids(lead_client.get(f"/reports/{reference}").data)
    client = sign_in_reviewer(triage_app.test_client(), people["outsider"])
    token = token_for(client)
    before = report_by_reference(database, reference)
    state = (before.stage, before.category, before.priority, before.assignee_id, len(before.messages), len(before.notes),
             len(before.wraps))
    checked = 0
    with triage_app.test_request_context():
        targets = []
        for rule in triage_app.url_map.iter_rules():
            if "reference" not in rule.arguments:
                continue
            values = {arg: (reference if arg == "reference" else file_id if arg == "attachment_hex" else 1)
                      for arg in rule.arguments}
            if "reviewer_id" in values:
                values["reviewer_id"] = people["lead"].id
            if "decision" in values:
                values["decision"] = "confirmed"
            targets.append((rule, url_for(rule.endpoint, **values)))
    for rule, url in targets:
        for method in ("GET", "POST") if "POST" in rule.methods else ("GET",):
            if method not in rule.methods:
                continue
            data = {"csrf_token": token, "text": "x", "reason": "x", "name": "John Smith", "identifier": "AB1234",
                    "kind": "name", "value": "John Smith", "category": "other", "priority": "urgent", "route": "safeguarding",
                    "outcome": "action-taken", "decision": "approve", "assignee": str(people["outsider"].id),
                    "reviewer": str(people["outsider"].id)}
            response = client.open(url, method=method, data=data if method == "POST" else None)
            assert response.status_code == 404, (method, url, response.status_code)
            assert MARKER.encode() not in response.data and EVIDENCE not in response.data
            checked += 1
    assert checked >= 16
    after = report_by_reference(database, reference)
    assert (after.stage, after.category, after.priority, after.assignee_id, len(after.messages), len(after.notes),
            len(after.wraps)) == state


# -- passphrases chosen by someone else, and reset sign-ins -------------------------------------


def _reset(client, account_id: int, token_page: str = "/admin/reviewers"):
    return client.post(f"/admin/reviewers/{account_id}/reset", data={"csrf_token": token_for(client, token_page)})


def _sign_in_with_enrolment(triage_app, login: str, passphrase: str):
    """Passphrase, then the TOTP secret read off the enrolment page; the client and the secret."""
    import pyotp

    client = triage_app.test_client()
    assert enter_passphrase(client, login, passphrase).status_code == 302
    secret = re.search(r'class="portal-secret">([A-Z2-7]+)<', page_text(client.get("/login/code"))).group(1)
    assert enter_code(client, pyotp.TOTP(secret).now()).headers["Location"].endswith("/account")
    return client, secret


def test_first_own_passphrase_replaces_the_key_pair_and_keeps_granted_reports(triage_app, reporter_client, database, people):
    from portal.crypto import CryptoError
    from portal.crypto.keys import unlock_private_key

    reference = _submit(reporter_client, database, "granted early")
    lead_client = sign_in_reviewer(triage_app.test_client(), people["lead"])
    created = lead_client.post("/admin/reviewers", data={"csrf_token": token_for(lead_client, "/admin/reviewers"),
                                                         "login": "newbie", "display_name": "Newbie", "role": "reviewer",
                                                         "passphrase": STRONG_PASSPHRASE})
    assert created.status_code == 200
    newbie = SimpleNamespace(id=read(database, lambda s: s.scalar(select(Reviewer.id).where(Reviewer.login == "newbie"))))
    _grant(lead_client, reference, newbie)  # before the newbie has ever signed in
    first_key = _reviewer(database, newbie).key_fingerprint

    client, _ = _sign_in_with_enrolment(triage_app, "newbie", STRONG_PASSPHRASE)
    for path in ("/", f"/reports/{reference}", "/themes"):
        assert client.get(path).headers["Location"].endswith("/account"), path
    assert "Choose your own passphrase" in page_text(client.get("/account"))
    chosen = client.post("/account", data={"csrf_token": token_for(client, "/account"), "current": STRONG_PASSPHRASE,
                                           "new": OWN_PASSPHRASE, "confirm": OWN_PASSPHRASE})
    assert chosen.status_code == 302

    after = _reviewer(database, newbie)
    assert after.key_fingerprint != first_key and not after.must_change_passphrase
    with pytest.raises(CryptoError):  # the passphrase the lead chose opens nothing any more
        unlock_private_key(after.locked_private_key, STRONG_PASSPHRASE)
    assert read(database, lambda s: s.scalar(select(func.count()).select_from(KeyWrap)
                                             .where(KeyWrap.recipient_fingerprint == first_key))) == 0
    page = client.get(f"/reports/{reference}")  # same session, new key: the re-wrapped report opens
    assert page.status_code == 200 and f"{MARKER} granted early" in page_text(page)
    assert enter_passphrase(triage_app.test_client(), "newbie", STRONG_PASSPHRASE).status_code == 400


def test_reset_sign_in_for_a_lost_passphrase(triage_app, reporter_client, database, people):
    reference = _submit(reporter_client, database, "before the reset")
    rev = people["reviewer"]
    rev_client = sign_in_reviewer(triage_app.test_client(), rev)
    assert rev_client.get(f"/reports/{reference}").status_code == 200
    declared = rev_client.post("/account/conflicts", data={"csrf_token": token_for(rev_client, "/account"),
                                                           "name": "Harriet Unrelated-Person", "identifier": ""})
    assert declared.status_code == 302
    lead_client = sign_in_reviewer(triage_app.test_client(), people["lead"])

    response = _reset(lead_client, rev.id)
    assert response.status_code == 200
    temporary = re.search(r"data-temporary-passphrase>([a-z-]+)<", response.data.decode()).group(1)
    assert "their access to 1 report has been removed" in page_text(response)

    assert is_login_redirect(rev_client.get("/"))  # the session that held the old key is over
    assert enter_passphrase(triage_app.test_client(), rev.login, rev.passphrase).status_code == 400
    client, secret = _sign_in_with_enrolment(triage_app, rev.login, temporary)  # a new authenticator enrolment
    assert secret != rev.totp_secret
    client.post("/account", data={"csrf_token": token_for(client, "/account"), "current": temporary,
                                  "new": OWN_PASSPHRASE, "confirm": OWN_PASSPHRASE})
    assert client.get(f"/reports/{reference}").status_code == 404  # the old key is gone: a lead grants again
    assert queue_total(client.get("/").data) == 0
    account = page_text(client.get("/account"))
    assert "declared before your sign-in was reset" in account  # the declaration still applies, and is listed
    history = read(database, lambda s: [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))])
    assert "reviewer.sign-in-reset" in history and history.index("reviewer.sign-in-reset") < history.index("reviewer.passphrase-chosen")


def test_who_may_reset_a_sign_in(triage_app, database, people):
    lead_client = sign_in_reviewer(triage_app.test_client(), people["lead"])
    before = _reviewer(database, people["administrator"]).key_fingerprint
    _reset(lead_client, people["administrator"].id)  # a lead cannot reset an administrator
    assert _reviewer(database, people["administrator"]).key_fingerprint == before
    _reset(lead_client, people["lead"].id)  # nor themselves
    assert _reviewer(database, people["lead"]).key_fingerprint == people["lead"].fingerprint
    reviewer_client = sign_in_reviewer(triage_app.test_client(), people["reviewer"])
    assert _reset(reviewer_client, people["spare"].id, token_page="/account").status_code == 403
    assert lead_client.post(f"/admin/reviewers/{people['spare'].id}/reset").status_code == 400  # no CSRF token
    assert _reviewer(database, people["spare"]).key_fingerprint == people["spare"].fingerprint
    admin_client = sign_in_reviewer(triage_app.test_client(), people["administrator"])
    assert _reset(admin_client, people["lead"].id).status_code == 200
    assert _reviewer(database, people["lead"]).must_change_passphrase


def _settings(client, account_id: int, **fields):
    data = {"csrf_token": token_for(client, "/admin/reviewers"), **fields}
    return client.post(f"/admin/reviewers/{account_id}", data=data)


def test_lead_moves_a_reviewer_into_the_intake_pool_and_sets_their_email(triage_app, reporter_client, database, people):
    outsider = people["outsider"]
    before = _submit(reporter_client, database, "before joining the pool")
    lead_client = sign_in_reviewer(triage_app.test_client(), people["lead"])
    page = lead_client.get(f"/admin/reviewers/{outsider.id}")
    assert page.status_code == 200 and 'id="receives_new_reports"' in page_text(page)
    assert 'checked' not in page_text(page).split('id="receives_new_reports"')[1].split(">")[0]

    response = _settings(lead_client, outsider.id, email="outsider@force.example", receives_new_reports="y")
    assert response.status_code == 302
    after = _submit(reporter_client, database, "after joining the pool")
    assert (_wraps(database, before, outsider), _wraps(database, after, outsider)) == (0, 1)  # from now on only
    stored = _reviewer(database, outsider)
    assert (stored.email, stored.receives_new_reports) == ("outsider@force.example", True)
    entries = read(database, lambda s: [(e.action, e.detail) for e in s.scalars(select(AuditEntry))])
    assert ("reviewer.updated", '{"changed":["email","intake"],"reviewer":"outsider"}') in entries
    assert "outsider@force.example" not in str(entries)  # the audit log says what changed, not the address

    response = _settings(lead_client, outsider.id, email="")  # unticked: out of the pool, no e-mail
    assert response.status_code == 302
    stored = _reviewer(database, outsider)
    assert (stored.email, stored.receives_new_reports) == (None, False)


@pytest.mark.parametrize("fields, message", [
    ({"email": "not an address"}, "Enter an e-mail address like name@force.example"),
    ({"email": "x" * 300 + "@force.example"}, "254"),
])
def test_reviewer_settings_refuse_bad_input(triage_app, database, people, fields, message):
    lead_client = sign_in_reviewer(triage_app.test_client(), people["lead"])
    response = _settings(lead_client, people["outsider"].id, **fields)
    assert response.status_code == 400 and message in page_text(response)
    assert _reviewer(database, people["outsider"]).email is None


def test_reviewer_settings_are_for_leads_and_never_put_an_administrator_in_the_pool(triage_app, database, people):
    lead_client = sign_in_reviewer(triage_app.test_client(), people["lead"])
    response = _settings(lead_client, people["administrator"].id, receives_new_reports="y")
    assert response.status_code == 400 and "never receive reports" in page_text(response)
    assert _reviewer(database, people["administrator"]).receives_new_reports is False
    reviewer_client = sign_in_reviewer(triage_app.test_client(), people["reviewer"])
    assert reviewer_client.get(f"/admin/reviewers/{people['spare'].id}").status_code == 403
    response = reviewer_client.post(f"/admin/reviewers/{people['spare'].id}",
                                    data={"csrf_token": token_for(reviewer_client, "/account"), "receives_new_reports": "y"})
    assert response.status_code == 403 and _reviewer(database, people["spare"]).receives_new_reports is False
    assert lead_client.post(f"/admin/reviewers/{people['spare'].id}", data={"receives_new_reports": "y"}).status_code == 400
    assert lead_client.get("/admin/reviewers/999999").status_code == 404
