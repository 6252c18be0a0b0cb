"""How people write a police officer's name and number, reduced to comparable forms.

Pure text functions (no keys, no database): portal.triage.subjects blind-indexes what they return.
A name is read as given names and a surname, whichever way round it was written ("O'Neill, John",
"ONEILL John", "John O'Neill"); Irish and Scottish particles are joined ("O Neill", "Mc Donald");
common short forms map to one first name. Phonetic codes are Double Metaphone (the `metaphone`
package), so "Smyth" meets "Smith" and "O'Neil" meets "O'Neill". A collar or staff number loses a
rank or "No." prefix ("PC 4471", "#4471", "Sgt No. 4471" are all 4471), keeps a force or letter
prefix (which also yields a digits-only form for a looser match).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from metaphone import doublemetaphone

RANK_WORDS = {
    "pc", "psc", "dc", "ds", "di", "dci", "dsi", "dcs", "ps", "sgt", "sergeant", "insp", "inspector", "ch", "chief",
    "supt", "superintendent", "constable", "detective", "officer", "mr", "mrs", "ms", "miss", "dr", "acting", "a",
    "temporary", "t", "special", "commander", "cdr", "acc", "dcc", "cc", "police", "staff", "pcso",
}
# Common short forms of first names, so "Jim Smith" and "James Smith" link.
NAME_FORMS = {
    "jim": "james", "jimmy": "james", "jamie": "james", "bob": "robert", "rob": "robert", "bobby": "robert",
    "robbie": "robert", "bill": "william", "will": "william", "billy": "william", "liam": "william",
    "mike": "michael", "mick": "michael", "micky": "michael", "dave": "david", "davy": "david",
    "steve": "stephen", "steven": "stephen", "chris": "christopher", "tom": "thomas", "tommy": "thomas",
    "tony": "anthony", "andy": "andrew", "drew": "andrew", "rick": "richard", "rich": "richard",
    "dick": "richard", "ricky": "richard", "pete": "peter", "joe": "joseph", "joey": "joseph",
    "dan": "daniel", "danny": "daniel", "matt": "matthew", "nick": "nicholas", "sam": "samuel",
    "ben": "benjamin", "alex": "alexander", "ed": "edward", "eddie": "edward", "ted": "edward",
    "jon": "jonathan", "johnny": "john", "jack": "john", "greg": "gregory", "phil": "philip",
    "kate": "katherine", "katie": "katherine", "kathy": "katherine", "cathy": "katherine",
    "catherine": "katherine", "liz": "elizabeth", "beth": "elizabeth", "lizzie": "elizabeth",
    "sue": "susan", "suzy": "susan", "jen": "jennifer", "jenny": "jennifer", "becky": "rebecca",
    "becca": "rebecca", "vicky": "victoria", "vic": "victoria", "mandy": "amanda", "sally": "sarah",
    "sara": "sarah", "steph": "stephanie", "jo": "joanne", "maggie": "margaret", "meg": "margaret",
    "debbie": "deborah", "deb": "deborah", "nicky": "nicola", "pat": "patrick", "paddy": "patrick",
    "gerry": "gerald", "ken": "kenneth", "kenny": "kenneth", "len": "leonard", "ron": "ronald",
    "don": "donald", "stu": "stuart", "stewart": "stuart", "si": "simon", "tim": "timothy",
    "ollie": "oliver", "charlie": "charles", "chas": "charles", "fred": "frederick", "harry": "henry",
}
PARTICLES = {"o", "mc", "mac"}  # "O Neill" -> "oneill", "Mc Donald" -> "mcdonald"
# Words written before a collar or staff number that are not part of it ("PC 4471", "Sgt No. 4471").
NUMBER_PREFIXES = (RANK_WORDS - {"a", "t", "ch", "mr", "mrs", "ms", "miss", "dr"}) | {
    "no", "num", "number", "nr", "collar", "warrant", "badge", "id", "shoulder", "epaulette", "ref",
}
APOSTROPHES = re.compile(r"['’‘ʼ`´′]")
DASHES = re.compile(r"[‐‑‒–—―]")  # "Smith–Jones" is hyphenated however the dash was typed


def fold(text: str) -> str:
    """Lower case without accents: 'Núñez' -> 'nunez'. Invisible format characters (a zero-width
    space inside "Jo\u200bhn" split the word and slipped past a declared conflict) are dropped, and
    digits of any script read as ASCII digits ('٤٤٧١' -> '4471')."""
    text = unicodedata.normalize("NFKD", text)
    kept = []
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) == "Cf":
            continue
        kept.append(str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch)
    return "".join(kept).lower()


def normalise_name(raw: str) -> str:
    """'Sgt. John O'Neill' -> 'john oneill', in the order written. Empty when nothing identifying is left."""
    folded = APOSTROPHES.sub("", fold(raw))
    tokens = [t for t in re.split(r"[^a-z0-9]+", folded) if t]
    tokens = [t for t in tokens if t not in RANK_WORDS and not t.isdigit()]
    return " ".join(NAME_FORMS.get(t, t) for t in tokens)


INTRA_WORD_DOT = re.compile(r"(?<=[^\W\d_])\.(?=[^\W\d_]{2})")
MAX_RUN_TOKENS = 12  # a name box is short: only its first words are read for contained names
MAX_RUNS = 60


def contained_names(raw: str) -> set[str]:
    """Every contiguous run of two or more words of the normalised name, the whole one included
    ("Marta Kowalczyk (PSD)" -> "marta kowalczyk", "kowalczyk psd", ...), also read with dots inside
    a word dropped ("Marta K.owalczyk"), so a declared name is found inside whatever else the box holds.
    Bounded: the first MAX_RUN_TOKENS words, at most MAX_RUNS runs."""
    runs: set[str] = set()
    for text in (raw[:200], INTRA_WORD_DOT.sub("", raw[:200])):
        tokens = normalise_name(text).split()[:MAX_RUN_TOKENS]
        for length in range(2, len(tokens) + 1):
            for start in range(len(tokens) - length + 1):
                if len(runs) >= MAX_RUNS:
                    return runs
                runs.add(" ".join(tokens[start:start + length]))
    return runs


def normalise_identifier(raw: str) -> str:
    """Collar or staff number as written: letters and digits only, upper case, leading zeros kept."""
    return re.sub(r"[^A-Z0-9]", "", fold(raw).upper())


@dataclass(frozen=True)
class ParsedName:
    given: tuple[str, ...]  # first and middle names or initials, folded, in order
    surname: tuple[str, ...]  # the parts of the surname ("smith", "jones" for Smith-Jones)

    @property
    def full_tokens(self) -> list[str]:
        """Tokens of two letters or more (initials do not identify on their own)."""
        return [t for t in (*self.given, *self.surname) if len(t) >= 2]


def _words(text: str) -> list[tuple[str, bool]]:
    """(folded word, was written in capitals) pairs, rank words, numbers and particles dealt with."""
    words: list[tuple[str, bool]] = []
    joinable = False  # the last word is a particle written as one ("O Neill"), not an initial ("O. Smith")
    for match in re.finditer(r"([^\W_]|['’‘ʼ`´′-])+(\.?)", text):
        raw, initial = APOSTROPHES.sub("", match.group(0).rstrip(".")), bool(match.group(2))
        for part in (p for p in raw.split("-") if p):
            word = re.sub(r"[^a-z]", "", fold(part))
            if not word or word in RANK_WORDS and not (len(word) == 1 and part.isupper()):
                continue
            capitals = len(part) > 1 and part.isupper()
            if joinable and len(word) > 1:
                words[-1] = (words[-1][0] + word, capitals or words[-1][1])
                joinable = False
            else:
                words.append((word, capitals))
                joinable = word in PARTICLES and not initial
    return [(w, c) for w, c in words if w not in PARTICLES or len(words) == 1 or len(w) == 1]


def parse_name(raw: str) -> ParsedName:
    """Given names and surname, whichever way round: a comma or a surname in capitals marks it."""
    raw = DASHES.sub("-", "".join(ch for ch in raw[:200] if unicodedata.category(ch) != "Cf"))
    if "," in raw:
        surname_part, _, given_part = raw.partition(",")
        surname = [w for w, _ in _words(surname_part)]
        given = [w for w, _ in _words(given_part)]
        if surname and given:
            return ParsedName(tuple(given), tuple(surname))
        raw = raw.replace(",", " ")
    words = _words(raw)
    hyphenated = _hyphenated_tail(raw)
    capitals = [i for i, (_, upper) in enumerate(words) if upper]
    if len(words) >= 2 and len(capitals) == 1 and len(words) > 1 and not all(u for _, u in words):
        i = capitals[0]
        return ParsedName(tuple(w for j, (w, _) in enumerate(words) if j != i), (words[i][0],))
    if len(words) < 2:
        return ParsedName((), tuple(w for w, _ in words))
    split = max(1, len(words) - hyphenated)
    return ParsedName(tuple(w for w, _ in words[:split]), tuple(w for w, _ in words[split:]))


def _hyphenated_tail(raw: str) -> int:
    """How many parts the last written word has when it is hyphenated ("Smith-Jones": 2), else 1."""
    last = raw.strip().split()[-1] if raw.strip() else ""
    return max(1, len([p for p in last.split("-") if re.search(r"[^\W\d_]{2,}", p)]))


def canonical(token: str) -> str:
    return NAME_FORMS.get(token, token)


def phonetic(token: str) -> str:
    return doublemetaphone(token)[0] if token else ""


def name_set(name: ParsedName) -> str:
    """The full-name tokens in any order ('john oneill' for 'O'Neill, John'); '' under two tokens."""
    tokens = sorted(canonical(t) for t in name.full_tokens)
    return " ".join(tokens) if len(tokens) >= 2 else ""


def phonetic_keys(name: ParsedName) -> set[str]:
    """Double Metaphone of the whole name and of first name + last surname part, order-free,
    as written and with short forms expanded ("Jon" sounds like "John"; "Jim" is "James")."""
    keys: set[str] = set()
    tokens = name.full_tokens
    if len(tokens) < 2:
        return keys
    for form in (lambda t: t, canonical):
        codes = [phonetic(form(t)) for t in tokens]
        if all(codes):
            keys.add(" ".join(sorted(codes)))
        first = next((t for t in name.given if len(t) >= 2), "")
        if first and name.surname:
            pair = [phonetic(form(first)), phonetic(name.surname[-1])]
            if all(pair):
                keys.add("pair " + " ".join(sorted(pair)))
    return keys


def initial_keys(name: ParsedName) -> set[str]:
    """First initial + how the surname sounds ('j ANL' for 'J. ONeil'), for each surname part."""
    if not name.given or not name.surname:
        return set()
    initials = {name.given[0][0], canonical(name.given[0])[0]}
    parts = set(name.surname) | ({"".join(name.surname)} if len(name.surname) > 1 else set())
    return {f"{i} {phonetic(p)}" for i in initials for p in parts if len(p) >= 2 and phonetic(p)}


def _is_prefix_run(letters: str) -> bool:
    """Can these letters be read as prefix words run together ("PCNO" = PC + No)?"""
    if not letters:
        return True
    return any(letters.startswith(p) and _is_prefix_run(letters[len(p):]) for p in NUMBER_PREFIXES)


def number_core(raw: str) -> str:
    """'PC 4471' -> '4471', 'Sgt No. 4471' -> '4471', 'WMP 4471' -> 'WMP4471', 'E12345' -> 'E12345'."""
    compact = normalise_identifier(raw).lower()
    match = re.match(r"[a-z]+", compact)
    if match and _is_prefix_run(match.group(0)) and len(compact) > match.end():
        compact = compact[match.end():]
    return compact.upper()


def number_digits(raw: str) -> str:
    """The digits of the number only, without leading zeros ('WMP 04471' -> '4471'), for a
    'possible' match across prefixes and ways of writing it."""
    digits = re.sub(r"\D", "", number_core(raw))
    return digits.lstrip("0") or digits
