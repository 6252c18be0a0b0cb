"""Word, Excel and PowerPoint files (OOXML zips) rebuilt without people, hidden or active content.

The zip is bounded before anything is inflated (entries, declared total size, per-entry
ratio; zipfile then holds each entry to its declared size), every XML part is parsed with
defusedxml, and the copy leaves out: comments (and their anchors), the people part,
tracked changes (insertions accepted, deletions dropped), core/app/custom properties
(blanked), custom XML data, embedded objects, ActiveX, macros, external relationships,
thumbnails, imported chunks, data connections, links to other workbooks, and every part
nothing refers to any more. Word fields, formulas and hidden content are handled per part
(office_word, office_fields, office_excel); last, no element may point at a missing relationship.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter

from portal.evidence import images, office_excel, office_xml
from portal.evidence.limits import Limits
from portal.evidence.office_word import Revisions
from portal.evidence.results import Unsafe

_COMMENTS = re.compile(r"^(word/comments[A-Za-z]*\.xml|xl/comments\d*\.xml|xl/threadedComments/.*|ppt/comments/.*"
                       r"|ppt/commentAuthors\.xml|word/people\.xml|xl/persons/.*|ppt/authors\.xml)$")
_MACROS = re.compile(r"(^|/)vba[A-Za-z]*\.(bin|xml)$")
_EMBEDDED = re.compile(r"^(word|xl|ppt)/(embeddings|activeX)/")
_COMMENT_TAGS = ("comment", "cm", "threadedComment")
_WORD = re.compile(r"^word/.*\.xml$")
_THUMBNAIL = re.compile(r"^docProps/thumbnail\.\w+$")
_UNWANTED_TYPES = {"/aFChunk": "imported", "/connections": "data connections", "/queryTable": "data connections",
                   "/externalLink": "other workbooks", "/calcChain": "", "/metadata/thumbnail": "thumbnail",
                   "/oleObject": "objects", "/package": "objects", "/control": "objects", "/vbaProject": "macros"}
_MACRO_TYPES = {
    b"application/vnd.ms-word.document.macroEnabled.main+xml":
        b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml":
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    b"application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml":
        b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
}
_BLANK_CORE = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<cp:coreProperties '
               b'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
               b'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"/>')
_BLANK_APP = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"/>')


def convert(data: bytes, content_type: str, limits: Limits) -> tuple[bytes, str, list[str], int]:
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        infos = _bounded(source, limits)
        parts = {info.filename: source.read(info) for info in infos}
    trees = {name: office_xml.parse(body, name) for name, body in parts.items() if name.endswith((".xml", ".rels"))}
    if any(tree.tag.startswith("{http://purl.oclc.org/ooxml/") for tree in trees.values()):
        raise Unsafe("The document is saved as Strict Open XML, which is not converted; only the original is available.")
    report = _Report()
    dropped = {name for name in parts if _dropped(name, trees, report)}
    dropped |= _unwanted(parts, trees, report.found, dropped)
    removed_ids = {name: _clean_rels(trees[name], name, dropped, report) for name in parts if name.endswith(".rels")}
    revisions = Revisions(report.found)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, body in parts.items():
            if name in dropped:
                continue
            if name == "docProps/core.xml":
                report.core(trees[name])
                body = _BLANK_CORE
            elif name == "docProps/app.xml":
                report.app(trees[name])
                body = _BLANK_APP
            elif name == "[Content_Types].xml":
                body = _content_types(trees[name], body, dropped, set(parts) - dropped)
            elif name in trees:
                _clean_part(name, trees, removed_ids.get(office_xml.rels_of(name), set()), revisions, report.found)
                body = office_xml.serialise(trees[name], body)
            else:
                body = _picture(body, limits, report.found)
            target.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), body, zipfile.ZIP_DEFLATED)
    return out.getvalue(), content_type, report.words(revisions), 1


_PICTURE_MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


def _picture(body: bytes, limits: Limits, found: Counter) -> bytes:
    """A JPEG or PNG inside the document, rebuilt from its pixels in the same format: a photo's
    EXIF (GPS, camera, date), XMP and comments would otherwise survive inside the copy."""
    kind = next((t for magic, t in _PICTURE_MAGIC.items() if body.startswith(magic)), None)
    if kind is None:
        return body
    clean, clean_type, removed, _ = images.convert(body, kind, limits)
    if clean_type != kind:  # a JPEG that cannot stay JPEG (e.g. CMYK): keep the part's type honest
        raise Unsafe("A picture inside the document could not be rebuilt; only the original is available.")
    if removed:
        found["picture details"] += 1
    return clean


def _clean_part(name: str, trees: dict, gone: set[str], revisions: Revisions, found: Counter) -> None:
    root = trees[name]
    if name.endswith(".rels"):
        return
    if _WORD.match(name):
        revisions.clean(root, gone)
    else:
        office_excel.clean(name, root, found)
    rels = trees.get(office_xml.rels_of(name))
    ids = {rel.get("Id", "") for rel in rels} if rels is not None else set()
    found["dangling"] += office_xml.drop_dangling(root, ids)


def _unwanted(parts: dict, trees: dict, found: Counter, dropped: set[str]) -> set[str]:
    """Parts reached by an unwanted kind of relationship, pivot tables fed from outside, and
    parts nothing refers to any more (the orphans of the above, or data hidden in the zip)."""
    links = {rels: office_xml.targets(rels, trees[rels]) for rels in trees if rels.endswith(".rels")}
    unwanted = {name: "thumbnail" for name in parts if _THUMBNAIL.match(name)}
    for targets in links.values():
        for kind, target in targets:
            label = next((label for suffix, label in _UNWANTED_TYPES.items() if kind.endswith(suffix)), None)
            if kind.endswith("/pivotCacheDefinition") and target in trees:
                label = "data connections" if office_excel.external_pivot_cache(trees[target]) else None
            if label is not None and target in parts and target not in dropped:
                unwanted.setdefault(target, label)
    found.update(label for label in unwanted.values() if label)
    for rels, targets in links.items():
        if rels.startswith("xl/pivotTables/") and any(t in unwanted for _, t in targets):
            unwanted[office_xml.part_of(rels)] = ""
    gone = dropped | set(unwanted)
    orphans = set(parts) - _reached(parts, links, gone) - gone
    found["unused parts"] += len(orphans - _reached(parts, links, set()))  # never referred to: data hidden in the zip
    gone |= orphans
    return gone - dropped | {n for n in parts if n.endswith(".rels") and n != "_rels/.rels" and office_xml.part_of(n) in gone}


def _reached(parts: dict, links: dict, gone: set[str]) -> set[str]:
    reached, queue = {"[Content_Types].xml"} | {n for n in parts if n.endswith(".rels")}, ["_rels/.rels"]
    while queue:
        for _, target in links.get(queue.pop(), []):
            if target in parts and target not in reached and target not in gone:
                reached.add(target)
                queue.append(office_xml.rels_of(target))
    return reached


def _bounded(source: zipfile.ZipFile, limits: Limits) -> list[zipfile.ZipInfo]:
    infos = source.infolist()
    if len(infos) > limits.max_zip_entries:
        raise Unsafe(f"The document holds {len(infos):,} parts, more than a safe copy handles.")
    if sum(i.file_size for i in infos) > limits.max_unzipped_bytes:
        raise Unsafe("The document is too large once unpacked (a possible zip bomb), so no safe copy was made.")
    for info in infos:
        if info.file_size > 1024 * 1024 and info.file_size > limits.max_entry_ratio * max(info.compress_size, 1):
            raise Unsafe("A part of the document expands suspiciously when unpacked (a possible zip bomb).")
        if info.filename.endswith((".xml", ".rels")) and info.file_size > limits.max_xml_bytes:
            raise Unsafe("A part of the document is too large to check safely.")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise Unsafe("The document is damaged (a part appears twice).")
    return infos


def _dropped(name: str, trees: dict, report: _Report) -> bool:
    if _COMMENTS.match(name):
        if name in trees:
            report.comments += sum(1 for e in trees[name].iter() if e.tag.rsplit("}", 1)[-1] in _COMMENT_TAGS)
        report.people |= name.endswith(("people.xml", "authors.xml")) or "/persons/" in name
        return True
    if _MACROS.search(name):
        report.macros = True
        return True
    if _EMBEDDED.match(name):
        report.embedded += 1
        return True
    if name == "docProps/custom.xml" or name.startswith("customXml/"):
        report.custom = True
        return True
    return False


def _clean_rels(root, rels_name: str, dropped: set[str], report: _Report) -> set[str]:
    """Drop relationships to removed parts and every external one; returns the ids dropped.
    A sheet's links to websites are counted with its hyperlinks, not as external links."""
    ids = set()
    for rel in list(root):
        external = rel.get("TargetMode") == "External"
        if external or office_xml.resolve(rels_name, rel.get("Target", "")) in dropped:
            sheet_link = rels_name.startswith("xl/") and rel.get("Type", "").endswith("/hyperlink")
            report.external += external and not sheet_link
            ids.add(rel.get("Id", ""))
            root.remove(rel)
    return ids


def _content_types(root, body: bytes, dropped: set[str], kept: set[str]) -> bytes:
    extensions = {name.rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower() for name in kept}
    for entry in list(root):
        unused = "Extension" in entry.attrib and entry.get("Extension", "").lower() not in extensions
        if entry.get("PartName", "").lstrip("/") in dropped or unused:
            root.remove(entry)
    text = office_xml.serialise(root, body)
    for macro, plain in _MACRO_TYPES.items():
        text = text.replace(macro, plain)
    return text


class _Report:
    """Counts for the reviewer, in the order they are listed."""

    def __init__(self) -> None:
        self.comments, self.embedded, self.external = 0, 0, 0
        self.people = self.macros = self.custom = False
        self.author = self.properties = self.company = False
        self.found: Counter = Counter()  # filled by the part cleaners, listed after the above

    def core(self, root) -> None:
        for element in root:
            local = element.tag.rsplit("}", 1)[-1]
            if (element.text or "").strip():
                if local in ("creator", "lastModifiedBy"):
                    self.author = True
                elif local not in ("created", "modified", "revision"):
                    self.properties = True

    def app(self, root) -> None:
        self.company = any(e.tag.rsplit("}", 1)[-1] in ("Company", "Manager") and (e.text or "").strip() for e in root)

    def words(self, revisions: Revisions) -> list[str]:
        found = []
        found += ["author name"] if self.author else []
        found += ["company name"] if self.company else []
        found += ["document properties"] if self.properties else []
        found += [_count(self.comments, "comment")] if self.comments else []
        if revisions.changes:
            people = len(revisions.authors)
            found.append(f"tracked changes by {people} {'person' if people == 1 else 'people'}" if people else "tracked changes")
        found += ["list of people"] if self.people else []
        found += ["custom properties"] if self.custom else []
        objects = max(self.embedded + self.found["objects"], self.found["object elements"])
        found += [_count(objects, "embedded object")] if objects else []
        found += ["macros"] if self.macros or self.found["macros"] else []
        found += [_count(self.external, "external link")] if self.external else []
        found += ["editing session identifiers"] if revisions.rsids else []
        return found + [phrase(self.found[key]) for key, phrase in _PHRASES if self.found[key]]


_PHRASES = (
    ("fields", lambda n: _count(n, "field") + " (links, includes or commands)"),
    ("imported", lambda n: "imported HTML or documents"),
    ("hidden text", lambda n: "hidden text (now shown)"),
    ("document variables", lambda n: "document variables"),
    ("mail merge data source", lambda n: "mail merge data source"),
    ("thumbnail", lambda n: "thumbnail preview"),
    ("data connections", lambda n: "data connections"),
    ("other workbooks", lambda n: "links to other workbooks"),
    ("formulas", lambda n: _count(n, "formula") + " (replaced by their last values)"),
    ("formula rules", lambda n: "formulas in conditional formats, validation or tables"),
    ("web links", lambda n: f"links to websites ({n})"),
    ("internal links", lambda n: f"links within the workbook ({n})"),
    ("names", lambda n: "automatic macros or named formulas"),
    ("hidden sheets", lambda n: _count(n, "hidden sheet") + " (now shown)"),
    ("hidden rows", lambda n: "hidden rows or columns (now shown)"),
    ("hidden slides", lambda n: _count(n, "hidden slide") + " (now shown)"),
    ("unused parts", lambda n: _count(n, "unused part")),
    ("picture details", lambda n: f"location, camera or other details from {_count(n, 'picture')}"),
)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


