"""Found by the attacker review of screening and linking: a reviewer could test names against a
colleague's private conflict declarations. Adding "Quentin Blake" by hand to a report both could
read removed the colleague's wrap, and the page showed it: the colleague left "Who can read this
report", and the history said "access removed for conflict"."""

from __future__ import annotations

from support import csrf_from
from triage_support import page_text, seed_report, sign_in_reviewer, token_for


def test_a_reviewer_cannot_see_who_a_name_removed(triage_app, database, instance_dir, lead, make_reviewer):
    alice, bob = make_reviewer("alice", "reviewer"), make_reviewer("bob", "reviewer")
    alice_client = sign_in_reviewer(triage_app.test_client(), alice)
    declared = alice_client.post("/account/conflicts", data={"csrf_token": csrf_from(alice_client.get("/account").data),
                                                             "name": "Quentin Blake", "identifier": ""})
    assert declared.status_code == 302
    reference, _ = seed_report(database, instance_dir, "A concern about a colleague")
    bob_client = sign_in_reviewer(triage_app.test_client(), bob)
    before = page_text(bob_client.get(f"/reports/{reference}"))
    assert "Alice" not in before and "Who can read this report" not in before
    added = bob_client.post(f"/reports/{reference}/subjects", data={"csrf_token": token_for(bob_client, f"/reports/{reference}"),
                                                                    "name": "Quentin Blake"})
    assert added.status_code == 302
    after = page_text(bob_client.get(f"/reports/{reference}"))
    assert "removed for conflict" not in after and "Alice" not in after
    lead_page = page_text(sign_in_reviewer(triage_app.test_client(), lead).get(f"/reports/{reference}"))
    assert "Who can read this report" in lead_page and "removed for conflict" in lead_page  # a lead still sees both


def test_a_report_naming_someone_goes_to_leads_only_when_their_account_is_created(triage_app, database, instance_dir,
                                                                                  lead, make_reviewer):
    """Found by the attacker review: reports naming "Peter Parker" kept their non-lead readers after
    an account for Peter Parker was created; "names a reviewer" was recomputed only later, by chance."""
    from sqlalchemy import select

    from portal.reports.models import KeyWrap, Report

    alice = make_reviewer("alice", "reviewer")
    reference, _ = seed_report(database, instance_dir, "About a colleague", people=[{"name": "Peter Parker"}])
    lead_client = sign_in_reviewer(triage_app.test_client(), lead)
    created = lead_client.post("/admin/reviewers", data={
        "csrf_token": token_for(lead_client, "/admin/reviewers"), "login": "pparker", "display_name": "Peter Parker",
        "role": "reviewer", "passphrase": "violet-harbour-cinnamon-quartz-88"})
    assert created.status_code == 200 and "Reviewer created" in page_text(created)
    with database.transaction() as session:
        report = session.scalar(select(Report).where(Report.reference == reference))
        holders = set(session.scalars(select(KeyWrap.recipient_fingerprint).where(KeyWrap.report_id == report.id)))
        assert report.names_reviewer
    assert alice.fingerprint not in holders and lead.fingerprint in holders
