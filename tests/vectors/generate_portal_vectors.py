"""Generate tests/vectors/portal_v1.json: the portal's frozen v1 known-answer vectors.

    .venv/bin/python tests/vectors/generate_portal_vectors.py          # (re)write the file
    .venv/bin/python tests/vectors/generate_portal_vectors.py --check  # exit 1 if it would change

The vectors are the interoperability contract between the Python implementation
(portal/crypto/) and the browser implementation: both must open every vector to
its plaintext. Every value is built here from FIXED inputs with the raw
primitives (HKDF-SHA256, AES-256-GCM with explicit nonces, Argon2id, and the
reference HPKE in hpke_reference.py with fixed ephemeral keys), written out from
docs/crypto.md rather than by calling the portal's sealing functions, so a change
to the portal's formats shows up as a failing test and not as a silently
regenerated file.

The one exception is `recipient_wraps`: the outer HPKE layer uses ML-KEM-768,
whose encapsulation randomness `cryptography` does not let a caller fix. That
wrap is produced once with portal.crypto.keys and then frozen: the generator
keeps the stored one as long as it still opens with the fixed recipient key.

Do not regenerate casually: the file is a format commitment. If a format really
changes, bump the version byte, add new vectors, and keep the old ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

import hpke_reference as ref  # noqa: E402

OUT = HERE / "portal_v1.json"
WORDLIST = HERE.parent.parent / "portal" / "crypto" / "wordlist.txt"

# -- fixed inputs -----------------------------------------------------------------


def fixed(label: str, n: int) -> bytes:
    """Deterministic 'random-looking' bytes, so the inputs are reproducible and documented."""
    return hashlib.shake_256(b"portal/v1/test-vector/" + label.encode()).digest(n)


DEK = fixed("dek", 32)
REPORT_ID = fixed("report_id", 16)
MESSAGE_ID = fixed("message_id", 16)
ATTACHMENT_ID = fixed("attachment_id", 16)
INSTALL_SALT = fixed("install_salt", 16)
PEPPER = fixed("pepper", 32)
RECEIPT_WORD_INDICES = [17, 301, 555, 1024, 1337, 1590, 1800, 2047]
RECEIPT_ARGON2 = {"time_cost": 5, "memory_kib": 65536, "parallelism": 1}

VERSION = 0x01
ALG_RECORD, ALG_DIRECT, ALG_STREAM = 0x01, 0x02, 0x03
ALG_WRAP_RECIPIENT, ALG_WRAP_REPORTER = 0x11, 0x12
INNER_INFO = b"portal/v1/wrap-inner"
OUTER_INFO = b"portal/v1/wrap-outer"


def hx(b: bytes) -> str:
    return b.hex()


def hkdf(ikm: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


# -- (a) record envelopes -----------------------------------------------------------


def record_vector(name: str, purpose: str, plaintext: bytes, record_id: bytes) -> dict:
    header = bytes([VERSION, ALG_RECORD])
    key = hkdf(DEK, b"portal/v1/record/" + purpose.encode("ascii"))
    nonce = fixed(f"record-nonce/{name}", 12)
    aad = header + REPORT_ID + bytes([len(purpose)]) + purpose.encode("ascii") + record_id
    sealed = header + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)
    return {
        "name": name,
        "dek": hx(DEK),
        "report_id": hx(REPORT_ID),
        "purpose": purpose,
        "record_id": hx(record_id),
        "plaintext": hx(plaintext),
        "plaintext_utf8": plaintext.decode("utf-8"),
        "record_key": hx(key),
        "nonce": hx(nonce),
        "aad": hx(aad),
        "sealed": hx(sealed),
    }


def records() -> list[dict]:
    report = {
        "category": "corruption",
        "summary": "Evidence log entries altered after the fact",
        "details": "Item 4471 was re-entered on 3 March with a different weight. \u00a3 and \u00e9 test UTF-8.",
        "when": "2024-03-03",
    }
    report_json = json.dumps(report, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return [
        record_vector("report", "report", report_json, b""),
        record_vector("message", "message", b"Thank you. Can you say which station?", MESSAGE_ID),
        record_vector("empty-note", "note", b"", fixed("note_id", 16)),
    ]


# -- (b) attachment streams ---------------------------------------------------------


def stream_vector(name: str, size: int, chunk_log2: int = 10) -> dict:
    salt = fixed(f"stream-salt/{name}", 16)
    plaintext = fixed(f"stream-plaintext/{name}", size) if size else b""
    header = bytes([VERSION, ALG_STREAM, chunk_log2]) + salt
    key = hkdf(DEK, b"portal/v1/stream" + REPORT_ID + ATTACHMENT_ID, salt=salt)
    chunk = 1 << chunk_log2
    pieces = [plaintext[i : i + chunk] for i in range(0, len(plaintext), chunk)] or [b""]
    chunks, body = [], b""
    for index, piece in enumerate(pieces):
        final = index == len(pieces) - 1
        nonce = index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")
        ct = AESGCM(key).encrypt(nonce, piece, header)
        chunks.append({"index": index, "final": final, "nonce": hx(nonce), "plaintext_size": len(piece), "ciphertext": hx(ct)})
        body += ct
    ciphertext = header + body
    return {
        "name": name,
        "dek": hx(DEK),
        "report_id": hx(REPORT_ID),
        "attachment_id": hx(ATTACHMENT_ID),
        "chunk_log2": chunk_log2,
        "salt": hx(salt),
        "stream_key": hx(key),
        "header": hx(header),
        "plaintext_size": len(plaintext),
        "plaintext": hx(plaintext),
        "chunks": chunks,
        "ciphertext_size": len(ciphertext),
        "ciphertext": hx(ciphertext),
    }


def streams() -> list[dict]:
    return [
        stream_vector("two-and-a-half-chunks", 2 * 1024 + 512),
        stream_vector("exactly-two-chunks", 2 * 1024),
        stream_vector("empty", 0),
    ]


# -- (c) inner wraps: HPKE X25519 / HKDF-SHA256 / AES-256-GCM, base mode -------------


def inner_wrap(dek: bytes, recipient_public: bytes, ephemeral_private: bytes) -> tuple[bytes, bytes]:
    info = INNER_INFO + REPORT_ID
    return ref.seal_single_shot(recipient_public, info, dek, ephemeral_private, ref.AEAD_AES_256_GCM), info


def inner_wraps() -> list[dict]:
    sk_r = fixed("intake-x25519-private", 32)
    pk_r = ref.public_from_private(sk_r)
    sk_e = fixed("inner-ephemeral-private", 32)
    inner, info = inner_wrap(DEK, pk_r, sk_e)
    return [
        {
            "name": "intake",
            "suite": "HPKE base mode: DHKEM(X25519, HKDF-SHA256) 0x0020, HKDF-SHA256 0x0001, AES-256-GCM 0x0002",
            "dek": hx(DEK),
            "report_id": hx(REPORT_ID),
            "info": hx(info),
            "recipient_x25519_private": hx(sk_r),
            "recipient_x25519_public": hx(pk_r),
            "ephemeral_private": hx(sk_e),
            "enc": hx(inner[:32]),
            "inner": hx(inner),
        }
    ]


# -- recipient key encodings (reviewer / recovery key) --------------------------------


def recipient_key() -> dict:
    seed = fixed("recipient-mlkem-seed", 64)
    pq_x = fixed("recipient-pq-x25519-private", 32)
    intake_x = fixed("recipient-intake-x25519-private", 32)
    ml_public = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed).public_key().public_bytes_raw()
    private = b"\x01" + seed + pq_x + intake_x
    public = b"\x01" + ml_public + ref.public_from_private(pq_x) + ref.public_from_private(intake_x)
    return {
        "name": "recipient",
        "mlkem_seed": hx(seed),
        "pq_x25519_private": hx(pq_x),
        "intake_x25519_private": hx(intake_x),
        "private_key": hx(private),
        "mlkem_public": hx(ml_public),
        "pq_x25519_public": hx(ref.public_from_private(pq_x)),
        "intake_x25519_public": hx(ref.public_from_private(intake_x)),
        "public_key": hx(public),
        "fingerprint": hashlib.sha256(public).hexdigest()[:32],
    }


def recipient_wraps(key: dict, previous: list[dict] | None) -> list[dict]:
    """Frozen: see the module docstring. Kept if the stored wrap still opens."""
    from portal.crypto import keys

    private = keys.RecipientPrivateKey.from_bytes(bytes.fromhex(key["private_key"]))
    if previous:
        try:
            if keys.unwrap_dek(bytes.fromhex(previous[0]["wrap"]), private, REPORT_ID) == DEK:
                return previous
        except Exception as exc:  # noqa: BLE001 - report and regenerate
            print(f"stored recipient wrap no longer opens ({type(exc).__name__}); making a new one", file=sys.stderr)
    # The inner layer is the fixed one from inner_wraps(), re-targeted at this key's intake key.
    inner, _ = inner_wrap(DEK, bytes.fromhex(key["intake_x25519_public"]), fixed("recipient-inner-ephemeral-private", 32))
    wrap = keys.wrap_inner_for_recipient(inner, private.public_key(), REPORT_ID)
    return [
        {
            "name": "recipient",
            "frozen": "outer ML-KEM encapsulation is random; generated once, kept",
            "dek": hx(DEK),
            "report_id": hx(REPORT_ID),
            "recipient_private_key": key["private_key"],
            "inner": hx(inner),
            "outer_info": hx(OUTER_INFO + bytes([VERSION, ALG_WRAP_RECIPIENT]) + REPORT_ID),
            "wrap": hx(wrap),
        }
    ]


# -- (d) receipt code -> secret -> lookup id / reporter keys ---------------------------


def words() -> list[str]:
    return WORDLIST.read_text("ascii").split()


def receipts() -> tuple[list[dict], bytes]:
    wl = words()
    code_words = [wl[i] for i in RECEIPT_WORD_INDICES]
    canonical = " ".join(code_words)
    typed = "  " + "-".join(w[:4].upper() if i % 2 else w.capitalize() for i, w in enumerate(code_words)) + " \n"
    argon2_input = b"portal/v1/receipt-code:" + canonical.encode("ascii")
    secret = hash_secret_raw(
        secret=argon2_input,
        salt=INSTALL_SALT,
        time_cost=RECEIPT_ARGON2["time_cost"],
        memory_cost=RECEIPT_ARGON2["memory_kib"],
        parallelism=RECEIPT_ARGON2["parallelism"],
        hash_len=32,
        type=Type.ID,
    )
    lookup = hmac.new(PEPPER, b"portal/v1/lookup:" + secret, hashlib.sha256).digest()
    rep_sk = hkdf(secret, b"portal/v1/reporter-x25519")
    rep_pk = ref.public_from_private(rep_sk)
    wrap_key = hkdf(secret, b"portal/v1/reporter-wrap")
    params_hex = b"".join(RECEIPT_ARGON2[k].to_bytes(4, "big") for k in ("time_cost", "memory_kib", "parallelism"))
    return [
        {
            "name": "receipt",
            "word_indices": RECEIPT_WORD_INDICES,
            "code": canonical,
            "typed": typed,
            "canonical": canonical,
            "install_salt": hx(INSTALL_SALT),
            "argon2": {**RECEIPT_ARGON2, "variant": "argon2id", "version": 19, "hash_len": 32, "encoded": hx(params_hex)},
            "argon2_input": hx(argon2_input),
            "receipt_secret": hx(secret),
            "pepper": hx(PEPPER),
            "lookup_id": hx(lookup),
            "reporter_x25519_private": hx(rep_sk),
            "reporter_x25519_public": hx(rep_pk),
            "reporter_wrap_key": hx(wrap_key),
        }
    ], secret


def normalisation() -> dict:
    wl = words()
    w = [wl[i] for i in RECEIPT_WORD_INDICES]
    canonical = " ".join(w)
    valid = [
        canonical,
        canonical.upper(),
        "-".join(w),
        "  " + "   ".join(w) + "\n",
        " ".join(x[:4] for x in w),
        ".".join(w[:4]) + ", " + "_".join(w[4:]),
        "\t" + " / ".join(w) + " ;",
    ]
    invalid = [
        " ".join(w[:7]),
        " ".join(w + [w[0]]),
        " ".join(w[:7] + ["zzzz"]),
        " ".join(w[:7] + [w[7][:3]]),
        " ".join(w[:7] + [w[7] + "x"]),
        " ".join(w[:7] + [w[7][:4] + "q"]),
        "",
        " ".join(w) + " " * 200,
        " ".join(w[:7]) + " 12345678",
    ]
    return {
        "rules": "lower-case; split on runs of whitespace and - _ . , ; : /; exactly 8 tokens; each token is a word or a prefix of one with at least 4 letters; input longer than 200 characters is refused",
        "valid": [{"input": s, "canonical": canonical} for s in valid],
        "invalid": invalid,
    }


# -- (e) reporter wrap ------------------------------------------------------------------


def reporter_wraps(receipt: dict) -> list[dict]:
    wrap_key = bytes.fromhex(receipt["reporter_wrap_key"])
    rep_pk = bytes.fromhex(receipt["reporter_x25519_public"])
    sk_e = fixed("reporter-inner-ephemeral-private", 32)
    inner, info = inner_wrap(DEK, rep_pk, sk_e)
    nonce = fixed("reporter-wrap-nonce", 12)
    direct_header = bytes([VERSION, ALG_DIRECT])
    aad = direct_header + bytes([ALG_WRAP_REPORTER]) + REPORT_ID
    sealed = direct_header + nonce + AESGCM(wrap_key).encrypt(nonce, inner, aad)
    wrap = bytes([VERSION, ALG_WRAP_REPORTER]) + sealed
    return [
        {
            "name": "reporter",
            "dek": hx(DEK),
            "report_id": hx(REPORT_ID),
            "receipt_secret": receipt["receipt_secret"],
            "reporter_x25519_public": receipt["reporter_x25519_public"],
            "reporter_wrap_key": receipt["reporter_wrap_key"],
            "inner_info": hx(info),
            "ephemeral_private": hx(sk_e),
            "inner": hx(inner),
            "nonce": hx(nonce),
            "aad": hx(aad),
            "wrap": hx(wrap),
        }
    ]


# -----------------------------------------------------------------------------------------


PUZZLE_KEY = fixed("pow_key", 32)
PUZZLE_ACTIONS = {"report": 1, "sign-in": 2, "reply": 3}


def puzzles() -> list[dict]:
    """Proof-of-work challenges (portal/crypto/puzzle.py), built here from the documented layout."""
    out = []
    for name, action, max_number, number in (("idle", "report", 2000, 1234), ("busy", "sign-in", 2_000_000, 1_999_999),
                                             ("zero", "reply", 1, 0)):
        salt = fixed(f"pow_salt/{name}", 16)
        expires = 1_893_456_000  # 2030-01-01T00:00:00Z
        target = hashlib.sha256(f"{salt.hex()}{number}".encode("ascii")).digest()
        payload = bytes([VERSION, PUZZLE_ACTIONS[action]]) + expires.to_bytes(8, "big") + max_number.to_bytes(4, "big") + salt + target
        mac = hmac.new(PUZZLE_KEY, b"portal/v1/pow:" + payload, hashlib.sha256).digest()[:16]
        out.append({
            "name": name, "key": hx(PUZZLE_KEY), "action": action, "expires": expires, "max": max_number,
            "salt": hx(salt), "number": number, "hash_input_utf8": f"{salt.hex()}{number}", "target": hx(target),
            "token": base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode("ascii"),
        })
    return out


def build(previous: dict | None) -> dict:
    receipt_list, _ = receipts()
    key = recipient_key()
    return {
        "format": "portal-crypto-test-vectors",
        "version": 1,
        "description": (
            "Known-answer vectors for the portal's v1 formats (docs/crypto.md). Every byte string is lower-case hex; "
            "fields ending in _utf8 and the receipt code strings are text. An implementation passes if it opens every "
            "vector to its plaintext / dek and, where it can fix nonces, salts and ephemeral keys, reproduces the "
            "ciphertexts byte for byte. Generated by tests/vectors/generate_portal_vectors.py; checked by "
            "tests/vectors/test_vectors.py."
        ),
        "records": records(),
        "streams": streams(),
        "inner_wraps": inner_wraps(),
        "recipient_keys": [key],
        "recipient_wraps": recipient_wraps(key, (previous or {}).get("recipient_wraps")),
        "receipts": receipt_list,
        "receipt_normalisation": normalisation(),
        "reporter_wraps": reporter_wraps(receipt_list[0]),
        "puzzles": puzzles(),
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
