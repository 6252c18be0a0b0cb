"""safe_file_name: what a reviewer sees is what the name is."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.evidence import describe_removed, safe_file_name
from portal.evidence.names import MAX_NAME


def test_rtl_override_is_neutralised_and_the_real_extension_shown():
    name = safe_file_name("Statement_\u202efdp.exe")
    assert str(name) == "Statement_fdp.exe" and name.extension == "exe" and name.stem == "Statement_fdp"


def test_bidi_isolates_marks_zero_width_and_controls_go():
    raw = "a\u2066b\u2069c\u200ed\u200f\u061ce\u200bf\x00g\x1b[31m\u202a.PDF"
    assert str(safe_file_name(raw)) == "abcdefg[31m.pdf"


def test_paths_and_empty_names():
    assert str(safe_file_name("../../etc/passwd")) == "_.._etc_passwd"
    assert str(safe_file_name("C:\\Users\\me\\x.docx")) == "C:_Users_me_x.docx"
    assert str(safe_file_name("")) == "file" and str(safe_file_name("\u202e")) == "file"
    assert str(safe_file_name(".pdf")) == "pdf"
    assert safe_file_name(b"caf\xc3\xa9.png").stem == "caf\u00e9"


def test_long_names_keep_their_extension():
    name = safe_file_name("x" * 1000 + ".pdf")
    assert name.extension == "pdf" and len(str(name)) == MAX_NAME


def test_nfc():
    assert safe_file_name("cafe\u0301.txt").stem == "caf\u00e9"


@settings(max_examples=400)
@given(st.text(max_size=400))
def test_properties(raw):
    name = safe_file_name(raw)
    text = str(name)
    assert text and len(text) <= MAX_NAME
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in text)
    assert "/" not in text and "\\" not in text
    assert unicodedata.is_normalized("NFC", text)
    assert safe_file_name(text) == name


def test_removal_sentence():
    assert describe_removed(["author name", "3 comments", "tracked changes by 2 people", "GPS location", "JavaScript"]) == (
        "Removed: author name, 3 comments, tracked changes by 2 people, GPS location and JavaScript.")
    assert describe_removed(["JavaScript"]) == "Removed: JavaScript."
    assert describe_removed([]).startswith("Nothing hidden was found")
