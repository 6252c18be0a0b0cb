"""Known answers for case bundles and key files (docs/crypto.md "Case bundles", "Key files")."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from portal.crypto import IntegrityError
from portal.crypto.bundle import KIND_REFERRAL, BundleWriter, open_bundle, read_header
from portal.crypto.keyfile import export_private_key, export_public_key, import_private_key, import_public_key
from portal.crypto.keys import RecipientPrivateKey, unwrap_dek

HERE = Path(__file__).resolve().parent
V = json.loads((HERE / "bundle_v1.json").read_text("utf-8"))
b = bytes.fromhex
PRIVATE = RecipientPrivateKey.from_bytes(b(V["recipient"]["private_key"]))
B = V["bundle"]


def test_the_recipient_key():
    assert PRIVATE.public_key().to_bytes().hex() == V["recipient"]["public_key"]
    assert PRIVATE.public_key().fingerprint == V["recipient"]["fingerprint"]


def test_key_files():
    files = V["key_files"]
    assert export_public_key(PRIVATE.public_key()) == files["public_file"]
    assert export_private_key(PRIVATE) == files["private_file_plain"]
    assert import_public_key(files["public_file"]) == PRIVATE.public_key()
    assert import_private_key(files["private_file_plain"]).to_bytes() == PRIVATE.to_bytes()
    assert import_private_key(files["private_file_passphrase"], files["passphrase"]).to_bytes() == PRIVATE.to_bytes()
    with pytest.raises(IntegrityError):
        import_private_key(files["private_file_passphrase"], files["passphrase"] + "!")


def test_the_wrap_opens_to_the_bundle_key():
    assert unwrap_dek(b(B["wrap"]), PRIVATE, b(B["bundle_id"])) == b(B["bundle_key"])


def test_the_writer_makes_exactly_the_vector_bundle():
    sink = io.BytesIO()
    writer = BundleWriter(sink, KIND_REFERRAL, b(B["bundle_key"]), b(B["bundle_id"]), V["recipient"]["fingerprint"], b(B["wrap"]),
                          B["chunk_log2"])
    assert writer.header.hex() == B["header"]
    for entry in B["entries"]:
        writer.add(entry["path"], b(entry["content"]), **entry["attributes"])
    assert writer.finish(B["details"]) == B["sha256"]
    assert sink.getvalue().hex() == B["bundle"]


def test_the_vector_bundle_opens_with_the_recipient_key():
    opened = open_bundle(io.BytesIO(b(B["bundle"])), PRIVATE)
    assert opened.manifest == json.loads(B["manifest_utf8"])
    assert read_header(io.BytesIO(b(B["bundle"]))).commitment.hex() == B["commitment"]
    sinks: dict[str, io.BytesIO] = {}
    opened.extract(lambda entry: sinks.setdefault(entry.path, io.BytesIO()))
    assert {path: sink.getvalue().hex() for path, sink in sinks.items()} == {e["path"]: e["content"] for e in B["entries"]}


def test_the_vector_file_is_what_the_generator_writes():
    proc = subprocess.run([sys.executable, str(HERE / "generate_bundle_vectors.py"), "--check"],  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr


def test_the_split_of_a_key_and_the_split_key_file():
    from portal.crypto.split import combine_shares, split_secret

    v = V["split"]
    coefficients = iter(b(c) for c in v["coefficients"])
    shares = split_secret(b(v["secret"]), v["threshold"], v["count"], random=lambda n: next(coefficients))
    assert [(x, y.hex()) for x, y in shares] == [(s["x"], s["y"]) for s in v["shares"]]
    for pair in ((0, 1), (0, 2), (1, 2)):
        assert combine_shares([shares[i] for i in pair]) == b(v["secret"])
    for pair in ((0, 1), (2, 0)):
        texts = [v["share_files"][i] for i in pair]
        assert import_private_key(v["private_file_split"], shares=texts).to_bytes() == PRIVATE.to_bytes()
