"""Safe copies of evidence files, made in a confined child process.

`make_safe_copy(data)` returns `Converted` (the copy, its type, what was removed, pages)
or `Refused` (a sentence for the reviewer). The original is never changed: it stays the
evidence. `describe_removed` turns the removed list into one sentence, and
`safe_file_name` makes an uploaded name safe to show. Nothing here parses the file in
the calling process: only the magic bytes are looked at before the sandbox starts.
"""

from __future__ import annotations

from portal.evidence import sniff
from portal.evidence.limits import Limits
from portal.evidence.names import SafeName, safe_file_name
from portal.evidence.results import Converted, Refused
from portal.evidence.sandbox import run

__all__ = [
    "SUPPORTED", "Converted", "Limits", "Refused", "SafeName", "describe_removed", "make_safe_copy", "safe_file_name",
]

SUPPORTED = "PDF documents, photos (JPEG, PNG, WebP, GIF, TIFF) and Word, Excel and PowerPoint files (.docx, .xlsx, .pptx)"


def make_safe_copy(data: bytes, *, limits: Limits | None = None) -> Converted | Refused:
    limits = limits or Limits()
    family = sniff.family(data)
    if family is None:
        return Refused(f"This kind of file cannot be converted; safe copies are made of {SUPPORTED}.")
    if len(data) > limits.input_bytes:
        return Refused("The file is too large to convert safely; only the original is available.")
    return run(family, data, limits)


def describe_removed(removed: list[str]) -> str:
    """["author name", "3 comments", "GPS location"] -> "Removed: author name, 3 comments and GPS location." """
    if not removed:
        return "Nothing hidden was found; the copy was rebuilt from the content alone."
    items = [r.strip() for r in removed if r.strip()]
    listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    return f"Removed: {listed}."
