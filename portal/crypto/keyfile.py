"""Key files: a recipient key pair generated on its holder's own machine, in two text files.

Format (docs/crypto.md, "Key files"). Each file is three lines of ASCII:

    PORTAL-PUBLIC-KEY-V1  | fingerprint (32 hex) | base64(RecipientPublicKey.to_bytes())
    PORTAL-PRIVATE-KEY-V1 | fingerprint (32 hex) | base64(payload)

    payload, no passphrase = version 0x01 | alg 0x30 | RecipientPrivateKey.to_bytes() (129)
    payload, passphrase    = version 0x01 | alg 0x31 | argon2 params (12) | salt (16)
                             | DIRECT seal under Argon2id(passphrase, salt) of the private key,
                               associated data = the 30-byte header || fingerprint (ASCII)
    payload, split         = version 0x01 | alg 0x33 | K (1) | N (1) | split id (16)
                             | DIRECT seal under a random key of the private key,
                               associated data = the 20-byte header || fingerprint (ASCII)

    PORTAL-KEY-SHARE-V1 | fingerprint | base64(version 0x01 | alg 0x34 | split id (16) | K | N | x (1) | y (32))
                          one of N Shamir shares (portal.crypto.split) of that random key

The fingerprint is the public key's (RecipientPublicKey.fingerprint): a reader checks that the key
it opened has it, so a file whose lines were swapped or edited fails instead of yielding a
different key. The recovery key's older file (PORTAL-RECOVERY-KEY-V1) is read as well.
"""

from __future__ import annotations

import base64
import hmac
import os

from portal.crypto.envelope import VERSION, open_with_key, seal_with_key
from portal.crypto.errors import CryptoError, FormatError, IntegrityError
from portal.crypto.kdf import KEY_LEN, Argon2Params, argon2id
from portal.crypto.keys import PRIVATE_LEN, RecipientPrivateKey, RecipientPublicKey, import_recovery_private_key
from portal.crypto.split import combine_shares, split_secret

ALG_KEYFILE_PLAIN = 0x30
ALG_KEYFILE_PASSPHRASE = 0x31
ALG_KEYFILE_SPLIT = 0x33
ALG_KEY_SHARE = 0x34
SHARE_BANNER = "PORTAL-KEY-SHARE-V1"
SPLIT_HEADER_LEN = 2 + 2 + 16
SHARE_LEN = 2 + 16 + 3 + KEY_LEN
PUBLIC_BANNER = "PORTAL-PUBLIC-KEY-V1"
PRIVATE_BANNER = "PORTAL-PRIVATE-KEY-V1"
LEGACY_RECOVERY_BANNER = "PORTAL-RECOVERY-KEY-V1"
LOCKED_HEADER_LEN = 2 + 12 + 16
# A key file is opened rarely and offline, and guards a long-lived key: 256 MiB, about 1 s.
KEYFILE_ARGON2 = Argon2Params(time_cost=3, memory_kib=256 * 1024, parallelism=1)
MAX_KEY_FILE_CHARS = 8192


class PassphraseRequired(FormatError):
    """The private key file is protected by a passphrase and none was given."""


class SharesRequired(FormatError):
    """The private key file is split between holders and fewer than K of its shares were given."""


def format_fingerprint(fingerprint: str) -> str:
    """The fingerprint in groups of four, to read aloud and compare: 'a1b2 c3d4 ...'."""
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


def same_fingerprint(a: str, b: str) -> bool:
    """Constant-time comparison, ignoring spaces and case (as a person would type one)."""
    def norm(value: str) -> bytes:
        return "".join(value.split()).lower().encode("ascii", "replace")
    return hmac.compare_digest(norm(a), norm(b))


def _lines(text: str, banner: str) -> tuple[str, bytes]:
    if len(text) > MAX_KEY_FILE_CHARS:
        raise FormatError("key file too large")
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) != 3 or lines[0] != banner:
        raise FormatError(f"not a {banner} file")
    try:
        return lines[1], base64.b64decode(lines[2], validate=True)
    except ValueError as exc:
        raise FormatError("key file damaged") from exc


def _armour(banner: str, fingerprint: str, payload: bytes) -> str:
    return f"{banner}\n{fingerprint}\n{base64.b64encode(payload).decode('ascii')}\n"


# -- public half ----------------------------------------------------------------------------


def export_public_key(public: RecipientPublicKey) -> str:
    return _armour(PUBLIC_BANNER, public.fingerprint, public.to_bytes())


def import_public_key(text: str) -> RecipientPublicKey:
    fingerprint, payload = _lines(text, PUBLIC_BANNER)
    public = RecipientPublicKey.from_bytes(payload)
    if not same_fingerprint(public.fingerprint, fingerprint):
        raise IntegrityError("public key file fingerprint does not match its key")
    public._pq()  # refuses a malformed ML-KEM key now, not at the first referral
    return public


# -- private half -----------------------------------------------------------------------------


def export_private_key(private: RecipientPrivateKey, passphrase: str | None = None, params: Argon2Params | None = None) -> str:
    """The private key file; under Argon2id(passphrase) + AES-256-GCM when a passphrase is given."""
    fingerprint = private.public_key().fingerprint
    if passphrase is None:
        return _armour(PRIVATE_BANNER, fingerprint, bytes([VERSION, ALG_KEYFILE_PLAIN]) + private.to_bytes())
    params = params or KEYFILE_ARGON2
    params.check()
    header = bytes([VERSION, ALG_KEYFILE_PASSPHRASE]) + params.encode() + os.urandom(16)
    kek = argon2id(passphrase.encode("utf-8"), header[14:], params)
    sealed = seal_with_key(kek, private.to_bytes(), header + fingerprint.encode("ascii"))
    return _armour(PRIVATE_BANNER, fingerprint, header + sealed)


def export_split_private_key(private: RecipientPrivateKey, threshold: int, count: int) -> tuple[str, list[str]]:
    """The private key file locked under a random key, and `count` share files of that key, any
    `threshold` of which open it (one for each holder)."""
    fingerprint = private.public_key().fingerprint
    split_id = os.urandom(16)
    key = os.urandom(KEY_LEN)
    shares = split_secret(key, threshold, count)
    header = bytes([VERSION, ALG_KEYFILE_SPLIT, threshold, count]) + split_id
    sealed = seal_with_key(key, private.to_bytes(), header + fingerprint.encode("ascii"))
    share_files = [_armour(SHARE_BANNER, fingerprint, bytes([VERSION, ALG_KEY_SHARE]) + split_id + bytes([threshold, count, x]) + y)
                   for x, y in shares]
    return _armour(PRIVATE_BANNER, fingerprint, header + sealed), share_files


def private_key_shares_needed(text: str) -> int:
    """K for a private key file split between holders (0 for any other text)."""
    try:
        _, payload = _lines(text, PRIVATE_BANNER)
    except FormatError:
        return 0
    return payload[2] if len(payload) > SPLIT_HEADER_LEN and payload[:2] == bytes([VERSION, ALG_KEYFILE_SPLIT]) else 0


def _share(text: str, fingerprint: str, header: bytes) -> tuple[int, bytes]:
    share_fingerprint, payload = _lines(text, SHARE_BANNER)
    if len(payload) != SHARE_LEN or payload[:2] != bytes([VERSION, ALG_KEY_SHARE]):
        raise FormatError("key share damaged")
    if not same_fingerprint(share_fingerprint, fingerprint) or payload[2:18] != header[4:] or payload[18:20] != header[2:4]:
        raise FormatError("this share belongs to another key file")
    return payload[20], payload[21:]


def _open_split(payload: bytes, fingerprint: str, shares: tuple[str, ...] | list[str]) -> RecipientPrivateKey:
    header = payload[:SPLIT_HEADER_LEN]
    threshold, count = header[2], header[3]
    if not 2 <= threshold <= count:
        raise FormatError("private key file damaged")
    opened = {}
    for text in shares:
        x, y = _share(text, fingerprint, header)
        opened[x] = y
    if len(opened) < threshold:
        raise SharesRequired(f"this private key file is split between holders: {threshold} of its {count} shares are needed")
    key = combine_shares(sorted(opened.items())[:threshold])
    try:
        context = header + fingerprint.encode("ascii")
    except UnicodeEncodeError as exc:
        raise FormatError("private key file damaged") from exc
    return RecipientPrivateKey.from_bytes(open_with_key(key, payload[SPLIT_HEADER_LEN:], context))


def private_key_needs_passphrase(text: str) -> bool:
    """True for a passphrase-protected private key file (False for any other text)."""
    try:
        _, payload = _lines(text, PRIVATE_BANNER)
    except FormatError:
        return False
    return payload[:2] == bytes([VERSION, ALG_KEYFILE_PASSPHRASE])


def import_private_key(text: str, passphrase: str | None = None, shares: tuple[str, ...] | list[str] = ()) -> RecipientPrivateKey:
    """The key in a private key file (or an older recovery key file); `shares` are the texts of the
    share files of a split one.

    Raises PassphraseRequired / SharesRequired when the file needs what was not given,
    IntegrityError for a wrong passphrase or share or a fingerprint that does not match, and
    FormatError for a damaged file or a share of another file."""
    if text.lstrip().startswith(LEGACY_RECOVERY_BANNER):
        return import_recovery_private_key(text)
    fingerprint, payload = _lines(text, PRIVATE_BANNER)
    if len(payload) < 2 or payload[0] != VERSION:
        raise FormatError("unknown private key file version")
    if payload[1] == ALG_KEYFILE_PLAIN:
        if len(payload) != 2 + PRIVATE_LEN:
            raise FormatError("private key file damaged")
        private = RecipientPrivateKey.from_bytes(payload[2:])
    elif payload[1] == ALG_KEYFILE_PASSPHRASE:
        if passphrase is None:
            raise PassphraseRequired("this private key file is protected by a passphrase")
        if len(payload) <= LOCKED_HEADER_LEN:
            raise FormatError("private key file damaged")
        header = payload[:LOCKED_HEADER_LEN]
        params = Argon2Params.decode(header[2:14])
        kek = argon2id(passphrase.encode("utf-8"), header[14:], params)
        try:
            context = header + fingerprint.encode("ascii")
        except UnicodeEncodeError as exc:
            raise FormatError("private key file damaged") from exc
        private = RecipientPrivateKey.from_bytes(open_with_key(kek, payload[LOCKED_HEADER_LEN:], context))
    elif payload[1] == ALG_KEYFILE_SPLIT:
        if len(payload) <= SPLIT_HEADER_LEN:
            raise FormatError("private key file damaged")
        private = _open_split(payload, fingerprint, shares)
    else:
        raise FormatError("unknown private key file algorithm")
    try:
        actual = private.public_key().fingerprint
    except (ValueError, CryptoError) as exc:
        raise FormatError("private key file damaged") from exc
    if not same_fingerprint(actual, fingerprint):
        raise IntegrityError("private key file fingerprint does not match its key")
    return private
