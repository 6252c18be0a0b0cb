"""PDF to pixels and back, the way Dangerzone does it: each page rendered by PDFium to a
bitmap, the bitmaps re-encoded as JPEG by Pillow and placed one per page in a new PDF.

The copy carries no script, action, link, annotation, font, metadata or embedded file of
the original: it is built from pixels only. Limits are checked before the work: the
objects the cross-reference data declares (a bounded byte scan), the page count (PDFium
reads /Count, cheap even for a page-tree bomb), and the pixels of each page.
"""

from __future__ import annotations

import io
import math
import re

import pikepdf
import pypdfium2 as pdfium

from portal.evidence import pdf_scan
from portal.evidence.limits import Limits
from portal.evidence.results import Unsafe

_SIZE = re.compile(rb"/Size\s+(\d{1,12})")
_OBJSTM_COUNT = re.compile(rb"/N\s+(\d{1,12})")
JPEG_QUALITY = 80


def convert(data: bytes, limits: Limits) -> tuple[bytes, str, list[str], int]:
    _check_objects(data, limits)
    document = pdfium.PdfDocument(data)
    try:
        pages = len(document)
        if pages < 1:
            raise Unsafe("The PDF has no pages.")
        if pages > limits.max_pages:
            raise Unsafe(f"The PDF has {pages:,} pages; safe copies are made of documents up to {limits.max_pages} pages.")
        removed = pdf_scan.findings(data)
        return _rebuild(document, pages, limits), "application/pdf", removed, pages
    finally:
        document.close()


def _check_objects(data: bytes, limits: Limits) -> None:
    """The largest /Size any cross-reference section declares, and the objects object streams hold."""
    declared = max((int(m) for m in _SIZE.findall(data)), default=0)
    in_streams = sum(int(m) for m in _OBJSTM_COUNT.findall(data))
    plain = data.count(b" obj")  # what a reader rebuilding a broken cross-reference table would find
    count = max(declared, in_streams, plain)
    if count > limits.max_objects:
        raise Unsafe(f"The PDF declares {count:,} objects, more than a safe copy handles "
                     f"({limits.max_objects:,}); only the original is available.")


def _rebuild(document: pdfium.PdfDocument, pages: int, limits: Limits) -> bytes:
    out = pikepdf.new()
    total = 0
    for index in range(pages):
        page = document[index]
        try:
            width, height = page.get_size()
            jpeg, pixel_size = _render(page, width, height, limits)
        finally:
            page.close()
        total += len(jpeg)
        if total > limits.output_bytes:
            raise Unsafe("The safe copy would be too large, so it was not made.")
        _add_page(out, jpeg, pixel_size, (width, height))
    buffer = io.BytesIO()
    out.save(buffer, deterministic_id=True)
    return buffer.getvalue()


def _render(page: pdfium.PdfPage, width: float, height: float, limits: Limits) -> tuple[bytes, tuple[int, int]]:
    if not (width > 0 and height > 0) or width > 200_000 or height > 200_000:
        raise Unsafe("A page of the PDF has an impossible size.")
    scale = limits.dpi / 72
    if width * height * scale * scale > limits.max_page_pixels:
        scale = math.sqrt(limits.max_page_pixels / (width * height))  # a huge page is rendered coarser, not refused
    bitmap = page.render(scale=scale, draw_annots=True, may_draw_forms=False)
    try:
        image = bitmap.to_pil().convert("RGB")
    finally:
        bitmap.close()
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=False)
    return buffer.getvalue(), image.size


def _add_page(out: pikepdf.Pdf, jpeg: bytes, pixels: tuple[int, int], points: tuple[float, float]) -> None:
    """One page: the JPEG as an image XObject stretched over the original page size."""
    width, height = points
    image = pikepdf.Stream(out, jpeg)
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height = pixels
    image.ColorSpace, image.BitsPerComponent, image.Filter = pikepdf.Name.DeviceRGB, 8, pikepdf.Name.DCTDecode
    content = pikepdf.Stream(out, f"q {width:.2f} 0 0 {height:.2f} 0 0 cm /Im0 Do Q".encode())
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, round(width, 2), round(height, 2)],
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image)),
        Contents=content,
    )
    out.pages.append(pikepdf.Page(page))
