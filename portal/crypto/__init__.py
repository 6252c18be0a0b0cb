"""All of the portal's cryptography, and nothing else.

Pure functions over `cryptography` and `argon2`: no Flask, no database, no I/O
beyond the streams a caller hands in. Every failure is a `CryptoError`.
The formats are written down byte by byte in docs/crypto.md.
"""

from portal.crypto.errors import CryptoError, FormatError, IntegrityError, ReceiptCodeError

__all__ = ["CryptoError", "FormatError", "IntegrityError", "ReceiptCodeError"]
