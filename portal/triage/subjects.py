"""Keyed blind index of the people a report names: link reports about one person without
storing who that person is.

value = HMAC-SHA256(blind index key, "portal/v1/subject:" || kind || ":" || normalised form).
One person yields several values, one per KIND (portal.triage.names makes the forms), and
KIND_STRENGTH is the one place that says what a shared value of each kind means: "same" (an
exact identifier or full name: the same person) or "possible" (sounds alike, or the same
initial and surname: a reviewer confirms or rejects). linked_report_ids() is the query that
says which reports share a value of the given kinds.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import aliased

from portal.reports.models import Report, SubjectIndex
from portal.triage.names import (
    ParsedName,
    contained_names,
    initial_keys,
    name_set,
    normalise_identifier,
    normalise_name,
    number_core,
    number_digits,
    parse_name,
    phonetic_keys,
)

SAME, POSSIBLE = "same", "possible"
KIND_STRENGTH = {
    "name": SAME,  # the full name in the order written, short forms expanded (the kind before 0.4.0)
    "name-set": SAME,  # the full name's tokens in any order ("O'Neill, John")
    "identifier": SAME,  # the number exactly as written, letters and digits only (the kind before 0.4.0)
    "id-number": SAME,  # the number without a rank or "No." prefix ("PC 4471" = "4471")
    "phonetic": POSSIBLE,  # Double Metaphone of the name ("Jon O'Neil" ~ "John O'Neill")
    "initial": POSSIBLE,  # first initial + how the surname sounds ("J. ONeil")
    "id-digits": POSSIBLE,  # the number's digits only, across force or letter prefixes ("WMP 4471" ~ "4471")
}
NUMBER_IN_NAME = re.compile(r"(?<![0-9])\d{3,12}(?![0-9])")
SAME_KINDS = tuple(k for k, s in KIND_STRENGTH.items() if s == SAME)
NAME_KINDS = ("name", "name-set", "phonetic", "initial")  # the rest come from the number


def blind_index(key: bytes, kind: str, normalised: str) -> bytes:
    return hmac.new(key, b"portal/v1/subject:" + kind.encode() + b":" + normalised.encode("utf-8"), hashlib.sha256).digest()


def subject_values(key: bytes, name: str, identifier: str, contained: bool = False) -> set[tuple[str, bytes]]:
    """Blind-index values for one person as entered, one or more of each kind of KIND_STRENGTH.

    A name counts with two parts (or an initial and a surname, as a "possible" only); a number
    with three letters or digits. With `contained` (a name a reporter typed, not a declaration),
    every run of words inside the name also yields the whole-name kinds ("name", "name-set"), so
    a declared "Marta Kowalczyk" matches "Marta Kowalczyk (PSD)" or "Marta Kowalczyk and John
    Smith". Declarations never get them: "Marta Anna Kowalczyk" declared must not hide every
    report about an "Anna Kowalczyk".
    """
    forms: set[tuple[str, str]] = _contained_forms(name) if contained else set()
    normal_name = normalise_name(name)
    if len([t for t in normal_name.split() if len(t) >= 2]) >= 2:  # "J. Smith" is only a "possible"
        forms.add(("name", normal_name))
    parsed = parse_name(name)
    if together := name_set(parsed):
        forms.add(("name-set", together))
    forms |= {("phonetic", k) for k in phonetic_keys(parsed)}
    forms |= {("initial", k) for k in initial_keys(parsed)}
    for number in NUMBER_IN_NAME.findall(name[:200]):  # "PC 4471 Jon O'Neill" typed in the name box
        forms |= {("id-number", number), ("id-digits", number)}
    normal_id = normalise_identifier(identifier)
    if len(normal_id) >= 3:
        forms.add(("identifier", normal_id))
        if len(core := number_core(identifier)) >= 3:
            forms.add(("id-number", core))
        if len(digits := number_digits(identifier)) >= 3:
            forms.add(("id-digits", digits))
    return {(kind, blind_index(key, kind, form)) for kind, form in forms}


def _contained_forms(name: str) -> set[tuple[str, str]]:
    """The whole-name kinds of every run of words inside a reported name (names.contained_names)."""
    forms: set[tuple[str, str]] = set()
    for run in contained_names(name):
        tokens = run.split()
        if len([t for t in tokens if len(t) >= 2]) >= 2:
            forms.add(("name", run))
        if together := name_set(ParsedName((), tuple(tokens))):
            forms.add(("name-set", together))
    return forms


def strength(kinds: set[str] | list[str]) -> str | None:
    """What sharing values of these kinds means: SAME if any is a "same" kind, else POSSIBLE (None: nothing shared)."""
    found = {KIND_STRENGTH.get(k, POSSIBLE) for k in kinds}
    return SAME if SAME in found else POSSIBLE if found else None


def link_strength(a: set[tuple[str, bytes]], b: set[tuple[str, bytes]]) -> str | None:
    """How two people's values link (SAME, POSSIBLE or None)."""
    return strength([kind for kind, _ in a & b])


def linked_report_ids(report_id: int, kinds: tuple[str, ...] | None = None) -> Select:
    """Other reports sharing a value (of these kinds; default any) with this one; junk ones do not
    count (a flood naming a real officer must not raise the priority of, or add links to, the
    genuine reports about them)."""
    mine = aliased(SubjectIndex)
    other = aliased(SubjectIndex)
    linked = aliased(Report)  # an alias: callers nest this in queries over `reports`, which must not correlate
    return (
        select(other.report_id)
        .join(mine, and_(mine.kind == other.kind, mine.value == other.value))
        .join(linked, and_(linked.id == other.report_id, linked.junk.is_(False)))
        .where(mine.report_id == report_id, other.report_id != report_id, mine.removed.is_(False), other.removed.is_(False),
               *([mine.kind.in_(kinds)] if kinds is not None else []))
    )
