"""Same-person and possible links on the report page, a reviewer's decision on a possible link,
and the oracle that must stay closed: nothing a reviewer sees about other reports (a link, a
count, a flag, a priority, a history entry) may come from a report they may not read."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from triage_support import (
    linked_count,
    page_text,
    queue_row,
    read,
    report_by_reference,
    sign_in_reviewer,
    submit_with_reference,
    token_for,
)

from portal.instance import read_secret
from portal.reports.models import Report, SubjectIndex
from portal.triage import linking
from portal.triage.accounts import create_reviewer
from portal.triage.audit import AuditEntry
from portal.triage.models import LinkDecision, Role


def _submit(reporter_client, database, *people: tuple[str, str]) -> str:
    fields = {"what_happened": "About " + ", ".join(n or i for n, i in people)}
    for k, (name, identifier) in enumerate(people):
        fields[f"people-{k}-name"], fields[f"people-{k}-identifier"] = name, identifier
    return submit_with_reference(reporter_client, database, **fields)[0]


def _listed(page: str, which: str) -> set[str]:
    match = re.search(rf'id="{which}".*?</ul>', page, re.S)
    return set(re.findall(r'href="/reports/([^"/]+)"', match.group(0))) if match else set()


def _decide(client, reference: str, other: str, decision: str, token: str | None = None):
    return client.post(f"/reports/{reference}/links/{other}/{decision}", data={"csrf_token": token or token_for(client)})


@pytest.fixture
def oneill(triage_app, reporter_client, database, lead):
    """Three reporters write one officer's name three ways."""
    refs = {
        "first": _submit(reporter_client, database, ("Jon O'Neill", "PC 4471")),
        "surname_first": _submit(reporter_client, database, ("O’Neill, John", "4471")),
        "initial": _submit(reporter_client, database, ("J. ONeil", "")),
    }
    client = sign_in_reviewer(triage_app.test_client(), lead)
    for reference in refs.values():
        assert client.get(f"/reports/{reference}").status_code == 200
    return refs, client


def test_the_report_page_separates_same_person_and_possible_links(oneill):
    refs, client = oneill
    page = page_text(client.get(f"/reports/{refs['first']}"))
    assert _listed(page, "same-links") == {refs["surname_first"]}  # the collar number, with and without "PC"
    assert _listed(page, "possible-links") == {refs["initial"]}  # "J. ONeil": initial and a surname that sounds alike
    assert f"/reports/{refs['first']}/links/{refs['initial']}/confirmed" in page
    assert f"/reports/{refs['first']}/links/{refs['initial']}/rejected" in page
    assert linked_count(client.get("/").data, refs["first"]) == 1  # the queue counts same-person links


def test_confirming_a_possible_link_makes_it_a_link_and_is_audited(oneill, database):
    refs, client = oneill
    assert _decide(client, refs["first"], refs["initial"], "confirmed").status_code == 302
    page = page_text(client.get(f"/reports/{refs['first']}"))
    assert _listed(page, "same-links") == {refs["surname_first"], refs["initial"]}
    assert _listed(page, "possible-links") == set()
    assert "Confirmed" in page
    assert refs["first"] in _listed(page_text(client.get(f"/reports/{refs['initial']}")), "same-links")  # both ways
    actions = read(database, lambda s: [(e.action, e.report_ref, e.detail) for e in s.scalars(
        select(AuditEntry).where(AuditEntry.action.like("link.%")))])
    assert {(a, r) for a, r, _ in actions} == {("link.confirmed", refs["first"]), ("link.confirmed", refs["initial"])}
    assert "link confirmed" in page_text(client.get(f"/reports/{refs['first']}"))  # in the report's history
    assert linked_count(client.get("/").data, refs["first"]) == 2
    # A confirmed link counts for the repeat-subject rule like a same-person one.
    assert "repeat_subject" in report_by_reference(database, refs["initial"]).rule_reasons


def test_a_rejected_link_stays_rejected_after_re_indexing(oneill, database):
    refs, client = oneill
    assert _decide(client, refs["initial"], refs["first"], "rejected").status_code == 302
    for reference in (refs["first"], refs["initial"]):
        assert refs["first" if reference == refs["initial"] else "initial"] not in page_text(client.get(f"/reports/{reference}"))
    # Index both reports again from scratch (as a re-screen would): the rejection is per pair of reports.
    with database.transaction() as session:
        ids = list(session.scalars(select(Report.id).where(Report.reference.in_([refs["first"], refs["initial"]]))))
        session.execute(SubjectIndex.__table__.delete().where(SubjectIndex.report_id.in_(ids)))
        session.execute(Report.__table__.update().where(Report.id.in_(ids)).values(subjects_indexed=False))
    for reference in (refs["first"], refs["initial"]):
        assert client.get(f"/reports/{reference}").status_code == 200
    assert read(database, lambda s: s.scalar(select(SubjectIndex.id).where(SubjectIndex.report_id.in_(ids)).limit(1))) is not None
    page = page_text(client.get(f"/reports/{refs['first']}"))
    assert _listed(page, "possible-links") == set() and refs["initial"] not in page
    # Asking again is refused: the decision was taken.
    response = _decide(client, refs["first"], refs["initial"], "confirmed")
    assert response.status_code == 400 and "not waiting for a decision" in page_text(response)
    assert read(database, lambda s: [d.decision for d in s.scalars(select(LinkDecision))]) == ["rejected"]


def test_a_same_person_link_is_not_put_to_a_decision(oneill, database):
    refs, client = oneill
    response = _decide(client, refs["first"], refs["surname_first"], "rejected")
    assert response.status_code == 400
    assert read(database, lambda s: s.scalar(select(LinkDecision.id))) is None


def test_a_decision_needs_the_forms_token(oneill, database):
    refs, client = oneill
    response = client.post(f"/reports/{refs['first']}/links/{refs['initial']}/confirmed", data={})
    assert response.status_code in (400, 403)
    assert read(database, lambda s: s.scalar(select(LinkDecision.id))) is None


# -- the oracle ---------------------------------------------------------------------------------


@pytest.fixture
def hidden_world(triage_app, reporter_client, database, lead, make_reviewer):
    """A report naming John O'Neill that reviewer Rose may not read (it also names Peter Grey, her
    declared conflict), and an unrelated report she may read, with her signed in."""
    rose = make_reviewer("rose", "reviewer")
    rose_client = sign_in_reviewer(triage_app.test_client(), rose)
    token = token_for(rose_client, "/account")
    assert rose_client.post("/account/conflicts", data={"csrf_token": token, "name": "Peter Grey", "identifier": ""}).status_code == 302
    hidden = _submit(reporter_client, database, ("John O'Neill", "PC 4471"), ("Peter Grey", ""))
    readable = _submit(reporter_client, database, ("Mary Brown", ""))
    lead_client = sign_in_reviewer(triage_app.test_client(), lead)
    for reference in (hidden, readable):  # indexed (conflicts applied) before Rose looks
        assert lead_client.get(f"/reports/{reference}").status_code == 200
    assert rose_client.get(f"/reports/{hidden}").status_code == 404
    assert rose_client.get(f"/reports/{readable}").status_code == 200
    return {"rose": rose_client, "lead": lead_client, "hidden": hidden, "readable": readable}


def _what_rose_sees(world, database) -> dict:
    page = page_text(world["rose"].get(f"/reports/{world['readable']}"))
    report = report_by_reference(database, world["readable"])
    return {
        "links": _listed(page, "same-links") | _listed(page, "possible-links"),
        "hidden_count": "you may not read" in page,
        "rule": "Other reports name the same person" in page,
        "priority": report.priority,
        "queue_count": linked_count(world["rose"].get("/").data, world["readable"]),
        "hidden_ref": world["hidden"] in page,
    }


@pytest.mark.parametrize("probe", [("John O'Neill", ""), ("", "4471"), ("J. O'Neil", ""), ("O'Neill, John", "PC 4471")])
def test_adding_names_by_hand_cannot_probe_a_hidden_report(hidden_world, database, probe):
    world = hidden_world
    before = _what_rose_sees(world, database)
    token = token_for(world["rose"], f"/reports/{world['readable']}")
    response = world["rose"].post(f"/reports/{world['readable']}/subjects",
                                  data={"csrf_token": token, "name": probe[0], "identifier": probe[1]})
    assert response.status_code == 302
    after = _what_rose_sees(world, database)
    assert after == before == {"links": set(), "hidden_count": False, "rule": False, "priority": "normal",
                               "queue_count": 0, "hidden_ref": False}
    # The same probe against a name no report carries looks exactly alike: nothing to tell apart.


def test_the_probe_would_show_a_link_to_a_report_she_may_read(hidden_world, reporter_client, database):
    """Control: the same hand-added name does link to a report Rose may read (so the test above
    shows that hiding works, not that adding names is broken)."""
    world = hidden_world
    visible = _submit(reporter_client, database, ("John O'Neill", ""))
    assert world["lead"].get(f"/reports/{visible}").status_code == 200
    token = token_for(world["rose"], f"/reports/{world['readable']}")
    world["rose"].post(f"/reports/{world['readable']}/subjects", data={"csrf_token": token, "name": "John O'Neill", "identifier": ""})
    seen = _what_rose_sees(world, database)
    assert seen["links"] == {visible} and seen["rule"] and seen["priority"] == "high" and not seen["hidden_ref"]


def test_a_lead_sees_only_the_count_of_linked_reports_they_may_not_read(hidden_world, triage_app, reporter_client, database,
                                                                       make_reviewer):
    world = hidden_world
    lead2 = make_reviewer("lead2", "lead")
    client = sign_in_reviewer(triage_app.test_client(), lead2)
    token = token_for(client, "/account")
    assert client.post("/account/conflicts", data={"csrf_token": token, "name": "Peter Grey", "identifier": ""}).status_code == 302
    assert client.get(f"/reports/{world['hidden']}").status_code == 404
    about_him = _submit(reporter_client, database, ("John O'Neill", "4471"))
    page = page_text(client.get(f"/reports/{about_him}"))
    assert "1 linked report you may not read" in page
    assert world["hidden"] not in page and "Peter" not in page
    # A reviewer who is not a lead gets no count at all.
    rose_page = page_text(world["rose"].get(f"/reports/{about_him}"))
    assert "you may not read" not in rose_page and world["hidden"] not in rose_page


# -- conflicts and possible matches -------------------------------------------------------------


def _named_reviewer(database, instance_dir, login: str, display_name: str) -> SimpleNamespace:
    """A reviewer with a full display name (declared as their own identity when the account is made)."""
    passphrase = "correct-horse-battery-staple-orbit"
    with database.transaction() as session:
        new = create_reviewer(session, read_secret(instance_dir, "totp_key"), login=login, display_name=display_name,
                              role=Role.REVIEWER, passphrase=passphrase, receives_new_reports=True,
                              blind_index_key=read_secret(instance_dir, "blind_index_key"))
        return SimpleNamespace(login=new.reviewer.login, passphrase=passphrase, totp_secret=new.totp_secret)


def test_a_declared_conflict_also_hides_possible_matches(triage_app, reporter_client, database, lead, make_reviewer):
    """Erring on the side of exclusion: "J. ONeil" may be the John O'Neill a reviewer declared."""
    rose = make_reviewer("rose", "reviewer")
    client = sign_in_reviewer(triage_app.test_client(), rose)
    token = token_for(client, "/account")
    client.post("/account/conflicts", data={"csrf_token": token, "name": "John O'Neill", "identifier": "PC 4471"})
    initial_only = _submit(reporter_client, database, ("J. ONeil", ""))
    other_force = _submit(reporter_client, database, ("", "WMP 4471"))
    unrelated = _submit(reporter_client, database, ("Mary Brown", ""))
    lead_client = sign_in_reviewer(triage_app.test_client(), lead)
    for reference in (initial_only, other_force, unrelated):
        assert lead_client.get(f"/reports/{reference}").status_code == 200
    for reference in (initial_only, other_force):
        assert client.get(f"/reports/{reference}").status_code == 404
        wraps = {w.recipient_fingerprint for w in report_by_reference(database, reference).wraps}
        assert rose.fingerprint not in wraps  # hidden cryptographically, not only filtered
    assert client.get(f"/reports/{unrelated}").status_code == 200


def test_a_possible_match_to_a_reviewers_own_name_hides_it_from_them_not_from_everyone(
        triage_app, reporter_client, database, lead, make_reviewer, instance_dir):
    olive = _named_reviewer(database, instance_dir, "olive", "Olive Otherton")
    colleague = make_reviewer("colleague", "reviewer")
    exact = _submit(reporter_client, database, ("Olive Otherton", ""))
    possible = _submit(reporter_client, database, ("O. Otherton", ""))
    lead_client = sign_in_reviewer(triage_app.test_client(), lead)
    for reference in (exact, possible):
        assert lead_client.get(f"/reports/{reference}").status_code == 200
    olive_client = sign_in_reviewer(triage_app.test_client(), olive)
    colleague_client = sign_in_reviewer(triage_app.test_client(), colleague)
    assert olive_client.get(f"/reports/{exact}").status_code == 404
    assert olive_client.get(f"/reports/{possible}").status_code == 404
    assert report_by_reference(database, exact).names_reviewer  # an exact match: leads only
    assert colleague_client.get(f"/reports/{exact}").status_code == 404
    assert not report_by_reference(database, possible).names_reviewer  # a possible one: not everyone's business
    assert colleague_client.get(f"/reports/{possible}").status_code == 200


def test_the_queue_checks_a_bounded_number_of_links_per_row(oneill, reporter_client, database, monkeypatch):
    """One person named in hundreds of reports must not cost hundreds of readability checks per
    queue row: past LINKED_SHOWN the count says "at least"."""
    refs, client = oneill
    extra = _submit(reporter_client, database, ("", "PC4471"))
    assert client.get(f"/reports/{extra}").status_code == 200
    assert linked_count(client.get("/").data, refs["first"]) == 2
    monkeypatch.setattr(linking, "LINKED_SHOWN", 1)
    row = re.sub(r"<[^>]+>", "", re.findall(r'<td class="govuk-table__cell govuk-table__cell--numeric">(.*?)</td>',
                                            queue_row(client.get("/").data, refs["first"]), re.S)[-1]).strip()
    assert row == "1+"


def test_a_rejected_link_stays_rejected_when_the_full_name_is_added_later(oneill, database):
    """Found by the attacker review: after one reviewer rejected "J. ONeil" as someone else, another
    added "Jon O'Neill" by hand to that report and the pair came back as "Same person"."""
    refs, client = oneill
    assert _decide(client, refs["initial"], refs["first"], "rejected").status_code == 302
    add = client.post(f"/reports/{refs['initial']}/subjects",
                      data={"csrf_token": token_for(client, f"/reports/{refs['initial']}"), "name": "Jon O'Neill"})
    assert add.status_code == 302
    page = page_text(client.get(f"/reports/{refs['initial']}"))
    assert refs["first"] not in _listed(page, "same-links") | _listed(page, "possible-links")
    assert linked_count(client.get("/").data, refs["initial"]) == 0  # the queue does not count the rejected pair either
