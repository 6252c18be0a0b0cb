"""XML of Office parts: parsed with defusedxml (no DTD, no entities), written back with the
original namespace prefixes, which Office needs (mc:Ignorable names prefixes by text)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - serialising only; every parse goes through defusedxml

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from portal.evidence.results import Unsafe

_DECLARATION = re.compile(rb'xmlns:([A-Za-z_][\w.-]*)="([^"]*)"')
_ROOT_TAG = re.compile(rb"<(?![?!])[^>]*>")
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"


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
    text = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    out_root = _ROOT_TAG.search(text[text.index(b"?>") + 2 :])
    if out_root is None:
        return text
    start = text.index(b"?>") + 2 + out_root.start()
    tag = out_root.group(0)
    missing = b"".join(b' xmlns:%s="%s"' % (p, u) for p, u in declared if b"xmlns:" + p + b"=" not in tag)
    closing = -2 if tag.endswith(b"/>") else -1
    new_tag = tag[:closing] + missing + tag[closing:]
    return text[:start] + new_tag + text[start + len(tag) :]


def q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"
