"""Attachment streams (portal/crypto/stream.py): STREAM over AES-256-GCM.

Small chunks (chunk_log2 = 10, 1 KiB) keep the multi-chunk cases cheap.
"""

from __future__ import annotations

import io
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.crypto import CryptoError, FormatError, IntegrityError
from portal.crypto import stream as s

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

LOG2 = 10
CHUNK = 1 << LOG2
CT_CHUNK = CHUNK + s.TAG_LEN
DEK = bytes(range(32))
REPORT_ID = bytes(range(16))
ATTACHMENT_ID = bytes(range(16, 32))
ARGS = (DEK, REPORT_ID, ATTACHMENT_ID)

sizes = st.one_of(
    st.integers(0, 5 * CHUNK + 7),
    st.sampled_from([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 1, 3 * CHUNK - 1, 3 * CHUNK]),
)


def data_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def encrypt(plaintext: bytes, attachment_id: bytes = ATTACHMENT_ID, dek: bytes = DEK, log2: int = LOG2) -> bytes:
    out = io.BytesIO()
    s.encrypt_stream(dek, REPORT_ID, attachment_id, io.BytesIO(plaintext), out, chunk_log2=log2)
    return out.getvalue()


def decrypt(ciphertext: bytes, attachment_id: bytes = ATTACHMENT_ID, dek: bytes = DEK) -> bytes:
    out = io.BytesIO()
    n = s.decrypt_stream(dek, REPORT_ID, attachment_id, io.BytesIO(ciphertext), out)
    assert n == len(out.getvalue())
    return out.getvalue()


def split(ciphertext: bytes) -> tuple[bytes, list[bytes]]:
    header, body = ciphertext[: s.HEADER_LEN], ciphertext[s.HEADER_LEN :]
    return header, [body[i : i + CT_CHUNK] for i in range(0, len(body), CT_CHUNK)]


def assert_refused(ciphertext: bytes, exc: type[CryptoError] = CryptoError, **kw) -> None:
    """Refused by every entry point, and decrypt_stream writes nothing."""
    with pytest.raises(exc):
        s.verify_stream(DEK, REPORT_ID, kw.get("attachment_id", ATTACHMENT_ID), io.BytesIO(ciphertext))
    with pytest.raises(exc):
        list(s.iter_decrypt_unverified(DEK, REPORT_ID, kw.get("attachment_id", ATTACHMENT_ID), io.BytesIO(ciphertext)))
    dst = io.BytesIO()
    with pytest.raises(exc):
        s.decrypt_stream(DEK, REPORT_ID, kw.get("attachment_id", ATTACHMENT_ID), io.BytesIO(ciphertext), dst)
    assert dst.getvalue() == b""


class TrickleReader:
    """A source that hands out at most a few bytes per call, with read() only (no readinto)."""

    def __init__(self, data: bytes, seed: int) -> None:
        self._data, self._pos, self._rng = data, 0, random.Random(seed)

    def read(self, n: int = -1) -> bytes:
        n = min(n if n >= 0 else len(self._data), self._rng.randint(1, 300))
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk


class TrickleReadinto(io.RawIOBase):
    """A source whose readinto() returns short reads."""

    def __init__(self, data: bytes, seed: int) -> None:
        self._data, self._pos, self._rng = data, 0, random.Random(seed)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self._rng.randint(1, 300), len(self._data) - self._pos)
        buf[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


# -- round trips --------------------------------------------------------------------------------


@FAST
@given(size=sizes, seed=st.integers(0, 2**32), cuts=st.lists(st.integers(0, 6 * CHUNK), max_size=12))
def test_round_trip_any_length_any_write_boundaries(size, seed, cuts):
    plaintext = data_of(size, seed)
    out = io.BytesIO()
    enc = s.StreamEncryptor(DEK, REPORT_ID, ATTACHMENT_ID, out, chunk_log2=LOG2)
    points = sorted({0, size, *(c % (size + 1) for c in cuts)})
    for a, b in zip(points, points[1:], strict=False):
        assert enc.write(plaintext[a:b]) == b - a
    enc.write(b"")  # empty writes are harmless
    enc.finish()
    enc.finish()  # idempotent
    ciphertext = out.getvalue()
    assert len(ciphertext) == s.ciphertext_size(size, LOG2) == enc.ciphertext_size
    assert enc.plaintext_size == size
    assert decrypt(ciphertext) == plaintext
    chunks = list(s.iter_decrypt_unverified(*ARGS, io.BytesIO(ciphertext)))
    assert b"".join(chunks) == plaintext
    assert all(len(c) == CHUNK for c in chunks[:-1]) and len(chunks[-1]) <= CHUNK
    assert s.verify_stream(*ARGS, io.BytesIO(ciphertext)) == size


@FAST
@given(size=sizes, seed=st.integers(0, 2**32))
def test_encrypt_stream_and_ciphertext_size(size, seed):
    plaintext = data_of(size, seed)
    out = io.BytesIO()
    n = s.encrypt_stream(*ARGS, io.BytesIO(plaintext), out, chunk_log2=LOG2)
    assert n == len(out.getvalue()) == s.ciphertext_size(size, LOG2)
    assert decrypt(out.getvalue()) == plaintext


@FAST
@given(size=sizes, seed=st.integers(0, 2**32))
def test_short_reads_on_both_sides(size, seed):
    plaintext = data_of(size, seed)
    out = io.BytesIO()
    s.encrypt_stream(*ARGS, TrickleReader(plaintext, seed), out, chunk_log2=LOG2)
    ciphertext = out.getvalue()
    assert b"".join(s.iter_decrypt_unverified(*ARGS, TrickleReader(ciphertext, seed + 1))) == plaintext
    assert b"".join(s.iter_decrypt_unverified(*ARGS, TrickleReadinto(ciphertext, seed + 2))) == plaintext


@pytest.mark.parametrize("log2", [s.MIN_CHUNK_LOG2, 12, s.DEFAULT_CHUNK_LOG2])
def test_other_chunk_sizes(log2):
    plaintext = data_of(3 * (1 << log2) + 5)
    ciphertext = encrypt(plaintext, log2=log2)
    assert ciphertext[2] == log2
    assert len(ciphertext) == s.ciphertext_size(len(plaintext), log2)
    assert decrypt(ciphertext) == plaintext


def test_default_chunk_size_and_format_header():
    out = io.BytesIO()
    enc = s.StreamEncryptor(*ARGS, out)
    enc.finish()
    ct = out.getvalue()
    assert ct[:3] == bytes([1, s.ALG_STREAM, s.DEFAULT_CHUNK_LOG2])
    assert len(ct) == s.HEADER_LEN + s.TAG_LEN == s.ciphertext_size(0)


def test_empty_file_is_one_final_chunk():
    ct = encrypt(b"")
    assert len(ct) == s.HEADER_LEN + s.TAG_LEN
    assert decrypt(ct) == b""
    assert list(s.iter_decrypt_unverified(*ARGS, io.BytesIO(ct))) == [b""]


def test_salts_are_fresh_and_ciphertexts_differ():
    plaintext = data_of(3000)
    cts = [encrypt(plaintext) for _ in range(10)]
    assert len({c[3 : s.HEADER_LEN] for c in cts}) == 10
    assert len({c[s.HEADER_LEN : s.HEADER_LEN + 64] for c in cts}) == 10


def test_write_after_finish_is_refused():
    enc = s.StreamEncryptor(*ARGS, io.BytesIO(), chunk_log2=LOG2)
    enc.finish()
    with pytest.raises(ValueError):
        enc.write(b"more")


@pytest.mark.parametrize("log2", [0, s.MIN_CHUNK_LOG2 - 1, s.MAX_CHUNK_LOG2 + 1, 64])
def test_chunk_size_out_of_range(log2):
    with pytest.raises(FormatError):
        s.StreamEncryptor(*ARGS, io.BytesIO(), chunk_log2=log2)


def test_bad_key_or_ids_are_format_errors():
    with pytest.raises(FormatError):
        s.StreamEncryptor(DEK[:16], REPORT_ID, ATTACHMENT_ID, io.BytesIO())
    with pytest.raises(FormatError):
        s.StreamEncryptor(DEK, REPORT_ID[:8], ATTACHMENT_ID, io.BytesIO())
    with pytest.raises(FormatError):
        s.StreamEncryptor(DEK, REPORT_ID, ATTACHMENT_ID + b"x", io.BytesIO())


# -- tampering --------------------------------------------------------------------------------------

PLAIN = data_of(2 * CHUNK + CHUNK // 2, seed=7)  # 2.5 chunks -> 3 ciphertext chunks
CT = encrypt(PLAIN)
HEADER, CHUNKS = split(CT)


def test_fixture_shape():
    assert len(CHUNKS) == 3 and len(CHUNKS[2]) == CHUNK // 2 + s.TAG_LEN
    assert decrypt(CT) == PLAIN


def test_every_single_byte_flip_fails():
    for i in range(len(CT)):
        bad = bytearray(CT)
        bad[i] ^= 0x01 if i % 2 else 0x80
        with pytest.raises(CryptoError) as info:
            s.verify_stream(*ARGS, io.BytesIO(bytes(bad)))
        if i >= 3:  # salt and body: authentication; version/alg/chunk size: format or authentication
            assert isinstance(info.value, IntegrityError), i


@pytest.mark.parametrize("i", [0, 1, 2, 3, s.HEADER_LEN, s.HEADER_LEN + CHUNK, len(CT) // 2, len(CT) - 1])
def test_flip_refused_everywhere_and_nothing_written(i):
    bad = bytearray(CT)
    bad[i] ^= 0x40
    assert_refused(bytes(bad))


@pytest.mark.parametrize(
    "cut",
    [
        0,  # empty
        1,
        s.HEADER_LEN - 1,
        s.HEADER_LEN,  # header only
        s.HEADER_LEN + 1,
        s.HEADER_LEN + s.TAG_LEN - 1,
        s.HEADER_LEN + CT_CHUNK // 2,  # mid first chunk
        s.HEADER_LEN + CT_CHUNK,  # chunk boundary after chunk 0
        s.HEADER_LEN + CT_CHUNK + 1,
        s.HEADER_LEN + 2 * CT_CHUNK,  # chunk boundary: final chunk dropped
        s.HEADER_LEN + 2 * CT_CHUNK + s.TAG_LEN,  # a whole-looking but short final chunk
        len(CT) - 1,  # mid final chunk
    ],
)
def test_truncation_fails(cut):
    exc = FormatError if cut < s.HEADER_LEN else IntegrityError
    assert_refused(CT[:cut], exc)


def test_truncation_of_exact_multiple_at_chunk_boundary():
    plaintext = data_of(3 * CHUNK, seed=3)
    header, chunks = split(encrypt(plaintext))
    assert len(chunks) == 3 and all(len(c) == CT_CHUNK for c in chunks)
    assert_refused(header + chunks[0] + chunks[1], IntegrityError)
    assert_refused(header + chunks[0], IntegrityError)


def test_every_truncation_fails():
    for cut in range(len(CT)):
        with pytest.raises(CryptoError):
            s.verify_stream(*ARGS, io.BytesIO(CT[:cut]))


def test_dropped_reordered_duplicated_chunks_fail():
    c0, c1, c2 = CHUNKS
    for body in (
        c1 + c2,  # first dropped
        c0 + c2,  # middle dropped
        c0 + c1,  # last dropped (chunk boundary truncation)
        c1 + c0 + c2,  # reordered
        c0 + c2 + c1,
        c0 + c0 + c1 + c2,  # duplicated
        c0 + c1 + c1 + c2,
        c0 + c1 + c2 + c2,  # final chunk repeated
        c2,  # only the final one
    ):
        assert_refused(HEADER + body, IntegrityError)


EXACT = encrypt(data_of(2 * CHUNK, seed=12))  # ends on a chunk boundary: the final chunk is full


@pytest.mark.parametrize("base", [CT, EXACT], ids=["partial-final-chunk", "full-final-chunk"])
@pytest.mark.parametrize("garbage", [b"\x00", b"x" * (s.TAG_LEN - 1), b"x" * s.TAG_LEN, os.urandom(CT_CHUNK), os.urandom(5000)])
def test_appended_data_fails(base, garbage):
    assert_refused(base + garbage, IntegrityError)


def test_appending_a_valid_chunk_fails():
    plaintext = data_of(2 * CHUNK, seed=11)  # ends on a boundary: final chunk is full
    header, chunks = split(encrypt(plaintext))
    assert_refused(header + chunks[0] + chunks[1] + chunks[0], IntegrityError)


def test_chunk_from_another_attachment_with_same_dek_fails():
    other_id = bytes(range(50, 66))
    other = encrypt(data_of(len(PLAIN), seed=8), attachment_id=other_id)
    o_header, o_chunks = split(other)
    assert decrypt(other, attachment_id=other_id)  # the other file is itself fine
    for i in range(3):
        swapped = list(CHUNKS)
        swapped[i] = o_chunks[i]
        assert_refused(HEADER + b"".join(swapped), IntegrityError)
    # even with the other file's header (salt) the attachment id binding holds
    assert_refused(o_header + b"".join(CHUNKS), IntegrityError)
    assert_refused(other, IntegrityError)  # another attachment's whole file under our id


def test_chunk_from_another_encryption_of_same_attachment_fails():
    again = encrypt(PLAIN)  # same DEK, report, attachment id and plaintext; new salt
    a_header, a_chunks = split(again)
    assert a_header != HEADER
    for i in range(3):
        swapped = list(CHUNKS)
        swapped[i] = a_chunks[i]
        assert_refused(HEADER + b"".join(swapped), IntegrityError)
    assert_refused(a_header + b"".join(CHUNKS), IntegrityError)  # header swapped


def test_wrong_key_report_or_attachment_fails():
    with pytest.raises(IntegrityError):
        s.verify_stream(os.urandom(32), REPORT_ID, ATTACHMENT_ID, io.BytesIO(CT))
    with pytest.raises(IntegrityError):
        s.verify_stream(DEK, bytes(16), ATTACHMENT_ID, io.BytesIO(CT))
    assert_refused(CT, IntegrityError, attachment_id=bytes(16))


@pytest.mark.parametrize("version", [0x00, 0x02, 0xFF])
def test_unknown_version_is_format_error(version):
    assert_refused(bytes([version]) + CT[1:], FormatError)


@pytest.mark.parametrize("alg", [0x00, 0x01, 0x02, 0x04, 0x11, 0xFF])
def test_unknown_algorithm_is_format_error(alg):
    assert_refused(CT[:1] + bytes([alg]) + CT[2:], FormatError)


@pytest.mark.parametrize("log2", [0, 9, 25, 255])
def test_chunk_size_byte_out_of_range_is_format_error(log2):
    assert_refused(CT[:2] + bytes([log2]) + CT[3:], FormatError)


def test_chunk_size_byte_changed_within_range_fails():
    assert_refused(CT[:2] + bytes([LOG2 + 1]) + CT[3:], IntegrityError)


def test_decrypt_stream_writes_nothing_when_tampered_at_the_end(tmp_path):
    plaintext = data_of(20 * CHUNK + 100, seed=5)
    ct = bytearray(encrypt(plaintext))
    ct[-1] ^= 1
    src = tmp_path / "blob"
    src.write_bytes(bytes(ct))
    dst_path = tmp_path / "out"

    class CountingSink(io.BytesIO):
        calls = 0

        def write(self, b):
            CountingSink.calls += 1
            return super().write(b)

    sink = CountingSink()
    with open(src, "rb") as f, pytest.raises(IntegrityError):
        s.decrypt_stream(*ARGS, f, sink)
    assert CountingSink.calls == 0 and sink.getvalue() == b""
    with open(src, "rb") as f, open(dst_path, "wb") as out, pytest.raises(IntegrityError):
        s.decrypt_stream(*ARGS, f, out)
    assert dst_path.stat().st_size == 0
    # truncated at a chunk boundary near the end
    good = encrypt(plaintext)
    src.write_bytes(good[: s.HEADER_LEN + 20 * CT_CHUNK])
    with open(src, "rb") as f, pytest.raises(IntegrityError):
        s.decrypt_stream(*ARGS, f, sink)
    assert sink.getvalue() == b""


def test_decrypt_stream_from_an_offset(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"PREFIX" + CT)
    with open(path, "rb") as f:
        f.seek(6)
        out = io.BytesIO()
        assert s.decrypt_stream(*ARGS, f, out) == len(PLAIN)
    assert out.getvalue() == PLAIN


def test_iter_decrypt_unverified_yields_only_authentic_chunks():
    bad = bytearray(CT)
    bad[s.HEADER_LEN + CT_CHUNK + 5] ^= 1  # damage chunk 1
    it = s.iter_decrypt_unverified(*ARGS, io.BytesIO(bytes(bad)))
    assert next(it) == PLAIN[:CHUNK]
    with pytest.raises(IntegrityError):
        next(it)
