"""The senior-rank rule (config/rules.toml [routing], portal.triage.seniority): every way a
reporter writes a configured rank matches; lesser ranks, initials and words that merely contain
an abbreviation do not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.reports.answers import Person, parse_subject_document, subject_document
from portal.triage.rules import rules
from portal.triage.seniority import senior_ranks

RANKS = senior_ranks(rules()["routing"])
PHRASES = rules()["routing"]["senior_ranks"]


@pytest.mark.parametrize("role", [
    "Chief Constable", "CHIEF CONSTABLE", "deputy-chief-constable", "Deputy Chief  Constable", "Asst. Chief Constable",
    "assistant chief constable (temporary)", "Chief\u200bConstable", "Chïef Cönstable", "Сhief Соnstable",  # Cyrillic С, о
    "Commander", "Cmdr", "Cdr.", "ACC", "A.C.C.", "A C C", "T/ACC", "a/dcc", "DCC", "Deputy Assistant Commissioner",
])
def test_a_senior_rank_matches_however_it_is_written(role):
    assert RANKS.matches(role, "")


@pytest.mark.parametrize("role, name", [
    ("Chief Inspector", ""), ("Chief Superintendent", ""), ("Detective Chief Inspector", ""), ("Sergeant", ""),
    ("PC", ""), ("Constable", ""), ("Accounts officer", ""), ("custody officer", ""),
    ("", "A. C. Smith"), ("", "AC Smith"), ("", "Dave Accrington"), ("", "Cdric Jones"),
])
def test_lesser_ranks_initials_and_ordinary_words_do_not(role, name):
    assert not RANKS.matches(role, name)


@pytest.mark.parametrize("name", ["ACC Jane Doe", "Chief Constable Jane Doe", "Jane Doe (DCC)"])
def test_a_rank_typed_in_the_name_box_counts(name):
    assert RANKS.matches("", name)


@given(phrase=st.sampled_from(PHRASES), data=st.data())
def test_any_case_and_separator_between_the_words_matches(phrase, data):
    words = phrase.split()
    separators = data.draw(st.lists(st.sampled_from([" ", "  ", "-", "\u00a0", "\u200b", "\t", "_", "–"]),
                                    min_size=len(words) - 1, max_size=len(words) - 1))
    written = words[0] + "".join(sep + word for sep, word in zip(separators, words[1:], strict=True))
    cased = "".join(c.upper() if data.draw(st.booleans()) else c for c in written)
    before = data.draw(st.sampled_from(["", "Acting ", "T/", "the "]))
    assert RANKS.matches(before + cased, "")


def test_the_subject_list_carries_rank_and_choice_and_refuses_a_malformed_choice():
    raw = subject_document([Person(name="Jane Doe", role="Chief Constable"), Person(role="ACC"), Person()], only_independent=True)
    parsed = parse_subject_document(raw)
    assert parsed.only_independent is True
    assert [(p.name, p.role) for p in parsed.people] == [("Jane Doe", "Chief Constable"), ("", "ACC")]
    assert parse_subject_document(subject_document([Person(name="Pat Example")])).only_independent is False
    with pytest.raises(ValueError):
        parse_subject_document(b'{"v":1,"people":[],"only_independent":"yes"}')
    with pytest.raises(ValueError):
        parse_subject_document(b'{"v":1,"people":[{"name":"x","role":7}]}')
