"""Word parts: accept insertions, drop deletions, comment anchors, rsids and active content.

Tracked changes name their authors (w:author) and keep deleted text; comments are
removed as parts, so their anchors in the text go too. rsid attributes tie a file to
the editing sessions of other files from the same machine, so they are dropped.
Hidden text is made visible (a reviewer must see what the file holds), imported chunks
(w:altChunk: HTML or other documents Word renders in place) and OLE objects are dropped,
and settings that reach outside the file (template, mail-merge source, XSLT on save) or
carry data the reader never sees (document variables) are removed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - walks trees parsed by defusedxml
from collections import Counter

from portal.evidence.office_fields import strip_fields
from portal.evidence.office_xml import R, W, q

UNWRAP = {q(W, "ins"), q(W, "moveTo")}
DROP = {q(W, "del"), q(W, "moveFrom"), q(W, "commentRangeStart"), q(W, "commentRangeEnd"), q(W, "commentReference"),
        q(W, "moveFromRangeStart"), q(W, "moveFromRangeEnd"), q(W, "moveToRangeStart"), q(W, "moveToRangeEnd"),
        q(W, "rsids"), q(W, "trackRevisions")}
HISTORY = {q(W, t) for t in ("rPrChange", "pPrChange", "sectPrChange", "tblPrChange", "trPrChange", "tcPrChange",
                             "tblGridChange", "numberingChange")}
COUNTED = UNWRAP | HISTORY | {q(W, "del"), q(W, "moveFrom")}
OLE = "{urn:schemas-microsoft-com:office:office}OLEObject"
HIDDEN = {q(W, "vanish"), q(W, "webHidden"), q(W, "specVanish")}
SETTINGS = {q(W, "docVars"): "document variables", q(W, "mailMerge"): "mail merge data source",
            q(W, "attachedTemplate"): "", q(W, "saveThroughXslt"): "", q(W, "updateFields"): ""}
ACTIVE = {OLE, q(W, "control")}


class Revisions:
    """What one pass over the Word parts found: change authors, rsids and counts (in `found`)."""

    def __init__(self, found: Counter) -> None:
        self.authors: set[str] = set()
        self.changes = 0
        self.rsids = False
        self.found = found

    def clean(self, root: ET.Element, dropped_ids: set[str]) -> None:
        self.found["fields"] += strip_fields(root)
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
            if self._dropped(child) or points_nowhere:
                continue
            self._walk(child, dropped_ids)
            rebuilt.append(child)
        if rebuilt != children:
            for child in children:
                parent.remove(child)
            parent.extend(rebuilt)
        self._strip_rsids(parent)

    def _dropped(self, child: ET.Element) -> bool:
        if child.tag in DROP or child.tag in HISTORY or child.tag == OLE:
            return True
        if child.tag == q(W, "altChunk"):
            self.found["imported"] += 1
        elif child.tag in HIDDEN:
            self.found["hidden text"] += child.get(q(W, "val"), "true") not in ("0", "false", "off")
        elif child.tag in SETTINGS:
            self.found[SETTINGS[child.tag]] += bool(SETTINGS[child.tag])
        elif child.tag == q(W, "object") and any(e.tag in ACTIVE for e in child.iter()):
            self.found["object elements"] += 1
        else:
            return False
        return True

    def _strip_rsids(self, element: ET.Element) -> None:
        for key in [k for k in element.attrib if k.startswith(q(W, "rsid"))]:
            del element.attrib[key]
            self.rsids = True
