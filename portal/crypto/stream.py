"""Chunked attachment encryption: the STREAM construction over AES-256-GCM.

Format (docs/crypto.md, "Attachment stream"):

    header (19) = version 0x01 | alg 0x03 | log2(chunk size) | salt (16)
    chunk i     = AES-256-GCM(key, nonce_i, plaintext_i, aad=header)

    key     = HKDF-SHA256(DEK, salt=salt, info="portal/v1/stream" || report_id || attachment_id)
    nonce_i = i as 11-byte big-endian || 0x01 on the final chunk, else 0x00

Every chunk but the last holds exactly `chunk size` bytes of plaintext; the last
holds 0..chunk size. The counter detects reordering and duplication, the final
flag detects truncation and appended data, and the per-file key (bound to the
attachment id and a random salt) detects chunks swapped in from another file.
Memory use is two chunk buffers, whatever the file size.

Decryption verifies the whole stream before it releases any plaintext
(`decrypt_stream`), unless the caller explicitly asks for unverified chunks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.crypto.envelope import REPORT_ID_LEN, VERSION
from portal.crypto.errors import FormatError, IntegrityError
from portal.crypto.kdf import KEY_LEN, hkdf

ALG_STREAM = 0x03
SALT_LEN = 16
HEADER_LEN = 3 + SALT_LEN
TAG_LEN = 16
DEFAULT_CHUNK_LOG2 = 16  # 64 KiB
MIN_CHUNK_LOG2, MAX_CHUNK_LOG2 = 10, 24


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _stream_key(dek: bytes, salt: bytes, report_id: bytes, attachment_id: bytes) -> AESGCM:
    if len(dek) != KEY_LEN:
        raise FormatError("key must be 32 bytes")
    if len(report_id) != REPORT_ID_LEN or len(attachment_id) != REPORT_ID_LEN:
        raise FormatError("report and attachment ids must be 16 bytes")
    return AESGCM(hkdf(dek, b"portal/v1/stream" + report_id + attachment_id, salt=salt))


def ciphertext_size(plaintext_size: int, chunk_log2: int = DEFAULT_CHUNK_LOG2) -> int:
    chunk = 1 << chunk_log2
    chunks = max(1, -(-plaintext_size // chunk))
    return HEADER_LEN + plaintext_size + chunks * TAG_LEN


class StreamEncryptor:
    """Push-style encryptor: `write()` plaintext as it arrives, then `finish()`.

    Ciphertext goes to `sink` as soon as each full chunk is known not to be the
    last one. Used both for files on disk and for uploads being parsed.
    """

    def __init__(
        self,
        dek: bytes,
        report_id: bytes,
        attachment_id: bytes,
        sink: BinaryIO,
        chunk_log2: int = DEFAULT_CHUNK_LOG2,
    ) -> None:
        if not MIN_CHUNK_LOG2 <= chunk_log2 <= MAX_CHUNK_LOG2:
            raise FormatError("chunk size out of range")
        salt = os.urandom(SALT_LEN)
        self._header = bytes([VERSION, ALG_STREAM, chunk_log2]) + salt
        self._aead = _stream_key(dek, salt, report_id, attachment_id)
        self._chunk = 1 << chunk_log2
        self._buf = bytearray(self._chunk)
        self._out = bytearray(self._chunk + TAG_LEN)
        self._fill = 0
        self._index = 0
        self._sink = sink
        self._finished = False
        self.plaintext_size = 0
        self.ciphertext_size = HEADER_LEN
        sink.write(self._header)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._finished:
            raise ValueError("stream already finished")
        view = memoryview(data).cast("B")
        total = len(view)
        while view:
            if self._fill == self._chunk:
                self._emit(final=False)
            n = min(len(view), self._chunk - self._fill)
            self._buf[self._fill : self._fill + n] = view[:n]
            self._fill += n
            view = view[n:]
        self.plaintext_size += total
        return total

    def finish(self) -> None:
        if not self._finished:
            self._emit(final=True)
            self._finished = True

    def _emit(self, final: bool) -> None:
        n = self._fill
        plain = memoryview(self._buf)[:n]
        out = memoryview(self._out)[: n + TAG_LEN]
        self._aead.encrypt_into(_nonce(self._index, final), plain, self._header, out)
        self._sink.write(out)
        self.ciphertext_size += n + TAG_LEN
        self._index += 1
        self._fill = 0


def encrypt_stream(
    dek: bytes,
    report_id: bytes,
    attachment_id: bytes,
    src: BinaryIO,
    dst: BinaryIO,
    chunk_log2: int = DEFAULT_CHUNK_LOG2,
) -> int:
    """Encrypt everything readable from `src` into `dst`; returns ciphertext bytes written."""
    enc = StreamEncryptor(dek, report_id, attachment_id, dst, chunk_log2)
    buf = bytearray(1 << chunk_log2)
    view = memoryview(buf)
    while True:
        n = src.readinto(buf) if hasattr(src, "readinto") else _copy_read(src, buf)
        if not n:
            break
        enc.write(view[:n])
    enc.finish()
    return enc.ciphertext_size


def _copy_read(src: BinaryIO, buf: bytearray) -> int:
    data = src.read(len(buf))
    buf[: len(data)] = data
    return len(data)


def _read_exact(src: BinaryIO, buf: memoryview) -> int:
    """Fill `buf` from `src` until it is full or the source ends; returns bytes read."""
    got = 0
    while got < len(buf):
        if hasattr(src, "readinto"):
            n = src.readinto(buf[got:])
        else:
            data = src.read(len(buf) - got)
            n = len(data)
            buf[got : got + n] = data
        if not n:
            break
        got += n
    return got


def iter_decrypt_unverified(dek: bytes, report_id: bytes, attachment_id: bytes, src: BinaryIO) -> Iterator[bytes]:
    """Yield authenticated chunks in order.

    Each yielded chunk is authentic, but a stream cut short is only detected when
    the end is reached: callers that must not release partial plaintext use
    `decrypt_stream` or `verify_stream` first.
    """
    header = bytearray(HEADER_LEN)
    if _read_exact(src, memoryview(header)) != HEADER_LEN:
        raise FormatError("attachment stream truncated")
    header = bytes(header)
    if header[0] != VERSION:
        raise FormatError("unknown stream version")
    if header[1] != ALG_STREAM:
        raise FormatError("unexpected stream algorithm")
    chunk_log2 = header[2]
    if not MIN_CHUNK_LOG2 <= chunk_log2 <= MAX_CHUNK_LOG2:
        raise FormatError("chunk size out of range")
    aead = _stream_key(dek, header[3:], report_id, attachment_id)
    size = (1 << chunk_log2) + TAG_LEN
    bufs = (bytearray(size), bytearray(size))
    cur, nxt = 0, 1
    have = _read_exact(src, memoryview(bufs[cur]))
    index = 0
    while True:
        if have < TAG_LEN:
            raise IntegrityError("attachment stream truncated")
        if have == size:
            ahead = _read_exact(src, memoryview(bufs[nxt]))
        else:
            ahead = 0
        final = ahead == 0
        try:
            plain = aead.decrypt(_nonce(index, final), memoryview(bufs[cur])[:have], header)
        except InvalidTag:
            raise IntegrityError("attachment chunk failed to authenticate") from None
        yield plain
        if final:
            return
        cur, nxt = nxt, cur
        have = ahead
        index += 1


def verify_stream(dek: bytes, report_id: bytes, attachment_id: bytes, src: BinaryIO) -> int:
    """Authenticate a whole stream without keeping any plaintext; returns plaintext size."""
    return sum(len(c) for c in iter_decrypt_unverified(dek, report_id, attachment_id, src))


def decrypt_stream(dek: bytes, report_id: bytes, attachment_id: bytes, src: BinaryIO, dst: BinaryIO) -> int:
    """Verify the whole stream, then write its plaintext to `dst`.

    `src` must be seekable: the first pass authenticates every chunk and the
    final flag, so no plaintext reaches `dst` from a tampered or truncated file.
    """
    start = src.tell()
    verify_stream(dek, report_id, attachment_id, src)
    src.seek(start)
    written = 0
    for chunk in iter_decrypt_unverified(dek, report_id, attachment_id, src):
        dst.write(chunk)
        written += len(chunk)
    return written
