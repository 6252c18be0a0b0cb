"""Injection: HTML, script, javascript: links, markdown and template syntax, SQL metacharacters.

Everything a reporter or a reviewer types is shown back as text in both
interfaces: `&lt;script&gt;` is there, a live `<script>alert` is not, `{{ 7*7 }}`
is not evaluated, and SQL metacharacters in every field and queue filter are
stored and matched as plain values.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from support import csrf_from, receipt_from, sign_in
from test_adversarial_common import assert_graceful, post_multipart, reporter_token
from triage_support import act_ok, attachment_ids, references, sign_in_reviewer

from portal.instance import read_secret
from portal.triage.models import Reviewer

SCRIPT = "<script>alert('xss')</script>"
PAYLOADS = [
    SCRIPT,
    "<img src=x onerror=alert(1)>",
    '"><svg/onload=alert(2)>',
    "'><details open ontoggle=alert(3)>",
    "[click me](javascript:alert(4))",
    '<a href="javascript:alert(5)">link</a>',
    "**bold** _it_ # Heading ![x](https://tracker.example/pixel.png)",
    "QQ{{ 7*7 }}QQ",
    "QQ{% if true %}yes{% endif %}QQ",
    "QQ{{ config.SECRET_KEY }}QQ",
    "QQ${7*7}QQ #{7*7} <%= 7*7 %>",
    "'; DROP TABLE reports; --",
    "1' OR '1'='1",
    '" OR ""="',
    "%' AND 1=0 UNION SELECT login, passphrase_hash FROM reviewers --",
]
TEXT = "\n".join(PAYLOADS)
LIVE = ["<script>alert", "<img src=x", "<svg/onload", "<details open", '<a href="javascript:', "href=javascript:",
        'src="https://tracker.example', "QQ49QQ", "QQyesQQ", "QQ&lt;Config", "<Config"]


def assert_inert(page: bytes, secrets=(), *, expect_text: bool = True) -> None:
    html = page.decode("utf-8")
    for live in LIVE:
        assert live not in html, live
    for secret in secrets:
        assert secret not in html
    if expect_text:
        assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in html
        assert "QQ{{ 7*7 }}QQ" in html and "QQ{{ config.SECRET_KEY }}QQ" in html


def test_everything_typed_is_shown_as_text_in_both_apps(apps, database, instance_dir, lead, make_reviewer):
    reporter, triage = apps
    secrets = [read_secret(instance_dir, name).hex() for name in ("reporter_secret_key", "triage_secret_key")]
    client = reporter.test_client()

    # A report whose every text field carries every payload, and a file named with one.
    fields = [("csrf_token", reporter_token(reporter)), ("what_happened", TEXT), ("when_happened", SCRIPT),
              ("where_happened", "QQ{{ 7*7 }}QQ"), ("witnesses", TEXT), ("people-0-name", "Sam <script>alert(6)</script> Smith"),
              ("people-0-role", "'; DROP TABLE reviewers; --"), ("people-0-identifier", "AB' OR 1=1 --"),
              ("people-0-unit", "{{ 7*7 }}"), ("risk_now", "no"),
              ("evidence", b"evidence", "<img src=x onerror=alert(7)>{{ 7*7 }}.txt", "text/plain")]
    response = post_multipart(client, "/report", fields)
    assert response.status_code == 200
    code = receipt_from(response.data)
    assert_inert(response.data, secrets, expect_text=False)
    (reference,) = references(database)

    # The validation-error page echoes the text escaped, never live.
    again = post_multipart(client, "/report", [("csrf_token", reporter_token(reporter)), ("what_happened", TEXT), ("risk_now", SCRIPT)])
    assert again.status_code == 400
    assert_inert(again.data, secrets)

    # The reviewer reads it, and answers with the same payloads in every kind of text.
    reviewer = sign_in_reviewer(triage.test_client(), lead)
    page = reviewer.get(f"/reports/{reference}")
    assert_inert(page.data, secrets)
    # The name is shown escaped, its extension apart (never trusted for the type).
    assert "&lt;img src=x onerror=alert(7)&gt;{{ 7*7 }}</span>" in page.data.decode()
    act_ok(reviewer, reference, "message", {"text": TEXT})
    act_ok(reviewer, reference, "note", {"text": TEXT})
    act_ok(reviewer, reference, "subjects", {"name": "Eve <script>alert(8)</script> Mallory", "identifier": "{{7*7}}' --"})
    act_ok(reviewer, reference, "escalate", {"route": "professional-standards", "reason": TEXT})
    page = reviewer.get(f"/reports/{reference}")
    assert_inert(page.data, secrets)
    html = page.data.decode()
    assert html.count("&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;") >= 4  # report, witnesses, message, note, reason
    assert "Eve &lt;script&gt;alert(8)&lt;/script&gt; Mallory" in html

    # The reporter sees the reviewer's message as text, and replies with the payloads.
    assert sign_in(client, code).status_code == 302
    case = client.get("/follow-up/case")
    assert_inert(case.data, secrets)
    assert case.data.decode().count("&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;") >= 3  # report, witnesses, message
    token = csrf_from(case.data)
    reply = post_multipart(client, "/follow-up/reply", [("csrf_token", token), ("message", TEXT),
                                                        ("evidence", b"x", '"><svg/onload=alert(9)>.svg', "image/svg+xml")])
    assert reply.status_code == 302
    assert_inert(client.get("/follow-up/case").data, secrets)
    page = reviewer.get(f"/reports/{reference}")
    assert_inert(page.data, secrets)
    assert len(attachment_ids(page.data)) == 2

    # A reviewer whose display name is a payload: the admin list, the access error and the queue show it as text.
    token = csrf_from(reviewer.get("/admin/reviewers").data)
    created = reviewer.post("/admin/reviewers", data={"csrf_token": token, "login": "payload", "role": "reviewer",
                                                      "display_name": "<script>alert('xss')</script>QQ{{ 7*7 }}QQ{{ config.SECRET_KEY }}QQ",
                                                      "passphrase": "lantern-quartz-meadow-volcano-pencil"})
    assert created.status_code == 200
    assert_inert(created.data, secrets)
    session = database.session
    new_id = session.scalar(select(Reviewer.id).where(Reviewer.login == "payload"))
    session.rollback()
    act_ok(reviewer, reference, "access/grant", {"reviewer": str(new_id)})
    twice = reviewer.post(f"/reports/{reference}/access/grant", data={"csrf_token": token, "reviewer": str(new_id)})
    assert twice.status_code == 400  # "<name> can already read this report", escaped
    assert_inert(twice.data, secrets)
    act_ok(reviewer, reference, "assign", {"assignee": str(new_id)})
    queue = reviewer.get("/")
    assert_inert(queue.data, secrets)

    # Conflict declarations are shown back on the account page as text.
    token = csrf_from(reviewer.get("/account").data)
    declared = reviewer.post("/account/conflicts", data={"csrf_token": token, "name": "Zed <script>alert('xss')</script>QQ{{ 7*7 }}QQ{{ config.SECRET_KEY }}QQ",
                                                          "identifier": ""})
    assert declared.status_code == 302
    assert_inert(reviewer.get("/account").data, secrets)


@pytest.mark.parametrize("value", PAYLOADS)
def test_queue_filters_echo_payloads_as_text_and_match_nothing(apps, database, instance_dir, lead, value):
    reporter, triage = apps
    client = reporter.test_client()
    post_multipart(client, "/report", [("csrf_token", reporter_token(reporter)), ("what_happened", "one report")])
    reviewer = sign_in_reviewer(triage.test_client(), lead)
    everything = reviewer.get("/")
    assert b'id="queue-count">1 report' in everything.data
    for key in ("status", "category", "priority", "assignee", "sort", "order", "page", "overdue"):
        response = reviewer.get("/?" + urlencode({key: value}))
        assert_graceful(response)
        assert response.status_code == 200, (key, value)
        assert_inert(response.data, expect_text=False)
        count = int(re.search(rb'id="queue-count">(\d+) report', response.data).group(1))
        # a payload is never a valid filter value: it either is ignored (1) or matches nothing (0), never more
        assert count in (0, 1)
    assert references(database) and len(references(database)) == 1  # no table was dropped, nothing added
