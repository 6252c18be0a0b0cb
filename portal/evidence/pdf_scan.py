"""What a PDF carries besides its pages' looks, for the reviewer's "removed" list.

Runs in the sandbox with qpdf (pikepdf), bounded: it never asks qpdf for the page
list (`pdf.pages` builds every page of a page-tree bomb); it walks the tree itself,
visiting at most a fixed number of nodes and annotations.
"""

from __future__ import annotations

import io

import pikepdf

MAX_NODES = 5_000
MAX_ANNOTATIONS = 20_000
INFO_WORDS = {"/Author": "author", "/Title": "title", "/Subject": "subject", "/Keywords": "keywords",
              "/Creator": "creating software", "/Producer": "producing software"}


def findings(data: bytes) -> list[str]:
    """Phrases such as "JavaScript", "links to websites (2)"; empty when the file has none of these."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        root = pdf.Root
        scan = _PageScan()
        scan.walk(root.get("/Pages"))
        found = []
        names = root.get("/Names")
        names = names if isinstance(names, pikepdf.Dictionary) else {}
        if "/JavaScript" in names or scan.javascript or _is_javascript(root.get("/OpenAction")):
            found.append("JavaScript")
        if "/OpenAction" in root or "/AA" in root or scan.actions:
            found.append("automatic action on opening")
        if scan.links:
            found.append(f"links to websites ({scan.links})")
        metadata = _metadata(pdf)
        if metadata or scan.page_metadata:
            found.append(f"metadata ({', '.join(metadata or ['XMP'])})")
        if scan.authors:
            people = len(scan.authors)
            found.append(f"annotations by {people} {'person' if people == 1 else 'people'}")
        if "/EmbeddedFiles" in names or scan.attachments:
            found.append("embedded files")
        if "/AcroForm" in root:
            found.append("forms")
        return found


def _metadata(pdf: pikepdf.Pdf) -> list[str]:
    words = []
    info = pdf.trailer.get("/Info")
    if isinstance(info, pikepdf.Dictionary):
        words = [word for key, word in INFO_WORDS.items() if key in info and str(info[key]).strip()]
    if "/Metadata" in pdf.Root:
        words.append("XMP")
    return words


def _is_javascript(action) -> bool:
    return isinstance(action, pikepdf.Dictionary) and action.get("/S") == pikepdf.Name.JavaScript


class _PageScan:
    """Walks /Kids depth-first with a node budget; counts links, annotation authors, page actions."""

    def __init__(self) -> None:
        self.nodes = 0
        self.annotations = 0
        self.links = 0
        self.authors: set[str] = set()
        self.javascript = False
        self.actions = False
        self.page_metadata = False
        self.attachments = False
        self.seen: set[tuple[int, int]] = set()

    def walk(self, node) -> None:
        stack = [node]
        while stack and self.nodes < MAX_NODES:
            node = stack.pop()
            if not isinstance(node, pikepdf.Dictionary):
                continue
            if node.is_indirect:
                if node.objgen in self.seen:
                    continue  # a page listed many times is scanned once
                self.seen.add(node.objgen)
            self.nodes += 1
            kids = node.get("/Kids")
            if isinstance(kids, pikepdf.Array):
                stack.extend(kids[i] for i in range(min(len(kids), MAX_NODES)))
            else:
                self._page(node)

    def _page(self, page: pikepdf.Dictionary) -> None:
        self.page_metadata |= "/Metadata" in page
        self.actions |= "/AA" in page
        annots = page.get("/Annots")
        if not isinstance(annots, pikepdf.Array):
            return
        for i in range(min(len(annots), MAX_ANNOTATIONS - self.annotations)):
            self.annotations += 1
            annot = annots[i]
            if not isinstance(annot, pikepdf.Dictionary):
                continue
            action = annot.get("/A")
            if isinstance(action, pikepdf.Dictionary) and action.get("/S") == pikepdf.Name.URI:
                self.links += 1
            self.javascript |= _is_javascript(action)
            self.actions |= "/AA" in annot
            self.attachments |= annot.get("/Subtype") == pikepdf.Name.FileAttachment
            if "/T" in annot and annot.get("/Subtype") != pikepdf.Name.Widget:
                self.authors.add(str(annot["/T"]))
