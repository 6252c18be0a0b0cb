"""portal.triage.sanitise: metadata removed from evidence copies; hostile files refused, never a crash."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pikepdf
import pytest
from PIL import ExifTags, Image, PngImagePlugin

from portal.triage import sanitise as sanitise_module
from portal.triage.sanitise import CannotSanitise, kind_of, sanitise

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SECRET = "Jane Reporter"


def jpeg_with_exif(size=(64, 48), orientation: int | None = None) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    for x in range(size[0] // 2):  # a left half of another colour, to check orientation
        for y in range(size[1]):
            image.putpixel((x, y), (20, 20, 220))
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = SECRET
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Handset 9"
    exif[ExifTags.Base.ImageDescription] = "Desk of " + SECRET
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 12.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (0.0, 7.0, 40.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=95)
    return out.getvalue()


def test_jpeg_exif_and_gps_are_removed():
    original = jpeg_with_exif()
    with Image.open(io.BytesIO(original)) as check:  # the fixture really has the metadata
        exif = check.getexif()
        assert exif[ExifTags.Base.Artist] == SECRET
        assert exif.get_ifd(ExifTags.IFD.GPSInfo)
    assert SECRET.encode() in original

    clean = sanitise(original, "image/jpeg")
    assert SECRET.encode() not in clean and b"PhoneMaker" not in clean
    assert b"Exif" not in clean
    with Image.open(io.BytesIO(clean)) as image:
        assert image.format == "JPEG"
        assert image.size == (64, 48)
        assert dict(image.getexif()) == {}
        assert "exif" not in image.info and "xmp" not in image.info and "icc_profile" not in image.info
        assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)


def test_jpeg_keeps_its_visible_orientation():
    original = jpeg_with_exif(orientation=6)  # rotate 90 degrees clockwise to display
    with Image.open(io.BytesIO(original)) as image:
        shown = Image.Image.transpose(image.convert("RGB"), Image.Transpose.ROTATE_270)
    clean = sanitise(original, "image/jpeg")
    with Image.open(io.BytesIO(clean)) as image:
        assert image.size == (48, 64)
        assert dict(image.getexif()) == {}
        top, bottom = image.getpixel((24, 2)), image.getpixel((24, 61))
        assert top == pytest.approx(shown.getpixel((24, 2)), abs=40)
        assert bottom == pytest.approx(shown.getpixel((24, 61)), abs=40)


def test_png_text_chunks_are_removed():
    image = Image.new("RGBA", (32, 20), (10, 200, 10, 128))
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", SECRET)
    info.add_text("Comment", "taken at the station", zip=True)
    info.add_itxt("Description", "Über " + SECRET, lang="de")
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    original = out.getvalue()
    with Image.open(io.BytesIO(original)) as check:
        assert check.text["Author"] == SECRET

    clean = sanitise(original, "image/png")
    for chunk in (b"tEXt", b"zTXt", b"iTXt", b"eXIf"):
        assert chunk not in clean
    assert SECRET.encode() not in clean
    with Image.open(io.BytesIO(clean)) as result:
        assert result.format == "PNG" and result.size == (32, 20) and result.mode == "RGBA"
        assert result.text == {}
        assert result.getpixel((5, 5)) == (10, 200, 10, 128)


def test_palette_png_keeps_its_colours():
    image = Image.new("P", (8, 8))
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    image.putpixel((3, 3), 1)
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", SECRET)
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    clean = sanitise(out.getvalue(), "image/png")
    assert SECRET.encode() not in clean
    with Image.open(io.BytesIO(clean)) as result:
        assert result.convert("RGB").getpixel((3, 3)) == (255, 0, 0)
        assert result.convert("RGB").getpixel((0, 0)) == (0, 0, 0)


@pytest.mark.parametrize("fmt, ctype", [("GIF", "image/gif"), ("WEBP", "image/webp"), ("TIFF", "image/tiff")])
def test_other_image_formats(fmt, ctype):
    image = Image.new("RGB", (16, 12), (1, 2, 3))
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = SECRET
    out = io.BytesIO()
    kwargs = {"exif": exif} if fmt in ("WEBP", "TIFF") else {"comment": SECRET.encode()}
    image.save(out, format=fmt, **kwargs)
    assert SECRET.encode() in out.getvalue()
    clean = sanitise(out.getvalue(), ctype)
    assert SECRET.encode() not in clean
    with Image.open(io.BytesIO(clean)) as result:
        assert result.format == fmt and result.size == (16, 12)


def make_pdf() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    pdf.docinfo["/Author"] = SECRET
    pdf.docinfo["/Creator"] = "Force Word Processor"
    pdf.docinfo["/Title"] = "Statement"
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:creator"] = [SECRET]
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_pdf_docinfo_and_xmp_are_removed():
    original = make_pdf()
    with pikepdf.open(io.BytesIO(original)) as check:
        assert str(check.docinfo["/Author"]) == SECRET
        assert "/Metadata" in check.Root

    clean = sanitise(original, "application/pdf")
    assert SECRET.encode() not in clean and b"Force Word Processor" not in clean
    with pikepdf.open(io.BytesIO(clean)) as pdf:
        assert len(pdf.pages) == 1
        assert "/Author" not in pdf.docinfo and "/Creator" not in pdf.docinfo
        assert "/Metadata" not in pdf.Root
    assert sanitise(original, "application/pdf") == clean  # deterministic: no fresh document id each time


def make_docx(extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        )
        z.writestr(
            "word/document.xml", "<w:document><w:body><w:p><w:r><w:t>The statement text</w:t></w:r></w:p></w:body></w:document>"
        )
        z.writestr(
            "docProps/core.xml",
            (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
                'xmlns:dc="http://purl.org/dc/elements/1.1/">'
                f"<dc:creator>{SECRET}</dc:creator><cp:lastModifiedBy>{SECRET}</cp:lastModifiedBy>"
                "<cp:revision>7</cp:revision></cp:coreProperties>"
            ),
        )
        z.writestr(
            "docProps/app.xml", "<Properties><Company>Northshire Police HQ</Company><Manager>Supt X</Manager></Properties>"
        )
        z.writestr("docProps/custom.xml", f"<Properties><property name='owner'>{SECRET}</property></Properties>")
        z.writestr("customXml/item1Props.xml", f"<ds:datastoreItem>{SECRET}</ds:datastoreItem>")
        for name, body in (extra or {}).items():
            z.writestr(name, body)
    return out.getvalue()


def _unzipped(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def test_docx_properties_are_blanked():
    original = make_docx()
    clean = sanitise(original, DOCX)
    files = _unzipped(clean)
    assert SECRET.encode() not in b"".join(files.values())
    assert b"Northshire Police HQ" not in b"".join(files.values())
    assert b"<dc:creator>" not in files["docProps/core.xml"]
    assert b"coreProperties" in files["docProps/core.xml"]  # still a valid, empty part
    assert "docProps/custom.xml" not in files and "customXml/item1Props.xml" not in files
    assert files["word/document.xml"] == _unzipped(original)["word/document.xml"]
    assert "[Content_Types].xml" in files
    with zipfile.ZipFile(io.BytesIO(clean)) as z:
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in z.infolist())  # no editing times


def test_ooxml_unpacked_size_is_limited(monkeypatch):
    monkeypatch.setattr(sanitise_module, "MAX_UNZIPPED_BYTES", 10_000)
    bomb = make_docx({"word/media/zeros.bin": b"\0" * 50_000})
    assert len(bomb) < 10_000  # small on the wire, big unpacked
    with pytest.raises(CannotSanitise):
        sanitise(bomb, DOCX)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_claiming(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("width, height", [(100_000, 100_000), (10_000, 10_000), (80_000_001, 1)])
def test_decompression_bomb_is_refused(width, height):
    bomb = png_claiming(width, height)
    assert len(bomb) < 200
    with pytest.raises(CannotSanitise):
        sanitise(bomb, "image/png")


@pytest.mark.parametrize("size", [(40, 30), (60, 40)])  # just over the limit (Pillow only warns), and twice over
def test_pixel_limit_is_enforced_for_a_well_formed_image(monkeypatch, size):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored afterwards
    monkeypatch.setattr(sanitise_module, "MAX_IMAGE_PIXELS", 1000)
    out = io.BytesIO()
    Image.new("RGB", size, (5, 5, 5)).save(out, format="PNG")
    with pytest.raises(CannotSanitise):
        sanitise(out.getvalue(), "image/png")


def test_truncated_image_is_refused():
    data = jpeg_with_exif()
    with pytest.raises(CannotSanitise):
        sanitise(data[: len(data) // 2], "image/jpeg")


@pytest.mark.parametrize("ctype", ["image/jpeg", "image/png", "image/gif", "image/webp", "image/tiff", "application/pdf", DOCX])
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage bytes, not a file at all" * 10,
        b"\x00" * 1000,
        b"PK\x03\x04" + b"\xff" * 100,
        b"%PDF-1.7\n" + b"\xff" * 100,
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 50,
    ],
)
def test_garbage_is_refused(ctype, data):
    with pytest.raises(CannotSanitise):
        sanitise(data, ctype)


def test_a_file_of_another_type_is_refused():
    with pytest.raises(CannotSanitise):
        sanitise(make_pdf(), "image/jpeg")
    with pytest.raises(CannotSanitise):
        sanitise(jpeg_with_exif(), "application/pdf")


def test_unsupported_types_are_refused():
    for ctype in ("text/plain", "image/svg+xml", "text/html", "application/zip", ""):
        with pytest.raises(CannotSanitise):
            sanitise(b"anything", ctype)


def test_too_large_is_refused(monkeypatch):
    monkeypatch.setattr(sanitise_module, "MAX_SANITISE_BYTES", 100)
    with pytest.raises(CannotSanitise):
        sanitise(jpeg_with_exif(), "image/jpeg")


@pytest.mark.parametrize(
    "name, declared, expected",
    [
        ("photo.jpg", "image/jpeg", "image/jpeg"),
        ("photo.JPEG", "", "image/jpeg"),
        ("photo", "image/png; charset=binary", "image/png"),
        ("scan.pdf", "application/octet-stream", "application/pdf"),
        ("letter.docx", "", DOCX),
        ("sheet.xlsx", "", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("notes.txt", "text/plain", None),
        ("drawing.svg", "image/svg+xml", None),
        ("page.html", "text/html", None),
        ("archive.zip", "application/zip", None),
        ("old.doc", "application/msword", None),
    ],
)
def test_kind_of(name, declared, expected):
    assert kind_of(name, declared) == expected
