"""The `blobs` table (every blob's row: size, attached or only staged, the day it was written)
and `blob_chunks` (its content, when the database store holds it)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import today
from portal.db import Base

CHUNK_BYTES = 1 << 20  # the largest piece of content held in memory, or in one `blob_chunks` row


class Blob(Base):
    __tablename__ = "blobs"

    id: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    attached: Mapped[bool] = mapped_column(default=False)  # False while only staged in a draft
    created_on: Mapped[dt.date] = mapped_column(Date, default=today)


class BlobChunk(Base):
    __tablename__ = "blob_chunks"

    blob_id: Mapped[bytes] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)

