"""A hostile corpus for the evidence sanitiser, built in memory (also used by bench/evidence_bench.py).

Each builder returns bytes; the tests at the end check the files are what they claim,
so a test that sees them refused knows the bomb was real.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pikepdf
from PIL import Image
from support import active_pdf


def _pdf(objects: dict[int, bytes], objstm: dict[int, bytes], root: int) -> bytes:
    """A PDF 1.5 file: `objects` written plainly, `objstm` packed into one compressed object stream,
    with a cross-reference stream."""
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    stm_number = max([*objects, *objstm]) + 1
    xref_number = stm_number + 1
    for number, body in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    if objstm:
        header, payload, at = [], [], 0
        for number, body in objstm.items():
            header.append(b"%d %d" % (number, at))
            payload.append(body)
            at += len(body) + 1
        head = b" ".join(header) + b" "
        data = zlib.compress(head + b"\n".join(payload) + b"\n", 9 if len(objstm) < 1000 else 1)
        offsets[stm_number] = len(out)
        out += b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n" % (
            stm_number, len(objstm), len(head), len(data))
        out += data + b"\nendstream\nendobj\n"
    offsets[xref_number] = len(out)
    size = xref_number + 1
    row = struct.Struct(">BII").pack
    index_in_stream = {n: i for i, n in enumerate(objstm)}
    rows = b"".join(
        row(1, offsets[n], 0) if n in offsets else row(2, stm_number, index_in_stream[n]) if n in index_in_stream
        else row(0, 0, 65535)
        for n in range(size)
    )
    xref = zlib.compress(rows, 1)
    out += b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 4] /Root %d 0 R /Filter /FlateDecode /Length %d >>\nstream\n" % (
        xref_number, size, root, len(xref))
    out += xref + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % offsets[xref_number]
    return bytes(out)


def page_tree_bomb(copies: int = 1_000_000) -> bytes:
    """One page listed `copies` times in /Kids, inside a compressed object stream (about 9 KB)."""
    content = b"BT /F1 24 Tf 72 700 Td (hello) Tj ET"
    kids = b"3 0 R " * copies
    return _pdf(
        {4: b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content)},
        {1: b"<< /Type /Catalog /Pages 2 0 R >>",
         2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, copies),
         3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>"},
        root=1,
    )


def million_objects(count: int = 1_000_000) -> bytes:
    """An ordinary one-page PDF plus `count` small objects, all in one compressed object stream."""
    filler = {n: b"%d" % n for n in range(10, 10 + count)}
    return _pdf(
        {},
        {1: b"<< /Type /Catalog /Pages 2 0 R >>",
         2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
         3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>", **filler},
        root=1,
    )


def text_pdf(pages: int = 20) -> bytes:
    """An ordinary text document: `pages` pages of Helvetica."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                BaseFont=pikepdf.Name.Helvetica))
    for number in range(pages):
        lines = b"".join(b"(Line %d of page %d: the quick brown fox jumps over the lazy dog.) Tj T* " % (i, number)
                         for i in range(45))
        content = b"BT /F1 11 Tf 14 TL 56 760 Td " + lines + b"ET"
        page = pikepdf.Dictionary(Type=pikepdf.Name.Page, MediaBox=[0, 0, 595, 842],
                                  Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
                                  Contents=pdf.make_stream(content))
        pdf.pages.append(pikepdf.Page(page))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _raw_deflate_zeros(total: int) -> bytes:
    """Raw deflate of `total` zero bytes in milliseconds: one 1 MiB block, ended by a full flush
    (so it refers to nothing before it), repeated; then a final block for the remainder."""
    unit = 1 << 20
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = first.compress(bytes(unit)) + first.flush(zlib.Z_FULL_FLUSH)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    return block * (total // unit) + last.compress(bytes(total % unit)) + last.flush()


def _zlib_zeros(total: int) -> bytes:
    """zlib framing around _raw_deflate_zeros; the Adler-32 of n zeros is (n mod 65521) << 16 | 1."""
    return b"\x78\xda" + _raw_deflate_zeros(total) + struct.pack(">I", ((total % 65521) << 16) | 1)


def png_bomb(width: int = 8_900, height: int = 8_900) -> bytes:
    """RGBA, all zero: 317 MB of pixels in about 300 KB."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = _zlib_zeros((width * 4 + 1) * height)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def jpeg_bomb(width: int = 65_000, height: int = 65_000) -> bytes:
    """A 64 x 64 JPEG whose frame header claims 65,000 x 65,000 (libjpeg decodes it, padding grey: 12 GB)."""
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_bomb() -> bytes:
    """A lossless WebP whose header claims 16,384 x 16,384 pixels."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(out, "WEBP", lossless=True)
    data = bytearray(out.getvalue())
    vp8l = data.index(b"VP8L") + 8  # chunk body: signature 0x2f, then 14-bit width-1 and height-1
    bits = (16383) | (16383 << 14) | (int.from_bytes(data[vp8l + 1 : vp8l + 5], "little") & ~((1 << 28) - 1))
    data[vp8l + 1 : vp8l + 5] = bits.to_bytes(4, "little")
    return bytes(data)


def tiff_bomb(side: int = 20_000) -> bytes:
    """Grey, deflate-compressed, one strip: 400 MB of pixels in about 400 KB."""
    strip = _zlib_zeros(side * side)
    entries = [(256, 4, side), (257, 4, side), (258, 3, 8), (259, 3, 8), (262, 3, 1), (273, 4, 0),
               (277, 3, 1), (278, 4, side), (279, 4, len(strip))]
    ifd_size = 2 + 12 * len(entries) + 4
    strip_offset = 8 + ifd_size
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        value = strip_offset if tag == 273 else value
        ifd += struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + strip


W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
R_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    '<Override PartName="/word/comments.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.comments+xml"/>'
    '<Override PartName="/word/people.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.people+xml"/>'
    '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
    "</Types>"
)
PACKAGE_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="word/document.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" '
    'Target="docProps/core.xml"/></Relationships>'
)
DOCUMENT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId5" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/comments" '
    'Target="comments.xml"/>'
    '<Relationship Id="rId6" Type="http://schemas.microsoft.com/office/2011/relationships/people" Target="people.xml"/>'
    '<Relationship Id="rId7" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" '
    'Target="https://tracker.example/?u=1" TargetMode="External"/></Relationships>'
)
DOCUMENT = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {W_NS} {R_NS} '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml" mc:Ignorable="w14"><w:body>'
    '<w:p w:rsidR="00AB12CD"><w:commentRangeStart w:id="0"/><w:r><w:t>Kept text. </w:t></w:r>'
    '<w:ins w:id="1" w:author="Alice Author" w:date="2024-01-01T00:00:00Z"><w:r><w:t>Inserted text. </w:t></w:r></w:ins>'
    '<w:del w:id="2" w:author="Bob Reviewer" w:date="2024-01-02T00:00:00Z"><w:r><w:delText>SECRET DELETED</w:delText></w:r></w:del>'
    '<w:commentRangeEnd w:id="0"/><w:r><w:commentReference w:id="0"/></w:r>'
    '<w:hyperlink r:id="rId7"><w:r><w:t>Link text</w:t></w:r></w:hyperlink></w:p>'
    "</w:body></w:document>"
)
COMMENTS = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:comments {W_NS}>'
    + "".join(f'<w:comment w:id="{i}" w:author="Carol Commenter" w:initials="CC"><w:p><w:r><w:t>note {i}</w:t></w:r></w:p>'
              "</w:comment>" for i in range(3))
    + "</w:comments>"
)
PEOPLE = ('<?xml version="1.0" encoding="UTF-8"?><w15:people xmlns:w15="http://schemas.microsoft.com/office/word/2012/wordml">'
          '<w15:person w15:author="Carol Commenter"/></w15:people>')
CORE = ('<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties '
        'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Dave Creator</dc:creator>'
        "<cp:lastModifiedBy>Erin Editor</cp:lastModifiedBy></cp:coreProperties>")


def _zip(parts: dict[str, bytes | str], raw: dict[str, tuple[bytes, int, int]] | None = None) -> bytes:
    """A plain zip; `raw` adds entries given as (raw deflate data, crc32, uncompressed size)."""
    entries = {}
    for name, body in parts.items():
        body = body.encode() if isinstance(body, str) else body
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        entries[name] = (packer.compress(body) + packer.flush(), zlib.crc32(body), len(body))
    entries.update(raw or {})
    out, central = bytearray(), bytearray()
    for name, (data, crc, size) in entries.items():
        encoded = name.encode()
        fields = struct.pack("<HHHHHIII", 20, 0, 8, 0, 0x21, crc, len(data), size)
        central += b"PK\x01\x02" + struct.pack("<H", 20) + fields + struct.pack("<HHHHHII", len(encoded), 0, 0, 0, 0, 0, len(out))
        central += encoded
        out += b"PK\x03\x04" + fields + struct.pack("<HH", len(encoded), 0) + encoded + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(out), 0)
    return bytes(out + central + end)


def _docx_parts() -> dict[str, bytes | str]:
    return {"[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": PACKAGE_RELS, "word/document.xml": DOCUMENT,
            "word/_rels/document.xml.rels": DOCUMENT_RELS, "word/comments.xml": COMMENTS, "word/people.xml": PEOPLE,
            "docProps/core.xml": CORE}


def people_docx() -> bytes:
    """3 comments, tracked changes by 2 people, a people part, author names, an external link, an rsid."""
    return _zip(_docx_parts())


def zip_bomb_docx(unpacked: int = 1 << 30) -> bytes:
    """A docx with a 1 GiB part of zeros (about 1 MB packed)."""
    crc, chunk = 0, bytes(1 << 20)
    for _ in range(unpacked >> 20):
        crc = zlib.crc32(chunk, crc)
    return _zip(_docx_parts(), {"word/media/image1.png": (_raw_deflate_zeros(unpacked), crc, unpacked)})


def billion_laughs_docx() -> bytes:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    document = (f'<?xml version="1.0"?><!DOCTYPE w:document [{entities}]>'
                f"<w:document {W_NS}><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>")
    return _zip({**_docx_parts(), "word/document.xml": document})


def hostile_corpus() -> dict[str, bytes]:
    """Every hostile file, by name (about 3 MB in all)."""
    return {"page-tree bomb PDF": page_tree_bomb(), "PDF with 10^6 objects": million_objects(),
            "PDF with JavaScript, OpenAction, URI": active_pdf(), "PNG bomb (8900x8900 RGBA)": png_bomb(),
            "JPEG bomb (65000x65000)": jpeg_bomb(), "WebP bomb (16384x16384)": webp_bomb(),
            "TIFF bomb (20000x20000)": tiff_bomb(), "zip-bomb docx (1 GiB)": zip_bomb_docx(),
            "billion-laughs docx": billion_laughs_docx()}


# -- the corpus is what it claims -------------------------------------------------------------


def test_page_tree_bomb_lists_a_million_pages_in_a_few_kilobytes():
    data = page_tree_bomb()
    assert len(data) < 20_000
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert int(pdf.Root.Pages.Count) == 1_000_000
        assert pdf.Root.Pages.objgen[0] == 2 and b"/Kids" not in data  # the tree is only inside the object stream


def test_image_bombs_claim_huge_sizes(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    for data, side in ((png_bomb(), 8_900), (jpeg_bomb(), 65_000), (webp_bomb(), 16_384), (tiff_bomb(), 20_000)):
        assert len(data) < 1_000_000
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (side, side)


def test_zip_bomb_unpacks_to_a_gibibyte():
    with zipfile.ZipFile(io.BytesIO(zip_bomb_docx())) as archive:
        assert sum(i.file_size for i in archive.infolist()) > 1 << 30
