"""The public keys of the receiving bodies (config/bodies.toml). The private halves never reach
the portal: each body generates its pair on its own machine (`portal bodies keygen`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import today
from portal.db import Base


class ReceivingBodyKey(Base):
    """One registered public key of a body (`portal bodies add`). A newer key for the same body
    replaces the older one (active=False), which stays for the record of earlier referrals."""

    __tablename__ = "receiving_body_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), index=True)
    fingerprint: Mapped[str] = mapped_column(String(32), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # portal.crypto.keys.RecipientPublicKey
    added_on: Mapped[dt.date] = mapped_column(Date, default=today)
    added_by: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
