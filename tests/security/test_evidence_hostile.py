"""The hostile corpus against make_safe_copy: each file is refused or converted within 10 s,
with the sandboxed child's peak memory under 512 MiB, and the copies keep nothing active."""

from __future__ import annotations

import functools
import io
import time
import zipfile

import pikepdf
import pytest
import test_evidence_corpus as corpus

from portal.evidence import Converted, Limits, Refused, describe_removed, make_safe_copy

pytestmark = pytest.mark.slow
SECONDS, RSS_KIB = 10.0, 512 * 1024


@functools.cache
def hostile() -> dict[str, bytes]:
    return corpus.hostile_corpus()


@pytest.mark.parametrize("name", ["page-tree bomb PDF", "PDF with 10^6 objects", "PNG bomb (8900x8900 RGBA)",
                                  "JPEG bomb (65000x65000)", "WebP bomb (16384x16384)", "TIFF bomb (20000x20000)",
                                  "zip-bomb docx (1 GiB)", "billion-laughs docx"])
def test_a_bomb_is_refused_quickly_and_within_memory(name):
    started = time.monotonic()
    result = make_safe_copy(hostile()[name])
    elapsed = time.monotonic() - started
    assert isinstance(result, Refused), result
    assert elapsed < SECONDS and result.seconds < SECONDS
    assert 0 < result.peak_rss_kib < RSS_KIB
    assert result.reason.endswith(".") and "Traceback" not in result.reason


def test_reasons_say_what_was_wrong():
    assert "1,000,000 pages" in make_safe_copy(hostile()["page-tree bomb PDF"]).reason
    assert "too large" in make_safe_copy(hostile()["PNG bomb (8900x8900 RGBA)"]).reason
    assert "zip bomb" in make_safe_copy(hostile()["zip-bomb docx (1 GiB)"]).reason
    assert "entities" in make_safe_copy(hostile()["billion-laughs docx"]).reason


def test_active_pdf_becomes_pixels_without_script_links_or_metadata():
    result = make_safe_copy(hostile()["PDF with JavaScript, OpenAction, URI"])
    assert isinstance(result, Converted), result
    assert result.content_type == "application/pdf" and result.pages == 1
    assert result.seconds < SECONDS and result.peak_rss_kib < RSS_KIB
    with pikepdf.open(io.BytesIO(result.data)) as pdf:
        assert "/OpenAction" not in pdf.Root and "/Names" not in pdf.Root and "/Metadata" not in pdf.Root
        assert "/Info" not in pdf.trailer or not dict(pdf.trailer.Info)
        for page in pdf.pages:
            assert "/Annots" not in page and "/Metadata" not in page and "/Font" not in page.Resources
        names = {str(obj.get("/S")) for obj in pdf.objects if isinstance(obj, pikepdf.Dictionary)}
        assert "/JavaScript" not in names and "/URI" not in names
    for marker in (b"/JavaScript", b"/OpenAction", b"/URI", b"/Metadata", b"tracker.example", b"Jane Doe"):
        assert marker not in result.data
    assert result.removed == ["JavaScript", "automatic action on opening", "links to websites (1)",
                              "metadata (author, title, XMP)", "annotations by 1 person"]


def test_an_ordinary_pdf_keeps_its_pages():
    result = make_safe_copy(corpus.text_pdf(3))
    assert isinstance(result, Converted) and result.pages == 3 and result.removed == []
    with pikepdf.open(io.BytesIO(result.data)) as pdf:
        assert len(pdf.pages) == 3
        assert [float(v) for v in pdf.pages[0].MediaBox] == [0, 0, 595, 842]


def test_docx_keeps_no_comments_people_authors_or_deleted_text():
    result = make_safe_copy(corpus.people_docx())
    assert isinstance(result, Converted), result
    with zipfile.ZipFile(io.BytesIO(result.data)) as archive:
        names = set(archive.namelist())
        everything = b"".join(archive.read(n) for n in names)
        document = archive.read("word/document.xml")
    assert "word/comments.xml" not in names and "word/people.xml" not in names
    for secret in (b"Carol Commenter", b"Alice Author", b"Bob Reviewer", b"Dave Creator", b"Erin Editor",
                   b"SECRET DELETED", b"tracker.example", b"commentReference", b"w:rsidR", b"note 1"):
        assert secret not in everything, secret
    for kept in (b"Kept text.", b"Inserted text.", b"Link text", b'mc:Ignorable="w14"', b"xmlns:w14="):
        assert kept in document, kept
    assert result.removed == ["author name", "3 comments", "tracked changes by 2 people", "list of people",
                              "1 external link", "editing session identifiers"]
    assert describe_removed(result.removed).startswith("Removed: author name, 3 comments, tracked changes by 2 people")


def test_unknown_content_is_refused_without_starting_a_child():
    result = make_safe_copy(b"MZ\x90\x00 this is an executable")
    assert isinstance(result, Refused) and result.peak_rss_kib == 0 and "safe copies are made of" in result.reason


def test_a_child_that_runs_too_long_is_stopped():
    result = make_safe_copy(corpus.text_pdf(20), limits=Limits(wall_seconds=0.3))
    assert isinstance(result, Refused) and "longer than 0.3 seconds" in result.reason
