"""Receipt codes and what is derived from them (portal/crypto/receipt.py).

Argon2id runs with cheap parameters here, except where a test says otherwise;
the real parameters are exercised by tests/vectors/test_vectors.py.
"""

from __future__ import annotations

import math
import re
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.crypto import CryptoError, FormatError, ReceiptCodeError, kdf, receipt
from portal.crypto.kdf import PASSPHRASE_ARGON2, RECEIPT_ARGON2, Argon2Params

CHEAP = Argon2Params(1, 8192, 1)
SALT = b"0123456789abcdef"
WORDS = receipt.wordlist()
CODE = " ".join(WORDS[i] for i in (0, 100, 200, 300, 400, 500, 600, 2047))

FAST = settings(max_examples=80, deadline=None)


# -- the word list -----------------------------------------------------------------------------


def test_wordlist_shape():
    assert len(WORDS) == 2048 == 2**11
    assert len(set(WORDS)) == 2048
    assert all(re.fullmatch(r"[a-z]{4,9}", w) for w in WORDS)
    assert len({w[: receipt.PREFIX_LEN] for w in WORDS}) == 2048
    assert receipt.PREFIX_LEN == 4


def test_wordlist_file_is_the_one_shipped_in_the_package():
    text = resources.files("portal.crypto").joinpath("wordlist.txt").read_text("ascii")
    assert tuple(text.split()) == WORDS


def test_no_word_is_a_proper_prefix_of_another():
    # with unique 4-letter prefixes and words of >= 4 letters this follows, but the
    # normaliser relies on it, so check it directly
    ws = sorted(WORDS)
    assert not any(b.startswith(a) for a, b in zip(ws, ws[1:], strict=False))


# -- generation ------------------------------------------------------------------------------------


def test_generated_code_shape_and_entropy():
    for _ in range(50):
        code = receipt.generate_receipt_code()
        parts = code.split(" ")
        assert len(parts) == receipt.WORD_COUNT == 8
        assert all(p in WORDS for p in parts)
        assert receipt.normalise_receipt_code(code) == code
    assert receipt.entropy_bits() == receipt.WORD_COUNT * math.log2(len(WORDS)) == 88
    assert receipt.entropy_bits() >= 80


def test_generated_codes_are_distinct():
    codes = {receipt.generate_receipt_code() for _ in range(500)}
    assert len(codes) == 500
    used = {w for c in codes for w in c.split()}
    assert len(used) > 1000  # 4000 draws from 2048 words cover most of the list


def test_generation_uses_the_secrets_module(monkeypatch):
    calls = []

    class FakeSecrets:
        @staticmethod
        def choice(seq):
            calls.append(len(seq))
            return seq[len(calls)]

    monkeypatch.setattr(receipt, "secrets", FakeSecrets)
    code = receipt.generate_receipt_code()
    assert calls == [2048] * 8
    assert code == " ".join(WORDS[1:9])


# -- normalisation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        CODE,
        CODE.upper(),
        CODE.title(),
        CODE.replace(" ", "-"),
        CODE.replace(" ", "  ") + "\n",
        "   " + CODE + "   \r\n",
        CODE.replace(" ", " - "),
        CODE.replace(" ", "."),
        CODE.replace(" ", ", "),
        CODE.replace(" ", "_"),
        "\t" + CODE.replace(" ", "\t"),
        " ".join(w[:4] for w in CODE.split()),
        " ".join(w[:4].upper() for w in CODE.split()),
        " ".join(w[:5] for w in CODE.split()),
    ],
)
def test_normalisation_accepts(typed):
    assert receipt.normalise_receipt_code(typed) == CODE


separators = st.sampled_from([" ", "  ", "-", " - ", ".", ",", ", ", "_", "\t", "\n", ":", ";", "/"])


@FAST
@given(
    indices=st.lists(st.integers(0, 2047), min_size=8, max_size=8),
    cut=st.lists(st.integers(0, 5), min_size=8, max_size=8),
    upper=st.lists(st.booleans(), min_size=8, max_size=8),
    seps=st.lists(separators, min_size=7, max_size=7),
    lead=st.sampled_from(["", " ", "\n", "  "]),
    trail=st.sampled_from(["", " ", "\n", "\r\n", " \n"]),
)
def test_normalisation_property(indices, cut, upper, seps, lead, trail):
    words = [WORDS[i] for i in indices]
    tokens = []
    for w, c, u in zip(words, cut, upper, strict=True):
        t = w[: max(4, len(w) - c)]
        tokens.append(t.upper() if u else t)
    typed = lead + tokens[0] + "".join(s + t for s, t in zip(seps, tokens[1:], strict=True)) + trail
    assert receipt.normalise_receipt_code(typed) == " ".join(words)


@FAST
@given(st.text(max_size=250))
def test_normalisation_never_fails_otherwise(raw):
    try:
        out = receipt.normalise_receipt_code(raw)
    except ReceiptCodeError:
        return
    assert out.split(" ") == [w for w in out.split(" ") if w in WORDS] and len(out.split(" ")) == 8


def _replace_last(word: str) -> str:
    return " ".join(CODE.split()[:7] + [word])


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   \n",
        " ".join(CODE.split()[:7]),  # 7 words
        CODE + " " + WORDS[5],  # 9 words
        CODE + " " + CODE,
        _replace_last("qqqq"),  # unknown word
        _replace_last("notaword"),
        _replace_last(CODE.split()[-1][:3]),  # 3-letter prefix
        _replace_last(CODE.split()[-1] + "s"),  # longer than the word
        _replace_last(CODE.split()[-1][:4] + "x"),  # right prefix, wrong continuation
        _replace_last("1234"),
        _replace_last("zo\u00f6m"),
        _replace_last("\uff5a\uff4f\uff4f\uff4d"),  # full-width look-alikes
        CODE.replace(" ", ""),  # no separators
        CODE + " " * 200,  # > 200 characters, even though it would normalise
        "a" * 201,
    ],
)
def test_normalisation_rejects(raw):
    with pytest.raises(ReceiptCodeError):
        receipt.normalise_receipt_code(raw)


def test_length_limit_is_200_characters():
    padded = CODE + " " * (200 - len(CODE))
    assert len(padded) == 200
    assert receipt.normalise_receipt_code(padded) == CODE
    with pytest.raises(ReceiptCodeError):
        receipt.normalise_receipt_code(padded + " ")


@pytest.mark.parametrize("raw", [None, 12345, CODE.encode(), CODE.split(), object()])
def test_normalisation_rejects_non_strings(raw):
    with pytest.raises(ReceiptCodeError):
        receipt.normalise_receipt_code(raw)


def test_receipt_code_error_is_a_crypto_error():
    assert issubclass(ReceiptCodeError, CryptoError)


# -- derivations -------------------------------------------------------------------------------------


def test_receipt_secret_deterministic_and_normalised():
    a = receipt.receipt_secret(CODE, SALT, CHEAP)
    assert len(a) == receipt.RECEIPT_SECRET_LEN == 32
    assert receipt.receipt_secret(CODE, SALT, CHEAP) == a
    assert receipt.receipt_secret(CODE.upper().replace(" ", "-") + "\n", SALT, CHEAP) == a
    assert receipt.receipt_secret(" ".join(w[:4] for w in CODE.split()), SALT, CHEAP) == a


def test_receipt_secret_depends_on_salt_code_and_params():
    a = receipt.receipt_secret(CODE, SALT, CHEAP)
    assert receipt.receipt_secret(CODE, b"fedcba9876543210", CHEAP) != a
    other = " ".join(CODE.split()[:7] + [WORDS[1]])
    assert receipt.receipt_secret(other, SALT, CHEAP) != a
    assert receipt.receipt_secret(CODE, SALT, Argon2Params(2, 8192, 1)) != a


def test_receipt_secret_refuses_bad_input():
    with pytest.raises(ReceiptCodeError):
        receipt.receipt_secret("not a code", SALT, CHEAP)
    with pytest.raises(FormatError):
        receipt.receipt_secret(CODE, b"short salt", CHEAP)


def test_lookup_id_depends_on_pepper():
    secret = receipt.receipt_secret(CODE, SALT, CHEAP)
    a = receipt.lookup_id(secret, b"pepper-one" * 4)
    assert len(a) == 32
    assert receipt.lookup_id(secret, b"pepper-one" * 4) == a
    assert receipt.lookup_id(secret, b"pepper-two" * 4) != a
    assert receipt.lookup_id(bytes(32), b"pepper-one" * 4) != a
    assert a != secret


def test_derived_keys_are_independent():
    secret = receipt.receipt_secret(CODE, SALT, CHEAP)
    pepper = b"p" * 32
    values = {
        secret,
        receipt.lookup_id(secret, pepper),
        receipt.reporter_private_key(secret).private_bytes_raw(),
        receipt.reporter_private_key(secret).public_key().public_bytes_raw(),
        receipt.reporter_wrap_key(secret),
    }
    assert len(values) == 5
    assert receipt.reporter_private_key(secret).private_bytes_raw() == receipt.reporter_private_key(secret).private_bytes_raw()


@pytest.mark.parametrize("bad", [b"", b"x" * 31, b"x" * 33, "x" * 32, None])
def test_derivations_refuse_malformed_secrets(bad):
    for fn in (lambda s: receipt.lookup_id(s, b"pepper"), receipt.reporter_private_key, receipt.reporter_wrap_key):
        with pytest.raises(ReceiptCodeError):
            fn(bad)


@pytest.mark.real_kdf  # tests/conftest.py swaps in cheap parameters for every other test
def test_production_argon2_parameters_are_memory_hard():
    """The one test that looks at the real parameters (tests/vectors computes with them)."""
    assert (kdf.RECEIPT_ARGON2, kdf.PASSPHRASE_ARGON2) == (RECEIPT_ARGON2, PASSPHRASE_ARGON2)
    for params in (kdf.RECEIPT_ARGON2, kdf.PASSPHRASE_ARGON2):
        assert params.memory_kib >= 65536
        assert params.time_cost >= 2
        params.check()
