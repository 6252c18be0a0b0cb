"""Dispatch inside the sandbox: the exact type is sniffed again from the bytes."""

from __future__ import annotations

from portal.evidence import images, office, pdf, sniff
from portal.evidence.limits import Limits
from portal.evidence.results import Unsafe


def convert(family: str, data: bytes, limits: Limits) -> tuple[bytes, str, list[str], int]:
    kind = sniff.sniff(data)
    if family == "pdf":
        return pdf.convert(data, limits)
    if family == "image" and kind in sniff.IMAGES:
        return images.convert(data, kind, limits)
    if family == "office" and kind is not None:
        return office.convert(data, kind, limits)
    raise Unsafe("This kind of file is not converted; only the original is available.")
