"""Images re-encoded from decoded pixels, so nothing but the pixels survives.

The size comes from the header (Pillow's open is lazy) and is checked before any pixel
is decoded: a 30 KB PNG can claim 400 million pixels. EXIF (with GPS, camera and
dates), XMP, ICC profiles, comments, text chunks and thumbnails are all left behind;
what was there is named for the reviewer. Only the first frame of an animation is kept.
"""

from __future__ import annotations

import io

from PIL import ExifTags, Image, ImageOps

from portal.evidence.limits import Limits
from portal.evidence.results import Unsafe

_GPS_IFD, _EXIF_IFD = 0x8825, 0x8769
_MAKE, _MODEL, _DATETIME, _DATETIME_ORIGINAL = 0x010F, 0x0110, 0x0132, 0x9003
_TEXT_KEYS = {"comment", "Comment", "Description", "Author", "Title", "Software", "parameters", "Copyright"}


def convert(data: bytes, content_type: str, limits: Limits) -> tuple[bytes, str, list[str], int]:
    Image.MAX_IMAGE_PIXELS = limits.max_image_pixels  # Pillow's own check, behind ours
    try:
        source = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise Unsafe(_too_large()) from exc
    with source:
        width, height = source.size
        if width < 1 or height < 1 or width * height > limits.max_image_pixels:
            raise Unsafe(_too_large(width, height))
        removed = findings(source)
        if getattr(source, "n_frames", 1) > 1:
            removed.append("animation (only the first frame is kept)")
        upright = ImageOps.exif_transpose(source) or source  # keep the visible orientation once EXIF is gone
        clean = _pixels_only(upright)
    keep_jpeg = content_type == "image/jpeg" and clean.mode in ("RGB", "L")
    buffer = io.BytesIO()
    if keep_jpeg:
        clean.save(buffer, format="JPEG", quality=90)
    else:
        clean.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue(), "image/jpeg" if keep_jpeg else "image/png", removed, 1


def _too_large(width: int = 0, height: int = 0) -> str:
    size = f" ({width:,} x {height:,} pixels)" if width else ""
    return f"The image is too large to convert safely{size}; only the original is available."


def findings(image: Image.Image) -> list[str]:
    found = []
    exif = image.getexif()
    if exif.get_ifd(_GPS_IFD):
        found.append("GPS location")
    if exif.get(_MAKE) or exif.get(_MODEL):
        found.append("camera make/model")
    if exif.get(_DATETIME) or exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL):
        found.append("date taken")
    if len(exif) and not found:
        found.append("camera data (EXIF)")
    if len(exif) and exif.get_ifd(ExifTags.IFD.IFD1):
        found.append("thumbnail")
    info = image.info
    if any(k in info for k in ("xmp", "XML:com.adobe.xmp")):
        found.append("XMP metadata")
    if info.get("icc_profile"):
        found.append("colour profile")
    texts = [k for k in info if k in _TEXT_KEYS or (isinstance(info[k], str) and k not in ("xmp", "XML:com.adobe.xmp"))]
    if texts:
        found.append("text notes" if len(texts) > 1 else "a text note")
    return found


def _pixels_only(image: Image.Image) -> Image.Image:
    """A fresh image holding only the decoded pixels (no info, no palette tricks)."""
    image.load()
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        mode = "RGBA"
    elif image.mode in ("L", "1", "I;16", "I", "F"):
        mode = "L"
    else:
        mode = "RGB"
    converted = image.convert(mode) if image.mode != mode else image
    clean = Image.new(mode, converted.size)
    clean.paste(converted)
    return clean
