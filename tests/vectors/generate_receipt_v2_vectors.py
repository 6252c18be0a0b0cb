"""Generate tests/vectors/receipt_v2.json: known-answer vectors for receipt format v2.

    .venv/bin/python tests/vectors/generate_receipt_v2_vectors.py          # (re)write the file
    .venv/bin/python tests/vectors/generate_receipt_v2_vectors.py --check  # exit 1 if it would change

Receipt format v2 (docs/crypto.md, "Receipt format v2") splits the receipt secret with
HKDF into a lookup token (all the browser sends) and a reporter root (behind the reporter's
X25519 key and wrap key). Every value is built here from the receipt vector of
portal_v1.json with the raw primitives (HKDF-SHA256, HMAC-SHA256, AES-256-GCM with a fixed
nonce, the reference HPKE with a fixed ephemeral key), not with portal.crypto, so the
Python and the JavaScript implementations are both checked against the documented bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate_portal_vectors as v1  # noqa: E402
import hpke_reference as ref  # noqa: E402

OUT = HERE / "receipt_v2.json"
ALG_WRAP_REPORTER_V2 = 0x15


def build() -> dict:
    base = json.loads((HERE / "portal_v1.json").read_text("utf-8"))["receipts"][0]
    secret = bytes.fromhex(base["receipt_secret"])
    token = v1.hkdf(secret, b"portal/v2/lookup-token")
    root = v1.hkdf(secret, b"portal/v2/reporter-root")
    lookup = hmac.new(v1.PEPPER, b"portal/v2/lookup:" + token, hashlib.sha256).digest()
    rep_sk = v1.hkdf(root, b"portal/v2/reporter-x25519")
    rep_pk = ref.public_from_private(rep_sk)
    wrap_key = v1.hkdf(root, b"portal/v2/reporter-wrap")
    sk_e = v1.fixed("reporter-v2-inner-ephemeral-private", 32)
    inner, info = v1.inner_wrap(v1.DEK, rep_pk, sk_e)
    nonce = v1.fixed("reporter-v2-wrap-nonce", 12)
    direct_header = bytes([v1.VERSION, v1.ALG_DIRECT])
    aad = direct_header + bytes([ALG_WRAP_REPORTER_V2]) + v1.REPORT_ID
    wrap = bytes([v1.VERSION, ALG_WRAP_REPORTER_V2]) + direct_header + nonce + AESGCM(wrap_key).encrypt(nonce, inner, aad)
    return {
        "format": "portal-receipt-v2-test-vectors",
        "version": 2,
        "vectors": [
            {
                "name": "receipt-v2",
                "code": base["code"],
                "typed": base["typed"],
                "install_salt": base["install_salt"],
                "argon2": base["argon2"],
                "receipt_secret": base["receipt_secret"],
                "lookup_token": token.hex(),
                "reporter_root": root.hex(),
                "pepper": v1.PEPPER.hex(),
                "lookup_id": lookup.hex(),
                "v1_lookup_id": base["lookup_id"],
                "reporter_x25519_private": rep_sk.hex(),
                "reporter_x25519_public": rep_pk.hex(),
                "reporter_wrap_key": wrap_key.hex(),
                "dek": v1.DEK.hex(),
                "report_id": v1.REPORT_ID.hex(),
                "inner_info": info.hex(),
                "ephemeral_private": sk_e.hex(),
                "inner": inner.hex(),
                "nonce": nonce.hex(),
                "aad": aad.hex(),
                "wrap": wrap.hex(),
            }
        ],
    }


def render(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render(build())
    if "--check" in argv:
        return 0 if OUT.exists() and OUT.read_text("utf-8") == text else 1
    OUT.write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
