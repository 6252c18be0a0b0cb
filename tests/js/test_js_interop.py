"""The browser crypto (static/js/portal-crypto.js, run under Node) against the Python reference.

JavaScript seals with fresh random keys and ids; the Python functions must open
everything, and both sides must derive the same receipt secret and reporter key.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from portal.crypto import envelope, keys, receipt, screening, stream
from portal.crypto.errors import ReceiptCodeError
from portal.crypto.kdf import Argon2Params

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "tests" / "js" / "interop-cli.mjs"
CHEAP = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
SCREENING = screening.screening_private_key(os.urandom(32))
SUBJECTS = json.dumps({"v": 1, "people": [{"name": "Jon O’Neill", "identifier": "PC 4471"}]}, ensure_ascii=False)

NODE = shutil.which("node")
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed: the browser crypto cannot be run"),
    pytest.mark.skipif(
        not (ROOT / "static" / "vendor" / "hash-wasm" / "argon2.js").exists(),
        reason="static/ assets not built: run `bash assets/build.sh`",
    ),
]


def _messy_inputs(code: str) -> list[str]:
    words = code.split()
    hyphen = "-".join(w[:4] for w in words)
    return [
        code.upper(),
        "  " + "\t".join(words) + "\n",
        hyphen,
        "_".join(words[:4]) + " / " + ".".join(words[4:]),
        " ".join(words[:7]),  # too few words
        " ".join(words) + " " + words[0],  # too many
        " ".join([words[0][:3]] + words[1:]),  # a token shorter than four letters
        " ".join([words[0] + "x"] + words[1:]),  # not a prefix of the word
        "\x1c".join(words),  # a separator Python's \s has and JavaScript's does not
        "\ufeff".join(words),  # and the other way round
        "x" * 201,
    ]


def _run(request: dict) -> dict:
    proc = subprocess.run(  # noqa: S603 - fixed argv, test input only
        [NODE, str(CLI), json.dumps(request)], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("size", [0, 1, 1024, 3000, 4096])
def test_python_opens_what_javascript_sealed(size: int) -> None:
    dek, report_id, attachment_id, record_id = os.urandom(32), os.urandom(16), os.urandom(16), os.urandom(16)
    intake = x25519.X25519PrivateKey.generate()
    plaintext = json.dumps({"v": 1, "what_happened": "café – ünïcode ✓"}).encode()
    file_bytes = os.urandom(size)
    install_salt = os.urandom(16)
    code = receipt.generate_receipt_code()

    out = _run(
        {
            "dek": dek.hex(),
            "report_id": report_id.hex(),
            "attachment_id": attachment_id.hex(),
            "record_id": record_id.hex(),
            "purpose": "attachment-meta",
            "plaintext": plaintext.hex(),
            "file": file_bytes.hex(),
            "chunk_log2": 10,
            "intake_public": intake.public_key().public_bytes_raw().hex(),
            "install_salt": install_salt.hex(),
            "argon2": {"time_cost": CHEAP.time_cost, "memory_kib": CHEAP.memory_kib, "parallelism": CHEAP.parallelism},
            "code": code,
            "messy_codes": _messy_inputs(code),
            "screening_public": SCREENING.public_key().intake_x25519.hex(),
            "subjects": SUBJECTS,
        }
    )

    sealed = base64.b64decode(out["sealed_record"])
    assert envelope.open_record(dek, report_id, "attachment-meta", sealed, record_id) == plaintext

    ciphertext = base64.b64decode(out["stream"])
    assert len(ciphertext) == stream.ciphertext_size(size, 10)
    dst = io.BytesIO()
    assert stream.decrypt_stream(dek, report_id, attachment_id, io.BytesIO(ciphertext), dst) == size
    assert dst.getvalue() == file_bytes

    inner = base64.b64decode(out["inner"])
    assert keys.open_inner(inner, intake, report_id) == dek

    # The subject list the browser sealed to the screening key: the server adds the outer layer, screening opens it.
    sealed_subjects = screening.seal_subjects_outer(base64.b64decode(out["subjects_inner"]), SCREENING.public_key(), report_id)
    assert screening.open_subjects(sealed_subjects, SCREENING, report_id).decode("utf-8") == SUBJECTS

    secret = receipt.receipt_secret(code, install_salt, CHEAP)
    assert out["receipt_secret"] == secret.hex()
    assert out["reporter_public"] == keys.reporter_public_key(secret).hex()
    reporter_inner = base64.b64decode(out["reporter_inner"])
    assert keys.open_inner(reporter_inner, receipt.reporter_private_key(secret), report_id) == dek
    # What the server then does with the browser's reporter wrap.
    wrap = keys.wrap_inner_for_reporter(reporter_inner, secret, report_id)
    assert keys.unwrap_dek_for_reporter(wrap, secret, report_id) == dek
    # Receipt format v2: the token the browser sends, and its wrap opened here (fresh randomness).
    assert out["lookup_token"] == receipt.lookup_token(secret).hex()
    assert out["reporter_root"] == receipt.reporter_root(secret).hex()
    wrap_v2 = base64.b64decode(out["reporter_wrap_v2"])
    keys.check_reporter_wrap_v2(wrap_v2)
    assert keys.unwrap_dek_for_reporter_root(wrap_v2, receipt.reporter_root(secret), report_id) == dek
    assert keys.unwrap_dek_for_reporter(wrap_v2, secret, report_id) == dek  # the no-JavaScript path opens it too

    assert out["normalised"][:4] == [code] * 4  # case, tabs, 4-letter prefixes, mixed separators
    for raw, js in zip(_messy_inputs(code), out["normalised"], strict=True):
        try:
            expected = receipt.normalise_receipt_code(raw)
        except ReceiptCodeError:
            expected = None
        assert js == expected, raw


def test_javascript_generates_codes_python_accepts() -> None:
    words = set(receipt.wordlist())
    for _ in range(3):
        out = _run(
            {
                "dek": os.urandom(32).hex(),
                "report_id": os.urandom(16).hex(),
                "attachment_id": os.urandom(16).hex(),
                "record_id": "",
                "purpose": "report",
                "plaintext": "",
                "file": "",
                "chunk_log2": 16,
                "intake_public": x25519.X25519PrivateKey.generate().public_key().public_bytes_raw().hex(),
                "install_salt": os.urandom(16).hex(),
                "argon2": {"time_cost": 1, "memory_kib": 8 * 1024, "parallelism": 1},
                "messy_codes": [],
            }
        )
        code = out["code"]
        assert code == receipt.normalise_receipt_code(code)
        assert len(code.split(" ")) == 8 and set(code.split(" ")) <= words
