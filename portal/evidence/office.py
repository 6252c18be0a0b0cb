"""Word, Excel and PowerPoint files (OOXML zips) rebuilt without people and hidden content.

The zip is bounded before anything is inflated (entries, declared total size, per-entry
ratio; zipfile then holds each entry to its declared size), every XML part is parsed with
defusedxml, and the copy leaves out: comments (and their anchors), the people part,
tracked changes (insertions accepted, deletions dropped), core/app/custom properties
(blanked), custom XML data, embedded objects, ActiveX, macros and external relationships.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile

from portal.evidence import office_xml
from portal.evidence.limits import Limits
from portal.evidence.office_word import Revisions
from portal.evidence.results import Unsafe

_COMMENTS = re.compile(r"^(word/comments[A-Za-z]*\.xml|xl/comments\d*\.xml|xl/threadedComments/.*|ppt/comments/.*"
                       r"|ppt/commentAuthors\.xml|word/people\.xml|xl/persons/.*|ppt/authors\.xml)$")
_MACROS = re.compile(r"(^|/)vba[A-Za-z]*\.(bin|xml)$")
_EMBEDDED = re.compile(r"^(word|xl|ppt)/(embeddings|activeX)/")
_BODY = re.compile(r"^word/(document|header\d*|footer\d*|footnotes|endnotes|settings)\.xml$")
_COMMENT_TAGS = ("comment", "cm", "threadedComment")
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
    report = _Report()
    dropped = {name for name in parts if _dropped(name, trees, report)}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        removed_ids = {name: _clean_rels(trees[name], name, dropped, report) for name in parts if name.endswith(".rels")}
        revisions = Revisions()
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
                body = _content_types(trees[name], body, dropped)
            elif name.endswith(".rels") or _BODY.match(name):
                if _BODY.match(name):
                    rels = removed_ids.get(posixpath.join("word/_rels", posixpath.basename(name) + ".rels"), set())
                    revisions.clean(trees[name], rels)
                body = office_xml.serialise(trees[name], body)
            target.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), body, zipfile.ZIP_DEFLATED)
    return out.getvalue(), content_type, report.words(revisions), 1


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
    """Drop relationships to removed parts and every external one; returns the ids dropped."""
    folder = posixpath.dirname(posixpath.dirname(rels_name))
    ids = set()
    for rel in list(root):
        target = rel.get("Target", "")
        resolved = posixpath.normpath(posixpath.join(folder, target)).lstrip("/") if not target.startswith("/") else target[1:]
        if rel.get("TargetMode") == "External" or resolved in dropped:
            report.external += rel.get("TargetMode") == "External"
            ids.add(rel.get("Id", ""))
            root.remove(rel)
    return ids


def _content_types(root, body: bytes, dropped: set[str]) -> bytes:
    for override in list(root):
        if override.get("PartName", "").lstrip("/") in dropped:
            root.remove(override)
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
        found += [_count(self.embedded, "embedded object")] if self.embedded else []
        found += ["macros"] if self.macros else []
        found += [_count(self.external, "external link")] if self.external else []
        found += ["editing session identifiers"] if revisions.rsids else []
        return found


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


