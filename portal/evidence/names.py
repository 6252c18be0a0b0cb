"""File names from either interface, made safe to show.

A name is text chosen by whoever uploaded the file: a right-to-left override turns
"Statement_<RLO>fdp.exe" into "Statement_exe.pdf" on screen. We keep NFC text without
control or format characters (bidi controls included) or path separators, cap the
length, and return the extension apart: it is shown, never trusted for the type.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MAX_NAME = 120
MAX_EXTENSION = 10
_SEPARATORS = {"/", "\\", "\u2215", "\u2044", "\u29f8", "\uff0f", "\uff3c"}  # and look-alikes


@dataclass(frozen=True)
class SafeName:
    stem: str
    extension: str  # without the dot, lower case; "" when none

    def __str__(self) -> str:
        return f"{self.stem}.{self.extension}" if self.extension else self.stem


def _clean(text: str) -> str:
    kept = []
    for char in unicodedata.normalize("NFC", text):
        if char in _SEPARATORS:
            kept.append("_")
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            continue
        elif char.isspace():
            kept.append(" ")
        else:
            kept.append(char)
    # Removing characters can leave a sequence that composes differently: normalise again.
    return " ".join(unicodedata.normalize("NFC", "".join(kept)).split())


def safe_file_name(raw: str | bytes | None) -> SafeName:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    name = _once(raw or "")
    for _ in range(3):  # cutting and stripping can expose a new edge; settle so the result is a fixed point
        again = _once(str(name))
        if again == name:
            break
        name = again
    return name


def _once(raw: str) -> SafeName:
    text = _clean(raw).strip(". ")
    stem, dot, extension = text.rpartition(".")
    if not dot or not stem.strip(". ") or len(extension) > MAX_EXTENSION or not extension.strip():
        stem, extension = text, ""
    stem = stem.strip(". ")[: MAX_NAME - len(extension) - 1].rstrip(". ") if extension else stem[:MAX_NAME].rstrip(". ")
    extension = _clean(extension).lower()
    stem = _clean(stem)
    if not stem:
        stem = "file"
    return SafeName(stem, extension)
