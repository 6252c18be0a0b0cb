"""Receipt format v2 known-answer vectors (receipt_v2.json), against portal.crypto.

The same file is checked by the browser implementation in tests/js/receipt-v2.test.mjs.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import hpke_reference as ref
import pytest

from portal.crypto import CryptoError, ReceiptCodeError, envelope, keys, receipt

HERE = Path(__file__).resolve().parent
V = json.loads((HERE / "receipt_v2.json").read_text("utf-8"))["vectors"]


def b(hexstr: str) -> bytes:
    return bytes.fromhex(hexstr)


def test_file_matches_its_generator():
    import generate_receipt_v2_vectors as gen

    assert gen.render(gen.build()) == (HERE / "receipt_v2.json").read_text("utf-8")


@pytest.mark.parametrize("v", V, ids=lambda v: v["name"])
def test_lookup_token_root_and_lookup_id(v):
    secret = b(v["receipt_secret"])
    assert receipt.lookup_token(secret) == b(v["lookup_token"])
    assert receipt.reporter_root(secret) == b(v["reporter_root"])
    assert receipt.lookup_id_v2(b(v["lookup_token"]), b(v["pepper"])) == b(v["lookup_id"])
    # v1 and v2 lookup ids of the same code differ: an upgraded report is no longer found by its old id.
    assert receipt.lookup_id(secret, b(v["pepper"])) == b(v["v1_lookup_id"]) != b(v["lookup_id"])
    root = b(v["reporter_root"])
    assert receipt.reporter_private_key_v2(root).private_bytes_raw() == b(v["reporter_x25519_private"])
    assert keys.reporter_public_key_v2(root) == b(v["reporter_x25519_public"])
    assert receipt.reporter_wrap_key_v2(root) == b(v["reporter_wrap_key"])


@pytest.mark.parametrize("v", V, ids=lambda v: v["name"])
def test_reporter_wrap_v2_opens_and_reproduces(v, monkeypatch):
    root, report_id, dek = b(v["reporter_root"]), b(v["report_id"]), b(v["dek"])
    assert keys.unwrap_dek_for_reporter_root(b(v["wrap"]), root, report_id) == dek
    # The no-JavaScript path opens it from the receipt secret.
    assert keys.unwrap_dek_for_reporter(b(v["wrap"]), b(v["receipt_secret"]), report_id) == dek
    keys.check_reporter_wrap_v2(b(v["wrap"]))
    # The inner layer is the reference HPKE with the fixed ephemeral key; the outer layer reproduces byte for byte.
    assert ref.seal_single_shot(b(v["reporter_x25519_public"]), b(v["inner_info"]), dek, b(v["ephemeral_private"])) == b(v["inner"])
    assert keys.open_inner(b(v["inner"]), receipt.reporter_private_key_v2(root), report_id) == dek
    monkeypatch.setattr(envelope, "os", types.SimpleNamespace(urandom=lambda n: b(v["nonce"])))
    assert keys.wrap_inner_for_reporter_root(b(v["inner"]), root, report_id) == b(v["wrap"])
    fresh = keys.wrap_dek_for_reporter_root(dek, root, report_id)
    assert len(fresh) == 112 and keys.unwrap_dek_for_reporter_root(fresh, root, report_id) == dek


@pytest.mark.parametrize("v", V, ids=lambda v: v["name"])
def test_what_the_server_holds_opens_nothing(v):
    """The lookup token (and the lookup id) are not the reporter root: neither opens the wrap."""
    report_id, wrap = b(v["report_id"]), b(v["wrap"])
    for guess in (b(v["lookup_token"]), b(v["lookup_id"]), b(v["receipt_secret"])):
        with pytest.raises(CryptoError):
            keys.unwrap_dek_for_reporter_root(wrap, guess, report_id)
    tampered = bytearray(wrap)
    tampered[-1] ^= 1
    with pytest.raises(CryptoError):
        keys.unwrap_dek_for_reporter_root(bytes(tampered), b(v["reporter_root"]), report_id)
    with pytest.raises(CryptoError):
        keys.unwrap_dek_for_reporter_root(wrap, b(v["reporter_root"]), bytes(16))
    with pytest.raises(CryptoError):
        keys.check_reporter_wrap_v2(wrap[:-1])


def test_bad_lengths_refused():
    with pytest.raises(ReceiptCodeError):
        receipt.lookup_id_v2(b"short", b"p" * 32)
    with pytest.raises(ReceiptCodeError):
        receipt.lookup_token(b"x" * 31)
    with pytest.raises(ReceiptCodeError):
        receipt.reporter_root(b"x" * 33)
