"""Sanitised copies of evidence files: metadata removed, in memory only.

The original stays encrypted as evidence; reviewers can download either. The
copy is made from the decrypted bytes in memory and never written to disk.
Supported: JPEG, PNG, WebP, GIF and TIFF images (Pillow: pixels re-encoded
without EXIF, XMP, ICC comments or text chunks), PDF (pikepdf: document info
and XMP metadata removed), and Office Open XML documents (.docx, .xlsx, .pptx:
author, company and editing history in docProps replaced with blanks).
"""

from __future__ import annotations

import io
import zipfile

MAX_IMAGE_PIXELS = 80_000_000  # refuses decompression bombs (about 9000 x 9000)
MAX_SANITISE_BYTES = 64 * 1024 * 1024
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024

IMAGE_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF", "image/tiff": "TIFF"}
PDF_TYPES = {"application/pdf"}
OOXML_TYPES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
EXTENSIONS = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".gif": "image/gif",
    ".tif": "image/tiff", ".tiff": "image/tiff", ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
SUPPORTED_DESCRIPTION = "photos (JPEG, PNG, WebP, GIF, TIFF), PDF documents, and Word, Excel and PowerPoint files (.docx, .xlsx, .pptx)"

_BLANK_CORE = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    b'xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
)
_BLANK_APP = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"/>'
)


class CannotSanitise(Exception):
    """The file is of an unsupported type, damaged, or too large to process safely."""


def kind_of(name: str, declared_type: str) -> str | None:
    """The content type we will sanitise as, judged by the declared type or the extension."""
    declared = (declared_type or "").split(";")[0].strip().lower()
    if declared in IMAGE_TYPES or declared in PDF_TYPES or declared in OOXML_TYPES:
        return declared
    lower = name.lower()
    for extension, ctype in EXTENSIONS.items():
        if lower.endswith(extension):
            return ctype
    return None


def sanitise(data: bytes, content_type: str) -> bytes:
    if len(data) > MAX_SANITISE_BYTES:
        raise CannotSanitise("too large to sanitise")
    if content_type in IMAGE_TYPES:
        return _image(data, IMAGE_TYPES[content_type])
    if content_type in PDF_TYPES:
        return _pdf(data)
    if content_type in OOXML_TYPES:
        return _ooxml(data)
    raise CannotSanitise("unsupported type")


def _image(data: bytes, fmt: str) -> bytes:
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise CannotSanitise("image too large")
            img = ImageOps.exif_transpose(img)  # keep the visible orientation once EXIF is gone
            clean = Image.new(img.mode, img.size)
            # paste() copies the pixels (palette indices too) in C: putdata(list(getdata())) built a Python list
            # of every pixel, about 0.7 GB and 3 s for a 60 KB palette PNG of 8000 x 8000.
            clean.paste(img)
            if img.mode == "P" and img.getpalette():
                clean.putpalette(img.getpalette())
            out = io.BytesIO()
            save_mode = clean.convert("RGB") if fmt == "JPEG" and clean.mode not in ("RGB", "L") else clean
            save_mode.save(out, format=fmt)
            return out.getvalue()
    except CannotSanitise:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise CannotSanitise("image too large") from exc
    except Exception as exc:  # damaged or hostile image
        raise CannotSanitise("image could not be read") from exc


def _pdf(data: bytes) -> bytes:
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            if len(pdf.pages) > 5000:
                raise CannotSanitise("too many pages")
            if "/Metadata" in pdf.Root:
                del pdf.Root.Metadata
            if "/Info" in pdf.trailer:
                del pdf.trailer.Info
            out = io.BytesIO()
            # Copy every stream as it is (never decode or recompress): metadata removal needs neither, and
            # decoding let 4 KB of nested FlateDecode expand to 2 GiB (12 s, more for a bigger bomb).
            pdf.save(out, fix_metadata_version=False, deterministic_id=True, compress_streams=False,
                     stream_decode_level=pikepdf.StreamDecodeLevel.none)
            return out.getvalue()
    except CannotSanitise:
        raise
    except Exception as exc:
        raise CannotSanitise("PDF could not be read") from exc


def _ooxml(data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as source:
            if sum(i.file_size for i in source.infolist()) > MAX_UNZIPPED_BYTES or len(source.infolist()) > 10_000:
                raise CannotSanitise("document too large when unpacked")
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
                for info in source.infolist():
                    name = info.filename
                    if name == "docProps/core.xml":
                        body = _BLANK_CORE
                    elif name == "docProps/app.xml":
                        body = _BLANK_APP
                    elif name == "docProps/custom.xml" or name.startswith("customXml/") and name.endswith("Props.xml"):
                        continue
                    else:
                        body = source.read(info)
                    clean = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                    clean.compress_type = zipfile.ZIP_DEFLATED
                    target.writestr(clean, body)
            return out.getvalue()
    except CannotSanitise:
        raise
    except Exception as exc:
        raise CannotSanitise("document could not be read") from exc
