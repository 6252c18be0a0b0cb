"""Images: rebuilt from pixels, with what the original carried named for the reviewer."""

from __future__ import annotations

import io

from PIL import Image

from portal.evidence import Converted, make_safe_copy, sniff


def _jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (40, 30), "red")
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = "Acme", "Phone 9", "2024:01:01 10:00:00"
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, icc_profile=b"\x00" * 128, comment=b"shot by PC 1234")
    return out.getvalue()


def test_jpeg_loses_exif_gps_icc_and_comment():
    result = make_safe_copy(_jpeg_with_exif())
    assert isinstance(result, Converted) and result.content_type == "image/jpeg"
    assert result.removed[:3] == ["GPS location", "camera make/model", "date taken"]
    assert "colour profile" in result.removed
    with Image.open(io.BytesIO(result.data)) as clean:
        assert clean.size == (40, 30) and not clean.getexif() and "icc_profile" not in clean.info
        assert "comment" not in clean.info
    assert b"Acme" not in result.data and b"PC 1234" not in result.data


def test_png_text_is_dropped_and_pixels_kept():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), (1, 2, 3, 128)).save(out, "PNG", pnginfo=info)
    result = make_safe_copy(out.getvalue())
    assert isinstance(result, Converted) and result.content_type == "image/png" and result.removed == ["a text note"]
    assert b"Jane Doe" not in result.data
    with Image.open(io.BytesIO(result.data)) as clean:
        assert clean.getpixel((0, 0)) == (1, 2, 3, 128)


def test_the_type_comes_from_the_bytes():
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "GIF")
    assert sniff.sniff(out.getvalue()) == "image/gif"
    assert sniff.family(b"%PDF-1.7\n") == "pdf" and sniff.family(b"not a file") is None
