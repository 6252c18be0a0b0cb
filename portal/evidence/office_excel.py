"""Excel and PowerPoint parts: formulas become their last values, hidden things are shown.

Formulas are what a spreadsheet runs on opening or recalculation: WEBSERVICE and
HYPERLINK reach the network, DDE formulas (cmd|'/C calc'!A0) start programs, and
[1]Sheet1!A1 reads another workbook. Every cell formula goes and the cached value the
author last saw stays; rules that hold formulas (conditional formats, input validation,
table formulas) go too. Defined names run as macros (Auto_Open) or hide formulas, so only
print areas that are plain references stay. Hidden sheets, rows, columns and slides
are made visible: the reviewer must see everything the file shows to someone who unhides it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - walks trees parsed by defusedxml
from collections import Counter

_QUOTED_SHEET = re.compile(r"'(?:[^'\[\]]|'')*'")
_PLAIN_REFERENCE = re.compile(r"[\w.$:!,]*")
_PRINT_NAMES = {"_xlnm.Print_Area", "_xlnm.Print_Titles"}
_FORMULA_RULES = {"conditionalFormatting", "dataValidations", "conditionalFormattings", "dataValidation"}
_TABLE_FORMULAS = {"calculatedColumnFormula", "totalsRowFormula"}


def clean(name: str, root: ET.Element, found: Counter) -> None:
    if name.startswith("xl/worksheets/"):
        worksheet(root, found)
    elif local(root.tag) == "workbook":
        workbook(root, found)
    elif name.startswith("xl/tables/"):
        table(root, found)
    elif name.startswith("ppt/slides/"):
        slide(root, found)


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def workbook(root: ET.Element, found: Counter) -> None:
    for element in root.iter():
        name = local(element.tag)
        if name == "sheet" and element.get("state") in ("hidden", "veryHidden"):
            del element.attrib["state"]
            found["hidden sheets"] += 1
        elif name == "workbookView" and element.get("visibility") in ("hidden", "veryHidden"):
            del element.attrib["visibility"]
    for parent in list(root.iter()):
        for child in list(parent):
            name = local(child.tag)
            if name == "externalReferences":
                found["other workbooks"] += 1
                parent.remove(child)
            elif name == "definedName" and not _print_area(child):
                found["names"] += 1
                parent.remove(child)
    _drop_empty(root, {"definedNames"})


def _print_area(name: ET.Element) -> bool:
    text = _QUOTED_SHEET.sub("Sheet", (name.text or "").strip())
    return name.get("name") in _PRINT_NAMES and _PLAIN_REFERENCE.fullmatch(text) is not None


def worksheet(root: ET.Element, found: Counter) -> None:
    for parent in list(root.iter()):
        for child in list(parent):
            name = local(child.tag)
            if name == "f" and local(parent.tag) == "c":
                found["formulas"] += 1
                parent.remove(child)
            elif name in _FORMULA_RULES:
                found["formula rules"] += 1
                parent.remove(child)
            elif name == "hyperlinks":
                for link in child:
                    found["web links" if any(local(k) == "id" for k in link.attrib) else "internal links"] += 1
                parent.remove(child)
    for element in root.iter():
        name = local(element.tag)
        if name == "c" and element.get("t") == "str":
            _inline_string(element)
        if name in ("row", "col") and (element.get("hidden") in ("1", "true") or _zero(element)):
            element.attrib.pop("hidden", None)
            found["hidden rows"] += 1
        elif name == "sheetFormatPr" and element.get("zeroHeight") in ("1", "true"):
            del element.attrib["zeroHeight"]
            found["hidden rows"] += 1


def _zero(element: ET.Element) -> bool:
    size = element.get("ht" if local(element.tag) == "row" else "width")
    if size is not None and _number(size) == 0:
        element.attrib.pop("ht", None)
        element.attrib.pop("width", None)
        element.attrib.pop("customHeight", None)
        return True
    return False


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _inline_string(cell: ET.Element) -> None:
    """A formula's text result becomes an inline string: t="str" means "text from a formula"."""
    namespace = cell.tag[: -len("c")]
    value = next((v for v in cell if local(v.tag) == "v"), None)
    cell.set("t", "inlineStr")
    if value is not None:
        cell.remove(value)
        holder = ET.SubElement(cell, namespace + "is")
        ET.SubElement(holder, namespace + "t").text = value.text


def table(root: ET.Element, found: Counter) -> None:
    for parent in list(root.iter()):
        for child in list(parent):
            if local(child.tag) in _TABLE_FORMULAS:
                found["formula rules"] += 1
                parent.remove(child)
    if root.get("tableType") == "queryTable":
        root.attrib.pop("tableType")
        root.attrib.pop("connectionId", None)


def external_pivot_cache(root: ET.Element) -> bool:
    """A pivot cache filled from outside this workbook (a connection, another file)."""
    for source in root.iter():
        if local(source.tag) == "cacheSource":
            if source.get("type", "worksheet") != "worksheet":
                return True
            return any(local(k) == "id" for e in source.iter() for k in e.attrib)
    return False


def slide(root: ET.Element, found: Counter) -> None:
    if root.get("show") in ("0", "false"):
        del root.attrib["show"]
        found["hidden slides"] += 1


def _drop_empty(root: ET.Element, names: set[str]) -> None:
    for parent in list(root.iter()):
        for child in list(parent):
            if local(child.tag) in names and len(child) == 0:
                parent.remove(child)
