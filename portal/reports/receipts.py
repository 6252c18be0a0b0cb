"""Finding a report from what a reporter signs in with, and upgrading receipt format 1 to 2.

With JavaScript the browser sends only the lookup token (docs/crypto.md, "Receipt format
v2"); the reporter host finds the report by HMAC(pepper, token) and holds nothing that
opens it. Without JavaScript the server derives the receipt secret from the code, as it
always has, and from it the same token. A report still stored under format 1 (lookup id and
wrap keyed on the secret itself) is found only with the secret; when it is, it is rewritten
to format 2 there and then, so that its next JavaScript sign-in sends only the token.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.crypto import CryptoError
from portal.crypto.keys import unwrap_dek_for_reporter, wrap_dek_for_reporter_root
from portal.crypto.receipt import (
    LOOKUP_TOKEN_LEN,
    RECEIPT_FORMAT_V1,
    RECEIPT_FORMAT_V2,
    RECEIPT_SECRET_LEN,
    lookup_id,
    lookup_id_v2,
    lookup_token,
    reporter_root,
)
from portal.reports.models import Report, reporter_columns
from portal.reports.service import reporter_dek


def find_by_token(db: Session, pepper: bytes, token: bytes) -> Report | None:
    """The format 2 report whose lookup id is HMAC(pepper, token); the server cannot check more."""
    if not isinstance(token, bytes) or len(token) != LOOKUP_TOKEN_LEN:
        return None
    return db.scalar(
        select(Report).options(reporter_columns())
        .where(Report.lookup_id == lookup_id_v2(token, pepper), Report.receipt_format == RECEIPT_FORMAT_V2)
    )


def format_1_remaining(db: Session) -> bool:
    """Is any report still stored under receipt format 1 (so a missed token may be one of them)?"""
    return db.scalar(select(Report.id).where(Report.receipt_format == RECEIPT_FORMAT_V1).limit(1)) is not None


def find_with_secret(db: Session, pepper: bytes, secret: bytes) -> Report | None:
    """The report this receipt secret opens, of either format; a format 1 report is upgraded
    to format 2 in the caller's transaction (new lookup id, new 0x15 wrap of the same DEK)."""
    if not isinstance(secret, bytes) or len(secret) != RECEIPT_SECRET_LEN:
        return None
    report = find_by_token(db, pepper, lookup_token(secret))
    if report is None:
        report = db.scalar(
            select(Report).options(reporter_columns())
            .where(Report.lookup_id == lookup_id(secret, pepper), Report.receipt_format == RECEIPT_FORMAT_V1)
        )
    if report is None:
        return None
    try:
        dek = unwrap_dek_for_reporter(report.reporter_wrap, secret, report.public_id)
    except CryptoError:
        return None
    if report.receipt_format == RECEIPT_FORMAT_V1:
        report.lookup_id = lookup_id_v2(lookup_token(secret), pepper)
        report.reporter_wrap = wrap_dek_for_reporter_root(dek, reporter_root(secret), report.public_id)
        report.receipt_format = RECEIPT_FORMAT_V2
        db.flush()
    return report



def browser_sign_in(db: Session, pepper: bytes, token: bytes, secret: bytes | None) -> tuple[Report | None, bool]:
    """(report, ask for the secret) for a JavaScript sign-in. The browser sends its lookup token;
    only when that finds nothing and format 1 reports remain is it asked, once, for the receipt
    secret (`secret`), which finds and upgrades such a report and is then forgotten."""
    report = find_by_token(db, pepper, token)
    if report is None and secret:
        report = find_with_secret(db, pepper, secret)
    return report, report is None and not secret and format_1_remaining(db)


@dataclass(frozen=True)
class SignedInCase:
    """The report a reporter signed in to and, on the no-JavaScript path only, the receipt secret
    that opens it. A JavaScript sign-in proved knowledge of the lookup token and nothing more:
    its session holds no secret, and the server can hand that reporter only sealed records."""

    report: Report
    secret: bytes | None

    @property
    def in_browser(self) -> bool:
        return self.secret is None

    @property
    def dek(self) -> bytes:
        if self.secret is None:
            raise LookupError("a JavaScript follow-up session holds no key")
        return reporter_dek(self.report, self.secret)

    def session_payload(self) -> dict:
        """What the reporter's server-side session holds (portal.sessions seals it)."""
        if self.secret is None:
            return {"report": self.report.public_id.hex(), "proof": "lookup-token"}
        return {"report": self.report.public_id.hex(), "secret": self.secret.hex()}

    @classmethod
    def from_session(cls, db: Session, payload: dict) -> SignedInCase | None:
        report = db.scalar(select(Report).options(reporter_columns()).where(Report.public_id == bytes.fromhex(payload["report"])))
        if report is None or ("secret" not in payload and payload.get("proof") != "lookup-token"):
            return None
        return cls(report, bytes.fromhex(payload["secret"]) if "secret" in payload else None)
