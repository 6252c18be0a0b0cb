"""A bound on how many safe copies one host makes at once, across all its worker processes.

Each conversion runs in a child that may take 30 s; with sync workers every one in progress
holds a worker. Slots are lock files taken without waiting (flock, released by the kernel
even if the worker dies), so a reviewer asking while all are taken is told to try again
instead of queueing, and the other pages always keep a worker.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def conversion_slot(directory: Path, slots: int) -> Iterator[bool]:
    """Yields True while holding one of `slots` slots in `directory`, False when all are taken."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for number in range(max(1, slots)):
        fd = os.open(directory / f"slot-{number}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return
    yield False
