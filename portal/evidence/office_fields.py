"""Word fields reduced to their displayed results.

A field's instruction is what Word runs when the field updates: DDEAUTO starts programs,
INCLUDEPICTURE / INCLUDETEXT fetch files or URLs (a tracking beacon, or a local file shown
in the document), HYPERLINK opens a site. The copy keeps only what the field last showed:
a w:fldSimple is replaced by its result runs; a complex field (w:fldChar begin ...
instruction ... separate ... result ... end) loses its markers and everything between begin
and separate. When the markers do not pair up (a damaged or hostile file), only the markers
and instructions go, so no displayed text can be hidden from the copy by a stray "begin".
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - walks trees parsed by defusedxml

from portal.evidence.office_xml import W, q

FLD_CHAR, INSTR, RUN = q(W, "fldChar"), q(W, "instrText"), q(W, "r")
MARKERS = {FLD_CHAR, INSTR, q(W, "delInstrText"), q(W, "fldData")}
KEEP_IN_RUN = {q(W, "rPr")}


def strip_fields(root: ET.Element) -> int:
    """Removes every field instruction under root; returns how many fields there were."""
    count = _unwrap_simple(root)
    runs = [run for run in root.iter(RUN)]
    kinds = [child.get(q(W, "fldCharType")) for run in runs for child in run if child.tag == FLD_CHAR]
    count += kinds.count("begin")
    if not any(child.tag in MARKERS for run in runs for child in run):
        return count
    paired = _paired(kinds)
    parents = {child: parent for parent in root.iter() for child in parent}
    stack: list[str] = []
    for run in runs:
        for child in list(run):
            kind = child.get(q(W, "fldCharType")) if child.tag == FLD_CHAR else None
            if kind == "begin":
                stack.append("instruction")
            elif kind == "separate" and stack:
                stack[-1] = "result"
            elif kind == "end" and stack:
                stack.pop()
            in_instruction = paired and "instruction" in stack
            if child.tag in MARKERS or (in_instruction and child.tag not in KEEP_IN_RUN):
                run.remove(child)
        if all(child.tag in KEEP_IN_RUN for child in run) and run in parents:
            parents[run].remove(run)
    return count


def _paired(kinds: list[str | None]) -> bool:
    depth = 0
    for kind in kinds:
        depth += 1 if kind == "begin" else -1 if kind == "end" else 0
        if depth < 0:
            return False
    return depth == 0


def _unwrap_simple(parent: ET.Element) -> int:
    count = 0
    children = list(parent)
    rebuilt: list[ET.Element] = []
    for child in children:
        count += _unwrap_simple(child)
        if child.tag == q(W, "fldSimple"):
            count += 1
            rebuilt.extend(c for c in child if c.tag != q(W, "fldData"))
        else:
            rebuilt.append(child)
    if rebuilt != children:
        for child in children:
            parent.remove(child)
        parent.extend(rebuilt)
    return count
