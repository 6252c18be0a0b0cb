"""Known-answer tests: RFC 9180 (for the reference HPKE) and the portal's own v1 vectors.

portal_v1.json is the interoperability contract with the browser implementation:
here the PORTAL functions must open every vector, and where the portal lets a
test fix the randomness (nonces, salts) it must reproduce the bytes exactly.
"""

from __future__ import annotations

import io
import json
import os
import types
from pathlib import Path

import hpke_reference as ref
import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import x25519

from portal.crypto import CryptoError, IntegrityError, ReceiptCodeError, envelope, kdf, keys, puzzle, receipt, stream
from portal.crypto.kdf import RECEIPT_ARGON2, Argon2Params

HERE = Path(__file__).resolve().parent
RFC = json.loads((HERE / "rfc9180_x25519.json").read_text("utf-8"))
V = json.loads((HERE / "portal_v1.json").read_text("utf-8"))


def b(hexstr: str) -> bytes:
    return bytes.fromhex(hexstr)


def _by_name(section: str) -> list:
    return [pytest.param(v, id=v["name"]) for v in V[section]]


def _fixed_random(monkeypatch, module, value: bytes) -> None:
    """Make `module`'s os.urandom return `value` (only that module's view of os)."""

    def urandom(n: int) -> bytes:
        assert n == len(value)
        return value

    monkeypatch.setattr(module, "os", types.SimpleNamespace(urandom=urandom))


# -- RFC 9180 A.1.1 against the reference HPKE ------------------------------------------


@pytest.mark.parametrize("v", RFC["vectors"], ids=lambda v: v["name"])
def test_reference_hpke_reproduces_rfc9180(v):
    assert (v["mode"], v["kem_id"], v["kdf_id"], v["aead_id"]) == (0, 0x20, 1, 1)
    assert ref.derive_key_pair(b(v["ikmE"])) == (b(v["skEm"]), b(v["pkEm"]))
    assert ref.derive_key_pair(b(v["ikmR"])) == (b(v["skRm"]), b(v["pkRm"]))
    shared_secret, enc = ref.encap(b(v["pkRm"]), b(v["skEm"]))
    assert enc == b(v["enc"]) == b(v["pkEm"])
    assert shared_secret == b(v["shared_secret"])
    assert ref.decap(enc, b(v["skRm"])) == shared_secret
    sender = ref.key_schedule(v["aead_id"], shared_secret, b(v["info"]))
    assert sender.key == b(v["key"])
    assert sender.base_nonce == b(v["base_nonce"])
    assert sender.exporter_secret == b(v["exporter_secret"])
    receiver = ref.setup_base_r(enc, b(v["skRm"]), b(v["info"]), v["aead_id"])
    for e in v["encryptions"]:
        assert sender.seq == e["seq"]
        assert sender._nonce() == b(e["nonce"])
        assert sender.seal(b(e["aad"]), b(e["pt"])) == b(e["ct"])
        assert receiver.open(b(e["aad"]), b(e["ct"])) == b(e["pt"])


def test_reference_and_cryptography_hpke_interoperate():
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    sk = x25519.X25519PrivateKey.generate()
    info, pt = b"portal interop", os.urandom(45)
    ours = ref.seal_single_shot(sk.public_key().public_bytes_raw(), info, pt, os.urandom(32))
    assert suite.decrypt(ours, sk, info=info) == pt
    theirs = suite.encrypt(pt, sk.public_key(), info=info)
    assert ref.open_single_shot(sk.private_bytes_raw(), info, theirs) == pt
    # and the portal's inner wrap is exactly this single-shot HPKE with INNER_INFO || report id
    report_id, dek = os.urandom(16), os.urandom(32)
    inner = keys.seal_inner(dek, sk.public_key().public_bytes_raw(), report_id)
    assert ref.open_single_shot(sk.private_bytes_raw(), keys.INNER_INFO + report_id, inner) == dek


# -- portal v1: the file itself ---------------------------------------------------------


def test_vector_file_is_self_consistent_with_its_generator():
    import generate_portal_vectors as gen

    assert gen.render(gen.build(V)) == (HERE / "portal_v1.json").read_text("utf-8"), (
        "portal_v1.json differs from what generate_portal_vectors.py produces: a format or a fixed input changed"
    )


def test_vector_file_covers_every_format():
    for section in ("records", "streams", "inner_wraps", "recipient_keys", "recipient_wraps", "receipts", "reporter_wraps",
                    "puzzles"):
        assert V[section], section
    assert {r["purpose"] for r in V["records"]} >= {"report", "message"}
    assert any(len(b(s["plaintext"])) > 2 << s["chunk_log2"] for s in V["streams"])


# -- (a) records -------------------------------------------------------------------------


@pytest.mark.parametrize("v", _by_name("records"))
def test_record_vector_opens(v):
    pt = envelope.open_record(b(v["dek"]), b(v["report_id"]), v["purpose"], b(v["sealed"]), b(v["record_id"]))
    assert pt == b(v["plaintext"])
    assert pt.decode("utf-8") == v["plaintext_utf8"]


@pytest.mark.parametrize("v", _by_name("records"))
def test_record_vector_intermediates_and_exact_bytes(v, monkeypatch):
    assert envelope.record_key(b(v["dek"]), v["purpose"]) == b(v["record_key"])
    assert bytes([envelope.VERSION, envelope.ALG_RECORD]) + envelope.record_context(
        b(v["report_id"]), v["purpose"], b(v["record_id"])
    ) == b(v["aad"])
    _fixed_random(monkeypatch, envelope, b(v["nonce"]))
    sealed = envelope.seal_record(b(v["dek"]), b(v["report_id"]), v["purpose"], b(v["plaintext"]), b(v["record_id"]))
    assert sealed == b(v["sealed"])


@pytest.mark.parametrize("v", _by_name("records"))
def test_record_vector_refuses_wrong_context(v):
    other_id = bytes(16)
    with pytest.raises(IntegrityError):
        envelope.open_record(b(v["dek"]), other_id, v["purpose"], b(v["sealed"]), b(v["record_id"]))


# -- (b) attachment streams --------------------------------------------------------------


@pytest.mark.parametrize("v", _by_name("streams"))
def test_stream_vector_decrypts(v):
    args = (b(v["dek"]), b(v["report_id"]), b(v["attachment_id"]))
    ct, pt = b(v["ciphertext"]), b(v["plaintext"])
    assert len(ct) == v["ciphertext_size"] == stream.ciphertext_size(v["plaintext_size"], v["chunk_log2"])
    dst = io.BytesIO()
    assert stream.decrypt_stream(*args, io.BytesIO(ct), dst) == len(pt)
    assert dst.getvalue() == pt
    chunks = list(stream.iter_decrypt_unverified(*args, io.BytesIO(ct)))
    assert [len(c) for c in chunks] == [c["plaintext_size"] for c in v["chunks"]]
    assert b"".join(chunks) == pt
    assert stream.verify_stream(*args, io.BytesIO(ct)) == len(pt)


@pytest.mark.parametrize("v", _by_name("streams"))
def test_stream_vector_exact_bytes(v, monkeypatch):
    args = (b(v["dek"]), b(v["report_id"]), b(v["attachment_id"]))
    assert b(v["header"]) == bytes([1, stream.ALG_STREAM, v["chunk_log2"]]) + b(v["salt"])
    assert stream._nonce(0, False) == bytes(12)
    for c in v["chunks"]:
        assert stream._nonce(c["index"], c["final"]) == b(c["nonce"])
    _fixed_random(monkeypatch, stream, b(v["salt"]))
    out = io.BytesIO()
    n = stream.encrypt_stream(*args, io.BytesIO(b(v["plaintext"])), out, chunk_log2=v["chunk_log2"])
    assert out.getvalue() == b(v["ciphertext"])
    assert n == v["ciphertext_size"]


# -- (c) inner wrap ----------------------------------------------------------------------


@pytest.mark.parametrize("v", _by_name("inner_wraps"))
def test_inner_wrap_vector_opens(v):
    private = x25519.X25519PrivateKey.from_private_bytes(b(v["recipient_x25519_private"]))
    assert private.public_key().public_bytes_raw() == b(v["recipient_x25519_public"])
    assert b(v["info"]) == keys.INNER_INFO + b(v["report_id"])
    assert len(b(v["inner"])) == keys.INNER_WRAP_LEN
    assert keys.open_inner(b(v["inner"]), private, b(v["report_id"])) == b(v["dek"])
    with pytest.raises(IntegrityError):
        keys.open_inner(b(v["inner"]), private, bytes(16))
    # the fixed ephemeral key reproduces the bytes through the reference HPKE
    again = ref.seal_single_shot(b(v["recipient_x25519_public"]), b(v["info"]), b(v["dek"]), b(v["ephemeral_private"]))
    assert again == b(v["inner"])
    assert again[:32] == b(v["enc"]) == ref.public_from_private(b(v["ephemeral_private"]))


# -- recipient keys and the frozen post-quantum wrap -----------------------------------


@pytest.mark.parametrize("v", _by_name("recipient_keys"))
def test_recipient_key_encodings(v):
    private = keys.RecipientPrivateKey.from_bytes(b(v["private_key"]))
    assert private.to_bytes() == b(v["private_key"])
    assert (private.mlkem_seed, private.pq_x25519, private.intake_x25519) == (
        b(v["mlkem_seed"]),
        b(v["pq_x25519_private"]),
        b(v["intake_x25519_private"]),
    )
    public = private.public_key()
    assert public.to_bytes() == b(v["public_key"])
    assert public == keys.RecipientPublicKey.from_bytes(b(v["public_key"]))
    assert (public.mlkem, public.pq_x25519, public.intake_x25519) == (
        b(v["mlkem_public"]),
        b(v["pq_x25519_public"]),
        b(v["intake_x25519_public"]),
    )
    assert public.fingerprint == v["fingerprint"]


@pytest.mark.parametrize("v", _by_name("recipient_wraps"))
def test_recipient_wrap_vector_unwraps(v):
    private = keys.RecipientPrivateKey.from_bytes(b(v["recipient_private_key"]))
    wrap = b(v["wrap"])
    assert wrap[:2] == bytes([1, keys.ALG_WRAP_RECIPIENT])
    assert keys.unwrap_dek(wrap, private, b(v["report_id"])) == b(v["dek"])
    # the inner layer inside is the stated one
    outer = keys.PQ_SUITE.decrypt(wrap[2:], private._pq(), info=b(v["outer_info"]))
    assert outer == b(v["inner"])
    with pytest.raises(IntegrityError):
        keys.unwrap_dek(wrap, private, bytes(16))


# -- (d) receipt ----------------------------------------------------------------------------


@pytest.mark.real_kdf  # tests/conftest.py makes Argon2id cheap unless a test asks for the real thing
@pytest.mark.parametrize("v", _by_name("receipts"))
def test_receipt_vector(v):
    words = receipt.wordlist()
    assert [words[i] for i in v["word_indices"]] == v["code"].split()
    assert receipt.normalise_receipt_code(v["typed"]) == v["canonical"]
    assert receipt.normalise_receipt_code(v["code"]) == v["canonical"]
    a = v["argon2"]
    params = Argon2Params(a["time_cost"], a["memory_kib"], a["parallelism"])
    assert params == RECEIPT_ARGON2 == kdf.RECEIPT_ARGON2, "the vector must use the real receipt parameters"
    assert params.encode() == b(a["encoded"])
    secret = receipt.receipt_secret(v["typed"], b(v["install_salt"]))  # the default parameters are the real ones
    assert secret == b(v["receipt_secret"])
    assert receipt.lookup_id(secret, b(v["pepper"])) == b(v["lookup_id"])
    assert receipt.reporter_private_key(secret).private_bytes_raw() == b(v["reporter_x25519_private"])
    assert keys.reporter_public_key(secret) == b(v["reporter_x25519_public"])
    assert receipt.reporter_wrap_key(secret) == b(v["reporter_wrap_key"])
    assert b(v["argon2_input"]) == b"portal/v1/receipt-code:" + v["canonical"].encode("ascii")


@pytest.mark.parametrize("case", V["receipt_normalisation"]["valid"], ids=lambda c: repr(c["input"])[:40])
def test_receipt_normalisation_valid(case):
    assert receipt.normalise_receipt_code(case["input"]) == case["canonical"]


@pytest.mark.parametrize("raw", V["receipt_normalisation"]["invalid"], ids=lambda s: repr(s)[:40])
def test_receipt_normalisation_invalid(raw):
    with pytest.raises(ReceiptCodeError):
        receipt.normalise_receipt_code(raw)


# -- (e) reporter wrap --------------------------------------------------------------------


@pytest.mark.parametrize("v", _by_name("reporter_wraps"))
def test_reporter_wrap_vector(v, monkeypatch):
    secret, report_id = b(v["receipt_secret"]), b(v["report_id"])
    assert keys.unwrap_dek_for_reporter(b(v["wrap"]), secret, report_id) == b(v["dek"])
    rep_private = receipt.reporter_private_key(secret)
    assert keys.open_inner(b(v["inner"]), rep_private, report_id) == b(v["dek"])
    assert ref.seal_single_shot(b(v["reporter_x25519_public"]), b(v["inner_info"]), b(v["dek"]), b(v["ephemeral_private"])) == b(
        v["inner"]
    )
    with pytest.raises(CryptoError):
        keys.unwrap_dek_for_reporter(b(v["wrap"]), bytes(32), report_id)
    with pytest.raises(CryptoError):
        keys.unwrap_dek_for_reporter(b(v["wrap"]), secret, bytes(16))
    _fixed_random(monkeypatch, envelope, b(v["nonce"]))
    assert keys.wrap_inner_for_reporter(b(v["inner"]), secret, report_id) == b(v["wrap"])


# -- proof-of-work puzzles -----------------------------------------------------------------------


@pytest.mark.parametrize("v", _by_name("puzzles"))
def test_puzzle_vector(v):
    key, salt = b(v["key"]), b(v["salt"])
    assert puzzle.puzzle_hash(v["salt"], v["number"]) == b(v["target"])
    assert f"{v['salt']}{v['number']}" == v["hash_input_utf8"]
    issued = puzzle.issue(key, v["action"], v["max"], v["expires"], salt=salt, number=v["number"])
    assert issued.token == v["token"] and issued.target == b(v["target"])
    assert puzzle.verify(key, v["token"], str(v["number"]), v["action"], v["expires"] - 1) == puzzle.Solved(salt, v["max"])
    if v["max"] <= 5000:
        assert puzzle.solve(v["salt"], b(v["target"]), v["max"]) == v["number"]
