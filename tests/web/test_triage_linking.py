"""Reports about the same person are linked through the keyed blind index,
without the subject's name or number being stored in clear."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from triage_support import (
    linked_count,
    page_text,
    post_action,
    read,
    sign_in_reviewer,
    submit_with_reference,
)

from portal.reports.models import SubjectIndex


def _submit(reporter_client, database, name: str = "", identifier: str = "", **extra) -> str:
    fields = {"what_happened": f"About {name or identifier}", "people-0-name": name, "people-0-identifier": identifier, **extra}
    return submit_with_reference(reporter_client, database, **fields)[0]


def _links_on_page(client, reference: str, which: str = "same-links") -> set[str]:
    """References listed as same-person links (or, with which="possible-links", possible ones)."""
    page = page_text(client.get(f"/reports/{reference}"))
    match = re.search(rf'id="{which}".*?</ul>', page, re.S)
    if not match:
        return set()
    return set(re.findall(r'href="/reports/([^"/]+)"', match.group(0)))


@pytest.fixture
def linked(triage_app, reporter_client, database, lead):
    refs = {
        "sgt": _submit(reporter_client, database, "Sgt. John O'Neill"),
        "plain": _submit(reporter_client, database, "john oneill"),
        "collar_spaced": _submit(reporter_client, database, "Smith", "AB 1234"),
        "collar_lower": _submit(reporter_client, database, "Jones", "ab1234"),
        "unrelated": _submit(reporter_client, database, "Mary Brown", "XY 9999"),
    }
    client = sign_in_reviewer(triage_app.test_client(), lead)
    for reference in refs.values():  # each opened once by the reviewer
        assert client.get(f"/reports/{reference}").status_code == 200
    return {"refs": refs, "client": client}


def test_queue_shows_linked_counts(linked):
    refs = linked["refs"]
    queue = linked["client"].get("/").data
    assert {name: linked_count(queue, ref) for name, ref in refs.items()} == {
        "sgt": 1, "plain": 1, "collar_spaced": 1, "collar_lower": 1, "unrelated": 0,
    }


def test_report_page_links_to_the_other_report(linked):
    refs, client = linked["refs"], linked["client"]
    assert _links_on_page(client, refs["sgt"]) == {refs["plain"]}
    assert _links_on_page(client, refs["plain"]) == {refs["sgt"]}
    assert _links_on_page(client, refs["collar_spaced"]) == {refs["collar_lower"]}
    assert _links_on_page(client, refs["collar_lower"]) == {refs["collar_spaced"]}
    assert _links_on_page(client, refs["unrelated"]) == set()
    assert "1 other report names the same person" in page_text(client.get(f"/reports/{refs['sgt']}"))


def test_a_third_report_joins_the_group(linked, reporter_client, database):
    refs, client = linked["refs"], linked["client"]
    third = _submit(reporter_client, database, "Ch. Insp. Johnny O’Neill")  # ranks, short form, curly apostrophe
    different = _submit(reporter_client, database, "Jon O'Neill")  # Jon is Jonathan: another person
    for reference in (third, different):
        assert client.get(f"/reports/{reference}").status_code == 200
    queue = client.get("/").data
    assert linked_count(queue, third) == 2
    assert linked_count(queue, refs["sgt"]) == 2 and linked_count(queue, refs["plain"]) == 2
    assert linked_count(queue, different) == 0
    assert _links_on_page(client, third) == {refs["sgt"], refs["plain"]}


def test_subject_names_are_not_stored_in_clear(linked, database):
    values = read(database, lambda session: list(session.scalars(select(SubjectIndex.value))))
    assert len(values) >= 5
    for value in values:
        assert len(value) == 32
        for needle in (b"oneill", b"john", b"AB1234", b"ab1234", b"brown"):
            assert needle not in value.lower()
    # The two spellings of one name, and the two spellings of one collar number, share one value each.
    assert len(values) - len(set(values)) >= 2


def test_links_count_only_reports_the_reviewer_can_read(linked, triage_app, database, make_reviewer):
    refs = linked["refs"]
    outsider = make_reviewer("outsider", "reviewer", receives_new_reports=False)
    assert post_action(linked["client"], refs["sgt"], "access/grant", {"reviewer": str(outsider.id)}).status_code == 302
    client = sign_in_reviewer(triage_app.test_client(), outsider)
    assert linked_count(client.get("/").data, refs["sgt"]) == 0
    page = page_text(client.get(f"/reports/{refs['sgt']}"))
    assert refs["plain"] not in page and "names the same person" not in page


def test_single_word_names_do_not_link(triage_app, reporter_client, database, lead):
    first = _submit(reporter_client, database, "Smith")
    second = _submit(reporter_client, database, "Sgt Smith")
    client = sign_in_reviewer(triage_app.test_client(), lead)
    for reference in (first, second):
        client.get(f"/reports/{reference}")
    queue = client.get("/").data
    assert linked_count(queue, first) == 0 and linked_count(queue, second) == 0
