"""Generate tests/vectors/bundle_v1.json: known answers for case bundles and key files (issue 17).

    .venv/bin/python tests/vectors/generate_bundle_vectors.py          # (re)write the file
    .venv/bin/python tests/vectors/generate_bundle_vectors.py --check  # exit 1 if it would change

Built like screening_v1.json: everything is computed here from FIXED inputs with raw HKDF,
AES-256-GCM and Argon2id, written from docs/crypto.md ("Case bundles", "Key files"), not by
calling the portal's bundle or key file code. The one exception is the bundle key's wrap (alg
0x11, ML-KEM-768, whose randomness cannot be fixed): it is made once with portal.crypto.keys and
kept while it still opens with the fixed recipient key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

OUT = HERE / "bundle_v1.json"
CHUNK_LOG2 = 10  # 1 KiB chunks: the vector spans several
ARGON2 = (1, 8 * 1024, 1)  # cheap parameters for the vector; the file records them
PASSPHRASE = "correct horse battery staple, twice"


def fixed(label: str, n: int) -> bytes:
    return hashlib.shake_256(b"portal/v1/test-vector/" + label.encode()).digest(n)


def hkdf(ikm: bytes, info: bytes, n: int = 32, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=salt, info=info).derive(ikm)


MLKEM_SEED = fixed("body-mlkem-seed", 64)
PQ_X25519 = fixed("body-pq-x25519", 32)
INTAKE_X25519 = fixed("body-intake-x25519", 32)
BUNDLE_KEY = fixed("bundle-key", 32)
BUNDLE_ID = fixed("bundle-id", 16)
ENTRIES = [
    ("report.json", json.dumps({"reference": "RPT-7Q2X", "answers": {"what_happened": "Ce n’est pas la première fois."}},
                               ensure_ascii=False).encode("utf-8"), {"type": "report"}),
    ("files/001-log.pdf", bytes(range(256)) * 10, {"type": "file", "name": "log.pdf", "media_type": "application/pdf",
                                                    "variant": "original"}),
    ("notes.json", b"[]\n", {"type": "notes", "count": 0}),
]
DETAILS = {"reference": "RPT-7Q2X", "body": "iopc", "created_on": "2026-03-06", "referred_by": "lead"}


def recipient() -> dict:
    private = b"\x01" + MLKEM_SEED + PQ_X25519 + INTAKE_X25519
    public = (b"\x01" + mlkem.MLKEM768PrivateKey.from_seed_bytes(MLKEM_SEED).public_key().public_bytes_raw()
              + x25519.X25519PrivateKey.from_private_bytes(PQ_X25519).public_key().public_bytes_raw()
              + x25519.X25519PrivateKey.from_private_bytes(INTAKE_X25519).public_key().public_bytes_raw())
    return {"private_key": private.hex(), "public_key": public.hex(), "fingerprint": hashlib.sha256(public).hexdigest()[:32]}


def armour(banner: str, fingerprint: str, payload: bytes) -> str:
    return f"{banner}\n{fingerprint}\n{base64.b64encode(payload).decode('ascii')}\n"


def key_files(k: dict) -> dict:
    private, public = bytes.fromhex(k["private_key"]), bytes.fromhex(k["public_key"])
    salt, nonce = fixed("keyfile-salt", 16), fixed("keyfile-nonce", 12)
    t, m, p = ARGON2
    header = bytes([0x01, 0x31]) + b"".join(v.to_bytes(4, "big") for v in (t, m, p)) + salt
    kek = hash_secret_raw(PASSPHRASE.encode("utf-8"), salt, time_cost=t, memory_cost=m, parallelism=p, hash_len=32, type=Type.ID)
    envelope_header = bytes([0x01, 0x02])  # the DIRECT record envelope
    sealed = envelope_header + nonce + AESGCM(kek).encrypt(nonce, private, envelope_header + header + k["fingerprint"].encode())
    return {
        "public_file": armour("PORTAL-PUBLIC-KEY-V1", k["fingerprint"], public),
        "private_file_plain": armour("PORTAL-PRIVATE-KEY-V1", k["fingerprint"], bytes([0x01, 0x30]) + private),
        "passphrase": PASSPHRASE,
        "argon2": {"time_cost": t, "memory_kib": m, "parallelism": p, "salt": salt.hex()},
        "nonce": nonce.hex(),
        "kek": kek.hex(),
        "private_file_passphrase": armour("PORTAL-PRIVATE-KEY-V1", k["fingerprint"], header + sealed),
    }


def gf_mul(a: int, b: int) -> int:
    """GF(2^8) multiplication, AES polynomial, by log/antilog tables (not the portal's method)."""
    if a == 0 or b == 0:
        return 0
    return EXP[(LOG[a] + LOG[b]) % 255]


EXP, LOG = [0] * 255, [0] * 256
_value = 1
for _power in range(255):  # 3 generates the multiplicative group
    EXP[_power], LOG[_value] = _value, _power
    _value ^= (_value << 1) ^ (0x11B if _value & 0x80 else 0)
    _value &= 0xFF


def split(k: dict) -> dict:
    """2-of-3 Shamir split of a fixed key, and the private key file locked under it."""
    secret, split_id, nonce = fixed("split-key", 32), fixed("split-id", 16), fixed("split-nonce", 12)
    coefficient = fixed("split-coefficient-1", 32)  # degree 1: one random coefficient per byte
    shares = [(x, bytes(s ^ gf_mul(c, x) for s, c in zip(secret, coefficient, strict=True))) for x in (1, 2, 3)]
    header = bytes([0x01, 0x33, 2, 3]) + split_id
    envelope_header = bytes([0x01, 0x02])
    sealed = envelope_header + nonce + AESGCM(secret).encrypt(nonce, bytes.fromhex(k["private_key"]),
                                                              envelope_header + header + k["fingerprint"].encode())
    return {
        "secret": secret.hex(), "threshold": 2, "count": 3, "coefficients": [coefficient.hex()],
        "shares": [{"x": x, "y": y.hex()} for x, y in shares],
        "split_id": split_id.hex(), "nonce": nonce.hex(),
        "private_file_split": armour("PORTAL-PRIVATE-KEY-V1", k["fingerprint"], header + sealed),
        "share_files": [armour("PORTAL-KEY-SHARE-V1", k["fingerprint"], bytes([0x01, 0x34]) + split_id + bytes([2, 3, x]) + y)
                        for x, y in shares],
    }


def manifest(k: dict) -> bytes:
    document = {"format": "portal-case-bundle", "version": 1, "kind": "referral", "bundle_id": BUNDLE_ID.hex(),
                "recipient": k["fingerprint"], "details": DETAILS,
                "entries": [{**attributes, "path": path, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
                            for path, content, attributes in ENTRIES]}
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def bundle(k: dict, wrap: bytes) -> dict:
    stream_key = hkdf(BUNDLE_KEY, b"portal/v1/bundle/stream", salt=BUNDLE_ID)
    commitment = hkdf(BUNDLE_KEY, b"portal/v1/bundle/commit", salt=BUNDLE_ID)
    header = (b"PORTALCB" + bytes([0x01, 0x32, 0x01, CHUNK_LOG2]) + BUNDLE_ID + bytes.fromhex(k["fingerprint"])
              + len(wrap).to_bytes(2, "big") + wrap + commitment)
    aad = hashlib.sha256(header).digest()
    encoded = manifest(k)
    container = b"".join(content for _, content, _ in ENTRIES) + encoded + len(encoded).to_bytes(4, "big")
    size = 1 << CHUNK_LOG2
    pieces = [container[i : i + size] for i in range(0, len(container), size)]
    aead = AESGCM(stream_key)
    chunks = [aead.encrypt(i.to_bytes(11, "big") + (b"\x01" if i == len(pieces) - 1 else b"\x00"), piece, aad)
              for i, piece in enumerate(pieces)]
    data = header + b"".join(chunks)
    return {"bundle_key": BUNDLE_KEY.hex(), "bundle_id": BUNDLE_ID.hex(), "chunk_log2": CHUNK_LOG2, "wrap": wrap.hex(),
            "stream_key": stream_key.hex(), "commitment": commitment.hex(), "header": header.hex(),
            "manifest_utf8": encoded.decode("utf-8"), "details": DETAILS,
            "entries": [{"path": path, "content": content.hex(), "attributes": attributes} for path, content, attributes in ENTRIES],
            "bundle": data.hex(), "sha256": hashlib.sha256(data).hexdigest()}


def the_wrap(k: dict, previous: dict | None) -> bytes:
    from portal.crypto.keys import RecipientPrivateKey, RecipientPublicKey, unwrap_dek, wrap_dek

    private = RecipientPrivateKey.from_bytes(bytes.fromhex(k["private_key"]))
    if previous:
        try:
            wrap = bytes.fromhex(previous["bundle"]["wrap"])
            if unwrap_dek(wrap, private, BUNDLE_ID) == BUNDLE_KEY:
                return wrap
        except Exception:  # noqa: BLE001 - make a new one when the kept wrap no longer opens
            pass
    return wrap_dek(BUNDLE_KEY, RecipientPublicKey.from_bytes(bytes.fromhex(k["public_key"])), BUNDLE_ID)


def build(previous: dict | None) -> dict:
    k = recipient()
    return {
        "format": "portal-bundle-test-vectors",
        "version": 1,
        "description": "Case bundle format v1 (alg 0x32), key files (alg 0x30, 0x31, 0x33) and key shares (0x34): docs/crypto.md",
        "recipient": k,
        "key_files": key_files(k),
        "split": split(k),
        "bundle": bundle(k, the_wrap(k, previous)),
    }


def render(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    previous = json.loads(OUT.read_text("utf-8")) if OUT.exists() else None
    text = render(build(previous))
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text("utf-8") != text:
            print(f"{OUT} is out of date with the generator", file=sys.stderr)
            return 1
        print(f"{OUT} is up to date")
        return 0
    OUT.write_text(text, "utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
