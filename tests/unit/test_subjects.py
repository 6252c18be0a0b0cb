"""portal.triage.subjects: normalising names and collar numbers for the keyed blind index."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.triage.names import MAX_RUNS, contained_names, parse_name
from portal.triage.subjects import (
    KIND_STRENGTH,
    POSSIBLE,
    SAME,
    blind_index,
    link_strength,
    normalise_identifier,
    normalise_name,
    subject_values,
)

KEY = b"k" * 32


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Sgt. John O'Neill", "john oneill"),
        ("john oneill", "john oneill"),
        ("JOHN  O\u2019NEILL", "john oneill"),  # curly apostrophe, capitals, double space
        ("O`Neill, John", "oneill john"),  # order is kept: a different key from "john oneill"
        ("Detective Sergeant John O'Neill", "john oneill"),
        ("DC John O'Neill", "john oneill"),
        ("PC 1234 John O'Neill", "john oneill"),  # numbers in the name field are dropped
        ("Ch. Supt. John O'Neill", "john oneill"),
        ("Acting Inspector John O'Neill", "john oneill"),
        ("A/Insp John O'Neill", "john oneill"),
        ("T/DCI John O'Neill", "john oneill"),
        ("Mr John O'Neill", "john oneill"),
        ("José Núñez", "jose nunez"),  # accents
        ("Zoë Brontë-Smith", "zoe bronte smith"),  # diaeresis; hyphen splits
        ("Seán Ó Briain", "sean o briain"),
        ("Ⅰ John Smith", "i john smith"),  # compatibility forms fold (NFKD)
        ("Jim Smith", "james smith"),  # short forms
        ("Jimmy Smith", "james smith"),
        ("Bob Jones", "robert jones"),
        ("Liz Taylor", "elizabeth taylor"),
        ("Kate Adams", "katherine adams"),
        ("Catherine Adams", "katherine adams"),
        ("Steven Hall", "stephen hall"),
        ("Johnny Walker", "john walker"),
        ("Jon Walker", "jonathan walker"),
        ("", ""),
        ("Sgt.", ""),  # nothing identifying left
        ("PC 1234", ""),
        ("  ...  ", ""),
    ],
)
def test_normalise_name(raw, expected):
    assert normalise_name(raw) == expected


@pytest.mark.parametrize(
    "a, b",
    [
        ("Sgt. John O'Neill", "john oneill"),
        ("Sergeant Jim Smith", "james smith"),
        ("DS José Núñez", "jose nunez"),
        ("Insp. Rob Brown", "Robert BROWN"),
    ],
)
def test_spellings_of_one_person_share_a_value(a, b):
    assert link_strength(subject_values(KEY, a, ""), subject_values(KEY, b, "")) == SAME


@pytest.mark.parametrize(
    "a, b",
    [
        ("John O'Neill", "John O'Neil"),  # sounds alike
        ("John Smith", "Jane Smith"),  # same initial and surname
        ("Jon Smith", "John Smith"),
    ],
)
def test_similar_names_are_only_possible_links(a, b):
    assert link_strength(subject_values(KEY, a, ""), subject_values(KEY, b, "")) == POSSIBLE


def test_a_name_in_either_order_is_the_same_person():
    assert link_strength(subject_values(KEY, "John Smith", ""), subject_values(KEY, "Smith John", "")) == SAME


@pytest.mark.parametrize(
    "a, b",
    [
        ("John O'Neill", "Sean Walsh"),
        ("Peter Smith", "Jane Smyth-Jones"),
        ("Mark Evans", "Martin Owens"),
    ],
)
def test_different_people_do_not_share_a_value(a, b):
    assert subject_values(KEY, a, "").isdisjoint(subject_values(KEY, b, ""))


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("AB 1234", "AB1234"),
        ("ab1234", "AB1234"),
        ("ab-1234", "AB1234"),
        ("AB/1234.", "AB1234"),
        ("0123", "0123"),  # leading zeros kept
        ("ÁB 1234", "AB1234"),
        ("", ""),
        ("  -  ", ""),
    ],
)
def test_normalise_identifier(raw, expected):
    assert normalise_identifier(raw) == expected


def test_collar_numbers_link_however_written():
    assert subject_values(KEY, "", "AB 1234") == subject_values(KEY, "", "ab1234") == subject_values(KEY, "", "a-b 12 34")
    assert link_strength(subject_values(KEY, "", "PC 1234"), subject_values(KEY, "", "#1234")) == SAME
    assert link_strength(subject_values(KEY, "", "Sgt No. 1234"), subject_values(KEY, "", "1234")) == SAME
    assert link_strength(subject_values(KEY, "", "AB 1234"), subject_values(KEY, "", "1234")) == POSSIBLE
    assert subject_values(KEY, "", "AB 1234").isdisjoint(subject_values(KEY, "", "AB 1235"))
    # A leading zero may or may not be part of the number: a possible link for a reviewer to decide
    # (and enough for a declared conflict, which errs on exclusion), never the same person outright.
    assert link_strength(subject_values(KEY, "", "0123"), subject_values(KEY, "", "123")) == POSSIBLE


def test_a_name_counts_only_with_two_parts():
    assert subject_values(KEY, "Smith", "") == set()
    assert subject_values(KEY, "Sgt Smith", "") == set()
    assert {kind for kind, _ in subject_values(KEY, "John Smith", "")} == {"name", "name-set", "phonetic", "initial"}
    assert {kind for kind, _ in subject_values(KEY, "J. Smith", "")} == {"initial"}  # a "possible" only


def test_short_identifiers_do_not_count():
    assert subject_values(KEY, "", "12") == set()
    assert subject_values(KEY, "", "A-1") == set()
    assert {kind for kind, _ in subject_values(KEY, "", "123")} == {"identifier", "id-number", "id-digits"}
    assert {kind for kind, _ in subject_values(KEY, "", "PC 12")} == {"identifier"}  # "12" alone is too short


def test_name_and_identifier_together():
    values = subject_values(KEY, "Sgt John Smith", "AB 1234")
    assert {kind for kind, _ in values} == set(KIND_STRENGTH)


def test_values_are_keyed_and_opaque():
    value = blind_index(KEY, "name", "john oneill")
    assert len(value) == 32
    assert b"john" not in value and b"oneill" not in value
    assert blind_index(b"x" * 32, "name", "john oneill") != value  # another key: another value
    assert blind_index(KEY, "identifier", "john oneill") != value  # kinds are separated
    assert blind_index(KEY, "name", "john oneill") == value  # deterministic
    assert subject_values(b"x" * 32, "John O'Neill", "").isdisjoint(subject_values(KEY, "John O'Neill", ""))


def test_name_kind_and_identifier_kind_never_collide():
    # A "name" that normalises to the same text as an identifier must not link to it: the kind is in the MAC.
    assert blind_index(KEY, "name", "ab cd") != blind_index(KEY, "identifier", "ab cd")
    by_name = {v for k, v in subject_values(KEY, "ab cd", "") if k in ("name", "name-set")}
    by_id = {v for k, v in subject_values(KEY, "", "ab cd 123")}
    assert by_name and by_name.isdisjoint(by_id)


def test_every_kind_has_one_strength():
    assert set(KIND_STRENGTH.values()) == {SAME, POSSIBLE}
    assert {k for k, s in KIND_STRENGTH.items() if s == SAME} == {"name", "name-set", "identifier", "id-number"}


@pytest.mark.parametrize(
    "raw, given, surname",
    [
        ("O'Neill, John", ("john",), ("oneill",)),
        ("ONEILL John", ("john",), ("oneill",)),  # a surname in capitals
        ("John O Neill", ("john",), ("oneill",)),  # a particle joins the next word
        ("O. Smith", ("o",), ("smith",)),  # ... but an initial does not
        ("Angus Mc Donald", ("angus",), ("mcdonald",)),
        ("Sarah Smith–Jones", ("sarah",), ("smith", "jones")),  # an en dash is a hyphen
        ("Smith-Jones, Sarah", ("sarah",), ("smith", "jones")),
        ("DS José Núñez", ("jose",), ("nunez",)),
    ],
)
def test_parse_name_finds_the_surname_however_written(raw, given, surname):
    parsed = parse_name(raw)
    assert (parsed.given, parsed.surname) == (given, surname)


@pytest.mark.parametrize("typed, plain", [
    ("Jo\u200bhn O'Ne\u200bill", "John O'Neill"),  # a zero-width space inside the words
    ("Rob\u200bert Jo\u200bnes", "Robert Jones"),
    ("Ali\u200bce\u2060 Smith\ufeff", "Alice Smith"),
])
def test_invisible_characters_do_not_change_a_name(typed, plain):
    """Found by the attacker review: "Jo\u200bhn O'Ne\u200bill" got past a declared conflict with John
    O'Neill, and "Rob\u200bert Jo\u200bnes" past "names a reviewer": the values must be the same."""
    assert subject_values(KEY, typed, "") == subject_values(KEY, plain, "")


def test_a_number_in_other_digits_or_with_a_leading_zero_is_at_least_possible():
    plain = subject_values(KEY, "", "PC 4471")
    for typed in ("PC \u0664\u0664\u0667\u0661", "PC 04471", "WMP 04471"):
        shared = {kind for kind, _ in subject_values(KEY, "", typed) & plain}
        assert shared, typed
    assert subject_values(KEY, "", "PC \u0664\u0664\u0667\u0661") == plain  # the same number, in Arabic-Indic digits


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=9)


@given(before=st.lists(_WORD, max_size=4), after=st.lists(_WORD, max_size=4),
       separator=st.sampled_from([" ", ", ", " (", ") ", " and ", " / ", "; "]))
def test_a_declared_name_is_found_inside_whatever_else_the_reported_name_holds(before, after, separator):
    """A declaration's whole-name values are among a reported name's contained values, whatever
    words, brackets or commas surround it (attacker review: "Marta Kowalczyk (PSD)" slipped past)."""
    declared = subject_values(KEY, "Marta Kowalczyk", "")
    reported = separator.join([*before, "Marta Kowalczyk", *after])
    found = subject_values(KEY, reported, "", contained=True)
    assert link_strength(declared, found) == SAME


@pytest.mark.parametrize("reported", ["Kowalczyk, Marta (PSD)", "Marta K.owalczyk", "DS Marta Kowalczyk, PSD",
                                      "Marta KOWALCZYK and John Smith"])
def test_contained_names_survive_order_dots_and_ranks(reported):
    assert link_strength(subject_values(KEY, "Marta Kowalczyk", ""), subject_values(KEY, reported, "", contained=True)) == SAME


def test_declarations_get_no_contained_values_and_runs_are_bounded():
    """A declared "Marta Anna Kowalczyk" must not hide every report about an "Anna Kowalczyk"."""
    assert link_strength(subject_values(KEY, "Marta Anna Kowalczyk", ""), subject_values(KEY, "Anna Kowalczyk", "")) is None
    assert not subject_values(KEY, "Laura Smith (PSD)", "", contained=True) & subject_values(KEY, "Laura Hughes", "")
    assert len(contained_names(" ".join(f"word{chr(97 + i % 26)}x" for i in range(200)))) <= MAX_RUNS
