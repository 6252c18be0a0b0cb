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
def conversion_slot(directory: Path, slots: int, item: str) -> Iterator[bool]:
    """Yields True while holding one of `slots` slots in `directory` and the lock of `item` (one
    conversion per file at a time), False when either is taken. Hold it until the conversion's
    transaction has committed, so that a second request for the same file finds the copy."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _held(directory / f"item-{item}.lock") as item_held:
        if not item_held:
            yield False
            return
        for number in range(max(1, slots)):
            with _held(directory / f"slot-{number}.lock") as slot_held:
                if slot_held:
                    yield True
                    return
        yield False


@contextlib.contextmanager
def _held(path: Path) -> Iterator[bool]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
