"""Case bundles (portal.crypto.bundle, docs/crypto.md "Case bundles"): round trip, wrong key, tampering."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.crypto import CryptoError, FormatError, IntegrityError
from portal.crypto.bundle import (
    FIXED_HEADER_LEN,
    KIND_REFERRAL,
    KIND_ROUTED,
    MAX_MANIFEST_BYTES,
    BundleWriter,
    encode_manifest,
    open_bundle,
    read_header,
)
from portal.crypto.keys import RecipientPrivateKey, wrap_dek

BODY = RecipientPrivateKey.generate()
OTHER = RecipientPrivateKey.generate()


def make(entries: list[tuple[str, bytes]], kind: int = KIND_REFERRAL, chunk_log2: int = 10, details=None) -> bytes:
    sink = io.BytesIO()
    writer = BundleWriter.to_recipient(sink, BODY.public_key(), kind, chunk_log2)
    for path, content in entries:
        writer.add(path, content, note="x")
    digest = writer.finish(details or {"reference": "R-1"})
    assert digest == hashlib.sha256(sink.getvalue()).hexdigest()
    return sink.getvalue()


def contents(data: bytes, private: RecipientPrivateKey = BODY) -> dict[str, bytes]:
    opened = open_bundle(io.BytesIO(data), private)
    sinks: dict[str, io.BytesIO] = {}
    opened.extract(lambda entry: sinks.setdefault(entry.path, io.BytesIO()))
    return {path: sink.getvalue() for path, sink in sinks.items()}


ENTRIES = [("report.json", b'{"what": "happened"}'), ("files/001-a.bin", bytes(range(256)) * 9), ("empty.txt", b"")]
BUNDLE = make(ENTRIES)


def test_round_trip_with_the_body_key():
    assert contents(BUNDLE) == dict(ENTRIES)
    opened = open_bundle(io.BytesIO(BUNDLE), BODY)
    assert opened.kind == "referral" and opened.details == {"reference": "R-1"}
    assert [(e.path, e.size, e.sha256, dict(e.attributes)) for e in opened.entries] == [
        (path, len(content), hashlib.sha256(content).hexdigest(), {"note": "x"}) for path, content in ENTRIES]
    assert opened.manifest["recipient"] == BODY.public_key().fingerprint


def test_content_is_streamed_from_readers_and_chunk_iterables():
    big = bytes(range(256)) * 4096  # 1 MiB: many chunks
    sink = io.BytesIO()
    writer = BundleWriter.to_recipient(sink, BODY.public_key(), KIND_ROUTED)
    writer.add("a", io.BytesIO(big))
    writer.add("b", iter([big[:10], big[10:70000], b"", big[70000:]]))
    writer.finish({})
    assert contents(sink.getvalue()) == {"a": big, "b": big}
    assert open_bundle(io.BytesIO(sink.getvalue()), BODY).kind == "routed"


def test_a_wrong_key_fails_and_names_the_key_it_is_for():
    with pytest.raises(IntegrityError, match=BODY.public_key().fingerprint):
        open_bundle(io.BytesIO(BUNDLE), OTHER)


def test_a_wrap_to_another_key_with_the_right_fingerprint_field_fails():
    """The fingerprint field only speeds up the error: the wrap itself must open."""
    header = read_header(io.BytesIO(BUNDLE))
    forged_wrap = wrap_dek(bytes(32), OTHER.public_key(), header.bundle_id)
    assert len(forged_wrap) == len(header.wrap)
    data = BUNDLE.replace(header.wrap, forged_wrap)
    with pytest.raises(IntegrityError):
        open_bundle(io.BytesIO(data), BODY)


def test_every_single_byte_change_fails():
    """Header (magic, version, kind, chunk size, id, fingerprint, wrap, commitment), content and
    manifest: flipping any one byte of the bundle makes it fail to open."""
    small = make([("r.json", b"{}")], chunk_log2=10)
    for position in range(len(small)):
        tampered = bytearray(small)
        tampered[position] ^= 0x01
        with pytest.raises(CryptoError):
            contents(bytes(tampered))


def test_truncation_appending_and_chunk_reordering_fail():
    data = make([("a", bytes(5000))], chunk_log2=10)
    header_len = len(read_header(io.BytesIO(data)).raw)
    chunk = 1024 + 16
    for bad in (data[:-1], data[:-chunk], data[: header_len + chunk], data + b"\x00", data + data[header_len:]):
        with pytest.raises(CryptoError):
            contents(bad)
    body = data[header_len:]
    swapped = data[:header_len] + body[chunk : 2 * chunk] + body[:chunk] + body[2 * chunk :]
    with pytest.raises(IntegrityError):
        contents(swapped)


def test_not_a_bundle_and_unknown_versions_are_format_errors():
    for bad in (b"", b"PORTALCB", b"%PDF-1.7" + bytes(100), BUNDLE[:8] + b"\x02" + BUNDLE[9:]):
        with pytest.raises(FormatError):
            open_bundle(io.BytesIO(bad), BODY)


def test_entry_paths_that_could_escape_or_collide_are_refused_when_writing():
    writer = BundleWriter.to_recipient(io.BytesIO(), BODY.public_key(), KIND_REFERRAL)
    for path in ("../x", "/etc/passwd", ".hidden", "a/../b", "a\\b", "a//b", "", "a/b/c/d/e/f", "x" * 121, "é"):
        with pytest.raises(FormatError):
            writer.add(path, b"")
    writer.add("a", b"")
    with pytest.raises(FormatError):
        writer.add("a", b"")
    with pytest.raises(FormatError):
        writer.add("b", b"", sha256="0" * 64)  # the manifest's own fields cannot be overridden


def _bundle_with_manifest(manifest_entries: list[dict], content: bytes) -> bytes:
    """A bundle whose manifest is written by hand (what a forger holding the body's public key can do)."""
    sink = io.BytesIO()
    writer = BundleWriter.to_recipient(sink, BODY.public_key(), KIND_REFERRAL, 10)
    writer._write(content)
    header = read_header(io.BytesIO(writer.header))
    manifest = json.dumps({"format": "portal-case-bundle", "version": 1, "kind": "referral", "bundle_id": header.bundle_id.hex(),
                           "recipient": header.recipient_fingerprint, "entries": manifest_entries, "details": {}}).encode()
    writer._write(manifest + len(manifest).to_bytes(4, "big"))
    writer._emit(final=True)
    return sink.getvalue()


def test_a_manifest_that_disagrees_with_the_content_fails_even_when_authentic():
    good = {"path": "a", "size": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}
    assert contents(_bundle_with_manifest([good], b"abc")) == {"a": b"abc"}
    with pytest.raises(IntegrityError, match="does not match its manifest hash"):
        contents(_bundle_with_manifest([good], b"abd"))
    with pytest.raises(IntegrityError, match="do not add up"):
        contents(_bundle_with_manifest([{**good, "size": 2}], b"abc"))
    for bad in ([{**good, "path": "../a"}], [good, good], [{**good, "path": "A"}, {**good, "path": "a", "size": 0}],
                [{**good, "path": "d"}, {**good, "path": "d/e", "size": 0}], [{**good, "size": -3}], [{**good, "sha256": "x"}]):
        with pytest.raises(FormatError):
            contents(_bundle_with_manifest(bad, b"abc"))


def test_the_manifest_must_match_the_header():
    sink = io.BytesIO()
    writer = BundleWriter.to_recipient(sink, BODY.public_key(), KIND_REFERRAL)
    header = read_header(io.BytesIO(writer.header))
    manifest = encode_manifest(KIND_ROUTED, header.bundle_id, header.recipient_fingerprint, [], {})  # says "routed"
    writer._write(manifest + len(manifest).to_bytes(4, "big"))
    writer._emit(final=True)
    with pytest.raises(IntegrityError, match="does not match its header"):
        open_bundle(io.BytesIO(sink.getvalue()), BODY)


def test_the_manifest_size_is_capped():
    with pytest.raises(FormatError):
        encode_manifest(KIND_REFERRAL, bytes(16), "0" * 32, [], {"x": "y" * MAX_MANIFEST_BYTES})


def test_the_header_layout():
    header = read_header(io.BytesIO(BUNDLE))
    assert BUNDLE[:12] == b"PORTALCB\x01\x32\x01\x0a"
    assert len(header.raw) == FIXED_HEADER_LEN + len(header.wrap) + 32
    assert header.wrap[:2] == b"\x01\x11" and len(header.wrap) == 1218  # a recipient wrap, as for a DEK


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,12}", fullmatch=True), st.binary(max_size=3000)),
                max_size=6, unique_by=lambda item: item[0]),
       st.integers(min_value=10, max_value=12))
def test_property_any_entries_round_trip(entries, chunk_log2):
    assert contents(make(entries, chunk_log2=chunk_log2)) == dict(entries)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_any_byte_flip_fails(data):
    position = data.draw(st.integers(min_value=0, max_value=len(BUNDLE) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    tampered = bytearray(BUNDLE)
    tampered[position] ^= 1 << bit
    with pytest.raises(CryptoError):
        contents(bytes(tampered))
