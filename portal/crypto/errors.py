"""One exception hierarchy for every cryptographic failure.

Callers catch `CryptoError`; the subclasses say why, for logs and tests. No
exception ever carries key material or plaintext in its message.
"""


class CryptoError(Exception):
    """Something could not be opened, unwrapped or derived."""


class FormatError(CryptoError):
    """Unknown version or algorithm, wrong length, truncated or malformed input."""


class IntegrityError(CryptoError):
    """Authentication failed: wrong key, wrong passphrase, wrong context, or tampering."""


class ReceiptCodeError(CryptoError):
    """A receipt code that is not of the right form (wrong words or word count)."""
