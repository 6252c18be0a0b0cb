"""Is a person named in a report of a senior rank? (config/rules.toml, [routing].)

Pure text functions over what the reporter typed as a person's rank or role and name. A report
about such a person goes only to the independent body (portal.triage.routing), so the match errs
towards "senior": every way of writing a rank that a reviewer would read as that rank must match.

- Ranks written out ("Deputy Chief Constable") are compared by their UTS #39 skeleton with no
  spaces, punctuation or invisible characters (portal.triage.identities.comparable), as a part of
  the text: "Deputy-Chief-Constable", "DEPUTY CHIEF CONSTABLE", "deputy chief\u200bconstable" and
  one written with Cyrillic look-alike letters all contain "chief constable".
- Abbreviations ("ACC", "A.C.C.", "T/ACC", "A C C") must be a whole word, so "cc" never matches
  inside "accounts".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from portal.triage.identities import comparable

SEPARATORS = re.compile(r"[\s/\\|,;:()\[\]{}<>+&\-‐‑‒–—―_]+")


@dataclass(frozen=True)
class SeniorRanks:
    """The configured senior ranks, already in the form text is compared in."""

    phrases: tuple[str, ...]  # comparable() of each rank written out
    abbreviations: frozenset[str]  # comparable() of each abbreviation, matched as a whole word

    @classmethod
    def from_config(cls, section: dict) -> SeniorRanks:
        phrases = tuple(p for p in (comparable(str(r)) for r in section.get("senior_ranks", [])) if len(p) >= 4)
        abbreviations = frozenset(a for a in (comparable(str(r)) for r in section.get("senior_abbreviations", [])) if a)
        return cls(phrases, abbreviations)

    def matches(self, role: str, name: str = "") -> bool:
        """Does this person's rank or role, or their name as written ("ACC Jane Smith"), name a senior rank?

        In a name, only abbreviations of three letters or more count, and single letters are
        never joined: "A. C. Smith" has the initials A. C., not the rank AC."""
        if any(phrase in comparable(text[:400]) for text in (role, name) if text for phrase in self.phrases):
            return True
        return (any(word in self.abbreviations for word in words(role[:400], join_initials=True))
                or any(word in self.abbreviations for word in words(name[:400], join_initials=False) if len(word) >= 3))


def words(text: str, join_initials: bool) -> list[str]:
    """The comparable words of a text, and (join_initials) each run of single letters joined ("A. C. C." -> "acc")."""
    text = "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf")
    out: list[str] = []
    run: list[str] = []
    for raw in SEPARATORS.split(text):
        word = comparable(raw)
        if not word:
            continue
        out.append(word)
        if len(word) == 1 and join_initials:
            run.append(word)
            continue
        if len(run) > 1:
            out.append("".join(run))
        run = []
    if len(run) > 1:
        out.append("".join(run))
    return out


@lru_cache(maxsize=8)
def _cached(phrases: tuple[str, ...], abbreviations: tuple[str, ...]) -> SeniorRanks:
    return SeniorRanks.from_config({"senior_ranks": list(phrases), "senior_abbreviations": list(abbreviations)})


def senior_ranks(section: dict) -> SeniorRanks:
    """SeniorRanks for a [routing] config section (cached: comparable() is not free)."""
    return _cached(tuple(section.get("senior_ranks", [])), tuple(section.get("senior_abbreviations", [])))
