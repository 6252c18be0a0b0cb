"""Word body parts: accept insertions, drop deletions, drop comment anchors and rsids.

Tracked changes name their authors (w:author) and keep deleted text; comments are
removed as parts, so their anchors in the text go too. rsid attributes tie a file to
the editing sessions of other files from the same machine, so they are dropped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - walks trees parsed by defusedxml

from portal.evidence.office_xml import R, W, q

UNWRAP = {q(W, "ins"), q(W, "moveTo")}
DROP = {q(W, "del"), q(W, "moveFrom"), q(W, "commentRangeStart"), q(W, "commentRangeEnd"), q(W, "commentReference"),
        q(W, "moveFromRangeStart"), q(W, "moveFromRangeEnd"), q(W, "moveToRangeStart"), q(W, "moveToRangeEnd"),
        q(W, "rsids"), q(W, "trackRevisions")}
HISTORY = {q(W, t) for t in ("rPrChange", "pPrChange", "sectPrChange", "tblPrChange", "trPrChange", "tcPrChange",
                             "tblGridChange", "numberingChange")}
COUNTED = UNWRAP | HISTORY | {q(W, "del"), q(W, "moveFrom")}
OLE = "{urn:schemas-microsoft-com:office:office}OLEObject"


class Revisions:
    """What one pass over the body parts found: change authors, comment anchors, rsids."""

    def __init__(self) -> None:
        self.authors: set[str] = set()
        self.changes = 0
        self.rsids = False

    def clean(self, root: ET.Element, dropped_ids: set[str]) -> None:
        self._walk(root, dropped_ids)

    def _walk(self, parent: ET.Element, dropped_ids: set[str]) -> None:
        children = list(parent)
        rebuilt: list[ET.Element] = []
        for child in children:
            self._strip_rsids(child)
            author = child.get(q(W, "author"))
            if child.tag in COUNTED:
                self.changes += 1
                if author:
                    self.authors.add(author)
            points_nowhere = child.get(q(R, "id")) in dropped_ids  # its relationship (external or removed part) is gone
            if child.tag in UNWRAP or (child.tag == q(W, "hyperlink") and points_nowhere):
                self._walk(child, dropped_ids)
                rebuilt.extend(child)
                continue
            if child.tag in DROP or child.tag in HISTORY or child.tag == OLE or points_nowhere:
                continue
            self._walk(child, dropped_ids)
            rebuilt.append(child)
        if rebuilt != children:
            for child in children:
                parent.remove(child)
            parent.extend(rebuilt)
        self._strip_rsids(parent)

    def _strip_rsids(self, element: ET.Element) -> None:
        for key in [k for k in element.attrib if k.startswith(q(W, "rsid"))]:
            del element.attrib[key]
            self.rsids = True
