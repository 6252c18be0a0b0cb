"""A cap on the evidence files (ciphertext) the portal accepts per day.

A flood of valid reports with large files would otherwise fill the disk and
take the portal down for everyone. Once the day's files reach
`daily_file_bytes_cap`, new files are refused with a clear message while the
reports themselves (whose text is bounded per request) are still accepted: a
reporter can always send their report, and add files later with their code.

The day's total is the sum of the sizes of today's blobs, re-read from the
database at most every `refresh_seconds` per process; between reads the bytes
this process accepted are added. Several processes accepting at once can
overshoot the cap by what they accept within one refresh: it is a safety
margin for the disk, not an exact quota. Leads see the figure on the themes page.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.blobs.models import Blob
from portal.clock import today

FILES_REFUSED_TODAY = _l(
    "The portal cannot accept more files today. Send your report without them now, "
    "then add the files from the follow-up page with your receipt code tomorrow."
)


def file_bytes_received(db: Session, day=None) -> int:
    """Ciphertext bytes stored on `day`: files (attached or still in a draft), and the few safe
    copies reviewers made (the cap bounds the disk a day can fill; the reporter host's database
    role cannot read, and need not know, which blobs are safe copies)."""
    return int(db.scalar(select(func.coalesce(func.sum(Blob.size), 0)).where(Blob.created_on == (day or today()))) or 0)


@dataclass(frozen=True)
class IntakeToday:
    """What leads see: today's file bytes against the cap (the triage host reads the same database)."""

    received_bytes: int
    cap_bytes: int

    @property
    def percent_of_cap(self) -> int | None:
        return None if self.cap_bytes <= 0 else min(999, round(100 * self.received_bytes / self.cap_bytes))

    @classmethod
    def read(cls, db: Session, cap_bytes: int) -> IntakeToday:
        return cls(file_bytes_received(db), cap_bytes)


class DailyIntake:
    def __init__(self, cap_bytes: int, refresh_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.cap_bytes = cap_bytes
        self._refresh = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._known: tuple[object, float, int] | None = None  # (day, read at, bytes)
        self._added = 0

    def received_today(self, db: Session) -> int:
        day = today()
        with self._lock:
            known = self._known
            if known is not None and known[0] == day and self._clock() - known[1] < self._refresh:
                return known[2] + self._added
        total = file_bytes_received(db, day)
        with self._lock:
            self._known, self._added = (day, self._clock(), total), 0
        return total

    def has_room(self, db: Session) -> bool:
        """May another file be accepted today? (A cap of 0 means no cap.)"""
        return self.cap_bytes <= 0 or self.received_today(db) < self.cap_bytes

    def add(self, size: int) -> None:
        with self._lock:
            self._added += size
