"""XML of Office parts: parsed with defusedxml (no DTD, no entities), written back with the
original namespace prefixes, which Office needs (mc:Ignorable names prefixes by text).
After cleaning, no element may point at a relationship that is gone: Office would either
repair the file (and ask the reviewer to) or, for r:link, fetch the address anyway."""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET  # noqa: S405 - serialising only; every parse goes through defusedxml

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from portal.evidence.results import Unsafe

_DECLARATION = re.compile(rb'xmlns:([A-Za-z_][\w.-]*)="([^"]*)"')
_ROOT_TAG = re.compile(rb"<(?![?!])[^>]*>")
_DEFAULT = re.compile(rb'\sxmlns="([^"]*)"')
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_REFERENCES = {R, "http://purl.oclc.org/ooxml/officeDocument/relationships", "urn:schemas-microsoft-com:office:office"}
_ATTRIBUTE_ONLY = {"link", "embed", "pict"}  # a picture without its source stays valid; other elements go
_UNWRAP = {"hyperlink"}  # a Word link to nowhere keeps its text
_NOT_EMPTY = {"hyperlinks", "oleObjects", "controls", "externalReferences", "pivotCaches", "definedNames"}


def parse(body: bytes, name: str) -> ET.Element:
    try:
        return SafeET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise Unsafe(f"The document's part {name[:80]} declares XML entities or a DTD (a known way to exhaust servers), "
                     "so no safe copy was made.") from exc
    except ET.ParseError as exc:
        raise Unsafe("The document is damaged (a part is not well-formed XML).") from exc


def serialise(root: ET.Element, original: bytes) -> bytes:
    """ElementTree output with the prefixes (and unused declarations) of the original root restored."""
    head = original[:65536]
    root_tag = _ROOT_TAG.search(head)
    declared = _DECLARATION.findall(root_tag.group(0)) if root_tag else []
    for prefix, uri in declared:
        if not prefix.startswith(b"xml"):
            ET.register_namespace(prefix.decode(), uri.decode())
    text = _restore_default(ET.tostring(root, encoding="UTF-8", xml_declaration=True), root_tag.group(0) if root_tag else b"")
    out_root = _ROOT_TAG.search(text[text.index(b"?>") + 2 :])
    if out_root is None:
        return text
    start = text.index(b"?>") + 2 + out_root.start()
    tag = out_root.group(0)
    missing = b"".join(b' xmlns:%s="%s"' % (p, u) for p, u in declared if b"xmlns:" + p + b"=" not in tag)
    closing = -2 if tag.endswith(b"/>") else -1
    new_tag = tag[:closing] + missing + tag[closing:]
    return text[:start] + new_tag + text[start + len(tag) :]


def _restore_default(text: bytes, original_root: bytes) -> bytes:
    """ElementTree writes a default namespace as ns0:; Office writes (and some readers expect) no prefix.
    Tags are the only place "<ns0:" can appear: "<" in text and attribute values is always escaped."""
    default = _DEFAULT.search(original_root)
    prefix = re.search(rb'xmlns:(ns\d+)="%s"' % re.escape(default.group(1)), text) if default else None
    if prefix is None or b" " + prefix.group(1) + b":" in text:  # an attribute in that namespace keeps the prefix
        return text
    name = prefix.group(1)
    text = text.replace(b"<" + name + b":", b"<").replace(b"</" + name + b":", b"</")
    return text.replace(b"xmlns:" + name + b"=", b"xmlns=", 1)


def targets(rels_name: str, root) -> list[tuple[str, str]]:
    return [(rel.get("Type", ""), resolve(rels_name, rel.get("Target", ""))) for rel in root
            if rel.get("TargetMode") != "External"]


def resolve(rels_name: str, target: str) -> str:
    folder = posixpath.dirname(posixpath.dirname(rels_name))
    return target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target)).lstrip("/")


def rels_of(part: str) -> str:
    return posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")


def part_of(rels: str) -> str:
    return posixpath.join(posixpath.dirname(posixpath.dirname(rels)), posixpath.basename(rels)[: -len(".rels")])


def q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def drop_dangling(root: ET.Element, ids: set[str]) -> int:
    """Removes references to relationship ids not in `ids`; returns how many were removed."""
    removed = 0
    for parent in list(root.iter()):
        for child in list(parent):
            dangling = [k for k, v in child.attrib.items() if _is_reference(k) and v not in ids]
            if not dangling:
                continue
            removed += 1
            local = child.tag.rsplit("}", 1)[-1]
            if all(k.rsplit("}", 1)[-1] in _ATTRIBUTE_ONLY for k in dangling):
                for key in dangling:
                    del child.attrib[key]
                continue
            index = list(parent).index(child)
            parent.remove(child)
            if local in _UNWRAP:
                parent[index:index] = list(child)
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag.rsplit("}", 1)[-1] in _NOT_EMPTY and len(child) == 0:
                parent.remove(child)
    return removed


def _is_reference(key: str) -> bool:
    namespace, _, local = key[1:].partition("}")
    return key.startswith("{") and namespace in _REFERENCES and (namespace != _REFERENCES_O or local == "relid")


_REFERENCES_O = "urn:schemas-microsoft-com:office:office"
