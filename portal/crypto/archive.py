"""Keys and the header tag of backup archives (portal.backup).

An archive of format 3 starts with a header in clear (when it was made, the schema, the audit
log's head) that the operator is shown before anything is restored. The header is authenticated
twice over, both times with keys derived from the `backup_key` instance secret, which the
backup store never holds:

* tag = HMAC-SHA256(HKDF(backup_key, "portal/v1/backup-header"), magic || 0x40 || archive id ||
  header length || header), checked before the header is believed or printed;
* the STREAM key of the content is HKDF(backup_key, "portal/v1/backup-3" || SHA-256(the same
  bytes)), so content cannot be paired with another header either.

Formats 1 and 2 (no header) use HKDF(backup_key, "portal/v1/backup") for their STREAM key.
"""

from __future__ import annotations

import hashlib
import hmac

from portal.crypto.errors import IntegrityError
from portal.crypto.kdf import hkdf, hmac_sha256

ALG_ARCHIVE_HEADER = 0x40
TAG_LEN = 32


def legacy_stream_key(backup_key: bytes) -> bytes:
    """The STREAM key of archive formats 1 and 2."""
    return hkdf(backup_key, b"portal/v1/backup")


def header_tag(backup_key: bytes, authenticated: bytes) -> bytes:
    """The tag over everything before it (magic, algorithm byte, archive id, header length, header)."""
    return hmac_sha256(hkdf(backup_key, b"portal/v1/backup-header"), authenticated)


def check_header_tag(backup_key: bytes, authenticated: bytes, tag: bytes) -> None:
    """Raises IntegrityError unless `tag` is the tag of `authenticated` under this backup key."""
    if not hmac.compare_digest(header_tag(backup_key, authenticated), tag):
        raise IntegrityError("the archive header's tag does not match")


def stream_key(backup_key: bytes, authenticated: bytes) -> bytes:
    """The STREAM key of a format 3 archive's content, bound to its header."""
    return hkdf(backup_key, b"portal/v1/backup-3" + hashlib.sha256(authenticated).digest())
