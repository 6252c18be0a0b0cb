"""The type of a file, decided from its first bytes (and, for OOXML, its zip directory).

The name and the declared type come from the uploader and are never trusted for this.
"""

from __future__ import annotations

import io
import zipfile

PDF = "application/pdf"
PNG, JPEG, GIF, WEBP, TIFF = "image/png", "image/jpeg", "image/gif", "image/webp", "image/tiff"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
IMAGES = (PNG, JPEG, GIF, WEBP, TIFF)
OFFICE = {"word/": DOCX, "xl/": XLSX, "ppt/": PPTX}  # the main part's folder names the kind


def family(data: bytes) -> str | None:
    """"pdf", "image" or "office" from the magic bytes alone: cheap enough for the web worker."""
    kind = _magic(data)
    if kind == "zip":
        return "office"
    return "pdf" if kind == PDF else "image" if kind in IMAGES else None


def sniff(data: bytes) -> str | None:
    """The content type the bytes are, or None when we do not convert this kind (in the sandbox:
    for a zip it reads the central directory)."""
    kind = _magic(data)
    return _office(data) if kind == "zip" else kind


def _magic(data: bytes) -> str | None:
    head = data[:16]
    if b"%PDF-" in data[:1024]:  # readers accept a little junk before the header; so must the sniffer
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    return None


def _office(data: bytes) -> str | None:
    """Reads only the zip's central directory (names), never an entry's content."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    if "[Content_Types].xml" not in names or len(names) > 100_000:
        return None
    for folder, kind in OFFICE.items():
        if any(n.startswith(folder) for n in names):
            return kind
    return None
