"""Builds tests/vectors/integrity_v1.json: the key commitment and the signed statements
(docs/crypto.md, "Integrity") from fixed inputs, with hashlib, hmac and `cryptography`'s Ed25519
directly, never with portal.crypto.integrity. `--check` exits 1 if the file differs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

OUT = Path(__file__).resolve().parent / "integrity_v1.json"


def fixed(label: str, n: int) -> bytes:
    return hashlib.sha256(b"portal-integrity-vector:" + label.encode()).digest()[:n]


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def build() -> dict:
    dek, report_id = fixed("dek", 32), fixed("report-id", 16)
    commitment = hmac.new(dek, b"portal/v1/key-commitment" + report_id, hashlib.sha256).digest()
    sealed_report = b"\x01\x01" + fixed("sealed-report", 32)
    files = sorted([(fixed("attachment-b", 16), b"\x01\x01meta-b"), (fixed("attachment-a", 16), b"\x01\x01meta-a")])
    file_bytes = len(files).to_bytes(2, "big") + b"".join(i + sha(m) for i, m in files)
    report = bytes([1, 0x16]) + report_id + b"20261206" + commitment + sha(sealed_report) + file_bytes
    seed = fixed("reporter-signing-seed", 32)
    signer = Ed25519PrivateKey.from_private_bytes(seed)
    public = signer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    message_id, sealed_body = fixed("message-id", 16), b"\x01\x01" + fixed("sealed-message", 24)
    author = b"reporter"
    message = (bytes([1, 0x17]) + report_id + message_id + (3).to_bytes(4, "big") + bytes([len(author)]) + author
               + b"20261207" + commitment + sha(sealed_body) + (0).to_bytes(2, "big"))
    audit_key = fixed("audit-key", 32)
    binding_key = hmac.new(hmac.new(bytes(32), audit_key, hashlib.sha256).digest(),  # HKDF-Extract (no salt)
                           b"portal/v1/triage-binding" + b"\x01", hashlib.sha256).digest()  # HKDF-Expand, one block
    reviewer = b"reviewer:7"
    reply = (bytes([1, 0x17]) + report_id + fixed("reply-id", 16) + (4).to_bytes(4, "big") + bytes([len(reviewer)])
             + reviewer + b"20261208" + commitment + sha(sealed_body) + (0).to_bytes(2, "big"))
    note_id = fixed("note-id", 16)
    note = bytes([1, 0x18]) + report_id + note_id + bytes([len(reviewer)]) + reviewer + b"20261208" + sha(sealed_body)
    return {
        "format": "portal-integrity-test-vectors",
        "version": 1,
        "commitment": {"dek": dek.hex(), "report_id": report_id.hex(), "label": "portal/v1/key-commitment",
                       "commitment": commitment.hex()},
        "report": {"report_id": report_id.hex(), "received_on": "2026-12-06", "commitment": commitment.hex(),
                   "sealed_report": sealed_report.hex(), "sealed_report_sha256": sha(sealed_report).hex(),
                   "files": [{"id": i.hex(), "sealed_meta": m.hex()} for i, m in files],
                   "statement": report.hex(), "seed": seed.hex(), "public_key": public.hex(),
                   "signature": signer.sign(report).hex()},
        "message": {"report_id": report_id.hex(), "message_id": message_id.hex(), "seq": 3, "author": author.decode(),
                    "sent_on": "2026-12-07", "commitment": commitment.hex(), "sealed_body": sealed_body.hex(),
                    "statement": message.hex(), "signature": signer.sign(message).hex()},
        "reviewer_message": {"message_id": fixed("reply-id", 16).hex(), "seq": 4, "author": reviewer.decode(),
                             "sent_on": "2026-12-08", "audit_key": audit_key.hex(), "binding_key": binding_key.hex(),
                             "statement": reply.hex(), "binding": hmac.new(binding_key, reply, hashlib.sha256).hexdigest()},
        "note": {"note_id": note_id.hex(), "author": reviewer.decode(), "written_on": "2026-12-08",
                 "statement": note.hex(), "binding": hmac.new(binding_key, note, hashlib.sha256).hexdigest()},
    }


def render(data: dict) -> str:
    return json.dumps(data, indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render(build())
    if "--check" in argv:
        return 0 if OUT.exists() and OUT.read_text("utf-8") == text else 1
    OUT.write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
