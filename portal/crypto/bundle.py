"""Case bundles: one file that carries a report to a receiving body, sealed to the body's key.

Format v1 (docs/crypto.md, "Case bundles"):

    header = magic "PORTALCB" (8) | version 0x01 | alg 0x32 | kind (1) | log2(chunk size) (1)
             | bundle id (16) | recipient fingerprint (16) | wrap length (2, big-endian) | wrap
             | commitment (32)
    chunk i    = AES-256-GCM(stream key, nonce_i, container chunk i, aad = SHA-256(header))
    container  = entry 1 || ... || entry n || manifest (UTF-8 JSON) || manifest length (4, big-endian)

    wrap       = the bundle key wrapped to the body's recipient key exactly as a report's DEK is
                 (alg 0x11, "DEK wraps"), with the bundle id where a wrap has the report id
    stream key = HKDF-SHA256(bundle key, salt = bundle id, info = "portal/v1/bundle/stream")
    commitment = HKDF-SHA256(bundle key, salt = bundle id, info = "portal/v1/bundle/commit")
    nonce_i    = i as 11-byte big-endian || 0x01 on the final chunk, else 0x00

kind 0x01 is a referral (a lead's chosen content, in clear inside the bundle); kind 0x02 a routed
report (its stored ciphertexts and the body's key wrap, for a report no lead can read). The
manifest lists every entry (path, size, SHA-256, attributes) and repeats the kind, the bundle id
and the recipient: it is inside the STREAM, so it is authenticated with everything else, and the
header is bound to every chunk through the associated data. Every chunk but the last holds exactly
the chunk size; the final flag catches truncation and appended data, the counter reordering.

Opening verifies the whole stream before it releases anything (`open_bundle`), then
`OpenedBundle.extract` decrypts again, splitting the entries and checking each hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.crypto.envelope import VERSION
from portal.crypto.errors import FormatError, IntegrityError
from portal.crypto.kdf import KEY_LEN, hkdf
from portal.crypto.keys import RecipientPrivateKey, RecipientPublicKey, unwrap_dek, wrap_dek

MAGIC = b"PORTALCB"
ALG_BUNDLE = 0x32
KIND_REFERRAL = 0x01
KIND_ROUTED = 0x02
KIND_NAMES = {KIND_REFERRAL: "referral", KIND_ROUTED: "routed"}
FORMAT_NAME = "portal-case-bundle"
FORMAT_VERSION = 1
BUNDLE_ID_LEN = 16
FINGERPRINT_LEN = 16  # the 32 hex characters of a recipient fingerprint, as bytes
COMMIT_LEN = 32
TAG_LEN = 16
FIXED_HEADER_LEN = len(MAGIC) + 4 + BUNDLE_ID_LEN + FINGERPRINT_LEN + 2
MAX_WRAP_LEN = 4096
DEFAULT_CHUNK_LOG2 = 16  # 64 KiB
MIN_CHUNK_LOG2, MAX_CHUNK_LOG2 = 10, 24
MAX_MANIFEST_BYTES = 1 << 20
MAX_ENTRIES = 10_000
READ_BYTES = 1 << 16
# Entry paths are written out as files by `portal referral open`: plain relative names only (no
# "..", no hidden or absolute paths, no backslashes), at most four directories deep.
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,119}"
PATH = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT}){{0,3}}")
RESERVED_KEYS = frozenset({"path", "size", "sha256"})
STREAM_INFO = b"portal/v1/bundle/stream"
COMMIT_INFO = b"portal/v1/bundle/commit"

Source = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    size: int
    sha256: str
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**self.attributes, "path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class BundleHeader:
    kind: int
    chunk_log2: int
    bundle_id: bytes
    recipient_fingerprint: str
    wrap: bytes
    commitment: bytes
    raw: bytes

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]


def _keys(bundle_key: bytes, bundle_id: bytes) -> tuple[AESGCM, bytes]:
    if len(bundle_key) != KEY_LEN or len(bundle_id) != BUNDLE_ID_LEN:
        raise FormatError("bundle key must be 32 bytes and bundle id 16")
    stream_key = hkdf(bundle_key, STREAM_INFO, salt=bundle_id)
    return AESGCM(stream_key), hkdf(bundle_key, COMMIT_INFO, salt=bundle_id, length=COMMIT_LEN)


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _check_path(path: str) -> None:
    if not isinstance(path, str) or not PATH.fullmatch(path):
        raise FormatError("bundle entry path not allowed")


def encode_header(kind: int, chunk_log2: int, bundle_id: bytes, fingerprint: str, wrap: bytes, commitment: bytes) -> bytes:
    if kind not in KIND_NAMES:
        raise FormatError("unknown bundle kind")
    if not MIN_CHUNK_LOG2 <= chunk_log2 <= MAX_CHUNK_LOG2:
        raise FormatError("chunk size out of range")
    if len(wrap) > MAX_WRAP_LEN or len(bundle_id) != BUNDLE_ID_LEN or len(commitment) != COMMIT_LEN:
        raise FormatError("malformed bundle header field")
    try:
        fingerprint_bytes = bytes.fromhex(fingerprint)
    except ValueError as exc:
        raise FormatError("malformed recipient fingerprint") from exc
    if len(fingerprint_bytes) != FINGERPRINT_LEN:
        raise FormatError("malformed recipient fingerprint")
    return (MAGIC + bytes([VERSION, ALG_BUNDLE, kind, chunk_log2]) + bundle_id + fingerprint_bytes
            + len(wrap).to_bytes(2, "big") + wrap + commitment)


def _read_exact(src: BinaryIO, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        data = src.read(n - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def read_header(src: BinaryIO) -> BundleHeader:
    """The header at the reader's position; FormatError if it is not a bundle of this format."""
    fixed = _read_exact(src, FIXED_HEADER_LEN)
    if len(fixed) != FIXED_HEADER_LEN or fixed[:8] != MAGIC:
        raise FormatError("not a case bundle")
    if fixed[8] != VERSION or fixed[9] != ALG_BUNDLE:
        raise FormatError("unknown case bundle version")
    kind, chunk_log2 = fixed[10], fixed[11]
    if kind not in KIND_NAMES:
        raise FormatError("unknown bundle kind")
    if not MIN_CHUNK_LOG2 <= chunk_log2 <= MAX_CHUNK_LOG2:
        raise FormatError("chunk size out of range")
    bundle_id, fingerprint = fixed[12:28], fixed[28:44].hex()
    wrap_len = int.from_bytes(fixed[44:46], "big")
    if wrap_len > MAX_WRAP_LEN:
        raise FormatError("bundle key wrap too long")
    rest = _read_exact(src, wrap_len + COMMIT_LEN)
    if len(rest) != wrap_len + COMMIT_LEN:
        raise FormatError("case bundle truncated")
    return BundleHeader(kind, chunk_log2, bundle_id, fingerprint, rest[:wrap_len], rest[wrap_len:], fixed + rest)


class _HashingSink:
    """Writes through to `sink` and keeps the SHA-256 of everything written (the bundle's hash)."""

    def __init__(self, sink: BinaryIO) -> None:
        self._sink, self.hash = sink, hashlib.sha256()

    def write(self, data: bytes | memoryview) -> None:
        self._sink.write(data)
        self.hash.update(data)


class BundleWriter:
    """Push-style: `add()` each entry (its content streamed through in chunks), then `finish()`.

    Memory use is one chunk buffer and one read buffer, whatever the size of the entries."""

    def __init__(self, sink: BinaryIO, kind: int, bundle_key: bytes, bundle_id: bytes, fingerprint: str, wrap: bytes,
                 chunk_log2: int = DEFAULT_CHUNK_LOG2) -> None:
        self._aead, commitment = _keys(bundle_key, bundle_id)
        self.header = encode_header(kind, chunk_log2, bundle_id, fingerprint, wrap, commitment)
        self._aad = hashlib.sha256(self.header).digest()
        self._kind, self._bundle_id, self._fingerprint = kind, bundle_id, fingerprint
        self._chunk = 1 << chunk_log2
        self._buf = bytearray(self._chunk)
        self._fill = 0
        self._index = 0
        self._sink = _HashingSink(sink)
        self._entries: list[ManifestEntry] = []
        self._paths: set[str] = set()
        self._finished = False
        self._sink.write(self.header)

    @classmethod
    def to_recipient(cls, sink: BinaryIO, recipient: RecipientPublicKey, kind: int,
                     chunk_log2: int = DEFAULT_CHUNK_LOG2) -> BundleWriter:
        """A writer with a fresh random bundle key and id, the key wrapped to `recipient`."""
        bundle_key, bundle_id = os.urandom(KEY_LEN), os.urandom(BUNDLE_ID_LEN)
        return cls(sink, kind, bundle_key, bundle_id, recipient.fingerprint, wrap_dek(bundle_key, recipient, bundle_id), chunk_log2)

    @property
    def bundle_id(self) -> str:
        return self._bundle_id.hex()

    def add(self, path: str, source: Source, **attributes: Any) -> ManifestEntry:
        """Stream one entry into the bundle; `attributes` (JSON values) go into its manifest line."""
        if self._finished:
            raise ValueError("bundle already finished")
        _check_path(path)
        if path in self._paths:
            raise FormatError("bundle entry path used twice")
        if RESERVED_KEYS & attributes.keys():
            raise FormatError("reserved manifest attribute")
        if len(self._entries) >= MAX_ENTRIES:
            raise FormatError("too many bundle entries")
        digest, size = hashlib.sha256(), 0
        for piece in _pieces(source):
            digest.update(piece)
            size += len(piece)
            self._write(piece)
        entry = ManifestEntry(path, size, digest.hexdigest(), dict(attributes))
        self._entries.append(entry)
        self._paths.add(path)
        return entry

    def finish(self, details: Mapping[str, Any]) -> str:
        """Write the manifest and the final chunk; returns the SHA-256 (hex) of the whole bundle."""
        if self._finished:
            raise ValueError("bundle already finished")
        manifest = encode_manifest(self._kind, self._bundle_id, self._fingerprint, self._entries, details)
        self._write(manifest + len(manifest).to_bytes(4, "big"))
        self._emit(final=True)
        self._finished = True
        return self._sink.hash.hexdigest()

    def _write(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            if self._fill == self._chunk:
                self._emit(final=False)
            n = min(len(view), self._chunk - self._fill)
            self._buf[self._fill : self._fill + n] = view[:n]
            self._fill += n
            view = view[n:]

    def _emit(self, final: bool) -> None:
        plain = memoryview(self._buf)[: self._fill]
        self._sink.write(self._aead.encrypt(_nonce(self._index, final), plain, self._aad))
        self._index += 1
        self._fill = 0


def _pieces(source: Source) -> Iterator[bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source).cast("B")
        for start in range(0, len(view), READ_BYTES):
            yield bytes(view[start : start + READ_BYTES])
    elif hasattr(source, "read"):
        while piece := source.read(READ_BYTES):
            yield piece
    else:
        for piece in source:
            yield bytes(piece)


def encode_manifest(kind: int, bundle_id: bytes, fingerprint: str, entries: Iterable[ManifestEntry],
                    details: Mapping[str, Any]) -> bytes:
    document = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "kind": KIND_NAMES[kind], "bundle_id": bundle_id.hex(),
                "recipient": fingerprint, "entries": [entry.to_json() for entry in entries], "details": dict(details)}
    encoded = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    if len(encoded) > MAX_MANIFEST_BYTES:
        raise FormatError("bundle manifest too large")
    return encoded


# -- opening ------------------------------------------------------------------------------------


@dataclass
class OpenedBundle:
    """A bundle whose every chunk authenticated and whose manifest agrees with its header."""

    header: BundleHeader
    manifest: dict[str, Any]
    entries: tuple[ManifestEntry, ...]
    _src: BinaryIO = field(repr=False)
    _body_start: int = field(repr=False)
    _aead: AESGCM = field(repr=False)

    @property
    def kind(self) -> str:
        return self.header.kind_name

    @property
    def details(self) -> dict[str, Any]:
        return self.manifest["details"]

    def extract(self, sink_for: Callable[[ManifestEntry], BinaryIO | None]) -> None:
        """Decrypt again and hand each entry's content to `sink_for(entry)` (None: skip it).

        Raises IntegrityError when an entry's content does not have its manifest hash; the caller
        must then discard whatever the sinks received (`portal referral open` writes to a
        temporary directory it only keeps when this returns)."""
        self._src.seek(self._body_start)
        chunks = _decrypt_chunks(self._src, self.header, self._aead)
        pending = memoryview(b"")
        for entry in self.entries:
            sink, digest, left = sink_for(entry), hashlib.sha256(), entry.size
            while left:
                if not pending:
                    pending = memoryview(next(chunks, b""))
                    if not pending:
                        raise IntegrityError("case bundle shorter than its manifest")
                piece = pending[: min(left, len(pending))]
                pending = pending[len(piece) :]
                left -= len(piece)
                digest.update(piece)
                if sink is not None:
                    sink.write(piece)
            if not hmac.compare_digest(digest.hexdigest(), entry.sha256):
                raise IntegrityError(f"bundle entry {entry.path} does not match its manifest hash")
        for _ in chunks:  # authenticate the rest (the manifest) and the final flag again
            pass

    def verify_entries(self) -> None:
        """Check every entry's hash without keeping any content."""
        self.extract(lambda entry: None)


def _decrypt_chunks(src: BinaryIO, header: BundleHeader, aead: AESGCM) -> Iterator[bytes]:
    aad = hashlib.sha256(header.raw).digest()
    size = (1 << header.chunk_log2) + TAG_LEN
    current = _read_exact(src, size)
    index = 0
    while True:
        if len(current) < TAG_LEN:
            raise IntegrityError("case bundle truncated")
        ahead = _read_exact(src, size) if len(current) == size else b""
        final = not ahead
        try:
            plain = aead.decrypt(_nonce(index, final), current, aad)
        except InvalidTag:
            raise IntegrityError("case bundle chunk failed to authenticate") from None
        yield plain
        if final:
            return
        current, index = ahead, index + 1


def open_bundle(src: BinaryIO, private: RecipientPrivateKey) -> OpenedBundle:
    """Authenticate the whole bundle with the recipient's private key and read its manifest.

    `src` must be seekable (`extract` reads it again). Raises IntegrityError for a bundle sealed
    to another key or tampered with, FormatError for something that is not a bundle of this format."""
    header = read_header(src)
    body_start = src.tell()
    if not hmac.compare_digest(header.recipient_fingerprint, private.public_key().fingerprint):
        raise IntegrityError(f"this bundle is sealed to another key ({header.recipient_fingerprint})")
    bundle_key = unwrap_dek(header.wrap, private, header.bundle_id)
    aead, commitment = _keys(bundle_key, header.bundle_id)
    if not hmac.compare_digest(commitment, header.commitment):
        raise IntegrityError("bundle key commitment does not match")
    total, tail = 0, bytearray()
    for plain in _decrypt_chunks(src, header, aead):
        total += len(plain)
        tail += plain
        if len(tail) > 2 * (MAX_MANIFEST_BYTES + 4):
            del tail[: len(tail) - (MAX_MANIFEST_BYTES + 4)]
    if total < 4:
        raise FormatError("case bundle has no manifest")
    manifest_len = int.from_bytes(tail[-4:], "big")
    if manifest_len > MAX_MANIFEST_BYTES or manifest_len + 4 > total:
        raise FormatError("bundle manifest length out of range")
    manifest = _parse_manifest(bytes(tail[-4 - manifest_len : -4]), header)
    entries = _manifest_entries(manifest)
    if sum(entry.size for entry in entries) != total - 4 - manifest_len:
        raise IntegrityError("bundle entries do not add up to its content")
    return OpenedBundle(header, manifest, entries, src, body_start, aead)


def _parse_manifest(raw: bytes, header: BundleHeader) -> dict[str, Any]:
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError("bundle manifest is not JSON") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME or manifest.get("version") != FORMAT_VERSION:
        raise FormatError("unknown bundle manifest format")
    if (manifest.get("kind"), manifest.get("bundle_id"), manifest.get("recipient")) != (
            header.kind_name, header.bundle_id.hex(), header.recipient_fingerprint):
        raise IntegrityError("bundle manifest does not match its header")
    if not isinstance(manifest.get("entries"), list) or not isinstance(manifest.get("details"), dict):
        raise FormatError("bundle manifest malformed")
    return manifest


def _manifest_entries(manifest: dict[str, Any]) -> tuple[ManifestEntry, ...]:
    entries: list[ManifestEntry] = []
    paths: set[str] = set()  # case-folded: two entries must not land on one file on any file system
    directories: set[str] = set()
    if len(manifest["entries"]) > MAX_ENTRIES:
        raise FormatError("too many bundle entries")
    for item in manifest["entries"]:
        if not isinstance(item, dict):
            raise FormatError("bundle manifest entry malformed")
        path, size, sha256 = item.get("path"), item.get("size"), item.get("sha256")
        _check_path(path)
        folded = path.casefold()
        parents = {folded.rsplit("/", n)[0] for n in range(1, folded.count("/") + 1)}
        if folded in paths or folded in directories or parents & paths:
            raise FormatError("bundle entry paths collide")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise FormatError("bundle entry size malformed")
        if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise FormatError("bundle entry hash malformed")
        paths.add(folded)
        directories |= parents
        entries.append(ManifestEntry(path, size, sha256, {k: v for k, v in item.items() if k not in RESERVED_KEYS}))
    return tuple(entries)

