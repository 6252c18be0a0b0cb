"""Generate tests/vectors/screening_v1.json: known answers for the screening key (issue 12).

    .venv/bin/python tests/vectors/generate_screening_vectors.py          # (re)write the file
    .venv/bin/python tests/vectors/generate_screening_vectors.py --check  # exit 1 if it would change

Built like portal_v1.json (see generate_portal_vectors.py): the key derivation and the inner
subject-list layer are computed here from FIXED inputs with raw HKDF and the reference HPKE
(fixed ephemeral key), written from docs/crypto.md ("Screening"), not by calling the portal. The
outer layers (alg 0x13 subject list, alg 0x14 held wrap) use ML-KEM-768, whose randomness cannot
be fixed: they are made once with portal.crypto.screening and kept while they still open.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

import hpke_reference as ref  # noqa: E402

OUT = HERE / "screening_v1.json"


def fixed(label: str, n: int) -> bytes:
    return hashlib.shake_256(b"portal/v1/test-vector/" + label.encode()).digest(n)


def hkdf(ikm: bytes, info: bytes, n: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=None, info=info).derive(ikm)


SECRET = fixed("screening-secret", 32)
REPORT_ID = fixed("report_id", 16)
DOCUMENT = json.dumps({"v": 1, "people": [{"name": "Sgt John O’Neill", "identifier": "PC 4471"},
                                         {"name": "", "identifier": "AB 1234"}]},
                      ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def key() -> dict:
    seed = hkdf(SECRET, b"portal/v1/screening/mlkem-seed", 64)
    pq = hkdf(SECRET, b"portal/v1/screening/pq-x25519", 32)
    intake = hkdf(SECRET, b"portal/v1/screening/intake-x25519", 32)
    public = (b"\x01" + mlkem.MLKEM768PrivateKey.from_seed_bytes(seed).public_key().public_bytes_raw()
              + x25519.X25519PrivateKey.from_private_bytes(pq).public_key().public_bytes_raw()
              + x25519.X25519PrivateKey.from_private_bytes(intake).public_key().public_bytes_raw())
    return {"secret": SECRET.hex(), "mlkem_seed": seed.hex(), "pq_x25519_private": pq.hex(),
            "intake_x25519_private": intake.hex(), "intake_x25519_public": ref.public_from_private(intake).hex(),
            "public_key": public.hex(), "fingerprint": hashlib.sha256(public).hexdigest()[:32]}


def build(previous: dict | None) -> dict:
    from portal.crypto.screening import hold_wrap, open_subjects, release_wrap, screening_private_key, seal_subjects_outer

    k = key()
    info = b"portal/v1/subjects-inner" + REPORT_ID
    ephemeral = fixed("subjects-ephemeral-private", 32)
    inner = ref.seal_single_shot(bytes.fromhex(k["intake_x25519_public"]), info, DOCUMENT, ephemeral, ref.AEAD_AES_256_GCM)
    private = screening_private_key(SECRET)
    fingerprint = fixed("held-recipient-fingerprint", 16).hex()
    wrap = fixed("held-wrap-content", 1218)  # stands in for an alg 0x11 wrap: the held layer never looks inside
    sealed = held = None
    if previous:
        try:
            if open_subjects(bytes.fromhex(previous["sealed_subjects"]), private, REPORT_ID) == DOCUMENT:
                sealed = previous["sealed_subjects"]
            if release_wrap(bytes.fromhex(previous["held_wrap"]["held"]), private, REPORT_ID, fingerprint) == wrap:
                held = previous["held_wrap"]["held"]
        except Exception:  # noqa: BLE001 - regenerate what no longer opens
            pass
    sealed = sealed or seal_subjects_outer(inner, private.public_key(), REPORT_ID).hex()
    held = held or hold_wrap(wrap, private.public_key(), REPORT_ID, fingerprint).hex()
    return {
        "format": "portal-screening-test-vectors",
        "version": 1,
        "description": "Screening key derivation, the subject list (alg 0x13) and held wraps (alg 0x14): docs/crypto.md",
        "key": k,
        "report_id": REPORT_ID.hex(),
        "document": DOCUMENT.hex(),
        "document_utf8": DOCUMENT.decode("utf-8"),
        "subjects_inner": {"info": info.hex(), "ephemeral_private": ephemeral.hex(), "inner": inner.hex()},
        "sealed_subjects": sealed,
        "held_wrap": {"fingerprint": fingerprint, "wrap": wrap.hex(), "held": held},
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
