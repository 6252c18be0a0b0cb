"""The screening worker: `portal screen` (systemd: portal-screen.service), and the thread that
`portal serve-dev` and each gunicorn triage worker start (config/gunicorn.conf.py).

It polls for reports waiting for screening (an index range, oldest first) and screens each in its
own transaction. Several workers may run at once: each report is claimed before it is screened.
An exception on one report rolls back that report only, quarantines it ("error") and moves on.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from portal.config import Settings
from portal.db import Database
from portal.instance import read_secret
from portal.triage import screening
from portal.triage.context import Context

log = logging.getLogger("portal.screening")

BATCH = 50  # reports read per poll; the loop polls again at once while a batch comes back full
POLL_SECONDS = 1.0


@dataclass
class Run:
    screened: int = 0
    quarantined: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.screened + self.quarantined + self.failed


def load_secrets(settings: Settings) -> screening.ScreeningSecrets:
    return screening.ScreeningSecrets.from_secrets(read_secret(settings.instance_dir, "screening_key"),
                                                   read_secret(settings.instance_dir, "blind_index_key"),
                                                   read_secret(settings.instance_dir, "audit_key"))


def publish(database: Database, keys: screening.ScreeningSecrets) -> str:
    with database.transaction() as db:
        return screening.publish_key(db, keys.private_key)


def screen_pending(database: Database, settings: Settings, keys: screening.ScreeningSecrets, limit: int = BATCH) -> Run:
    """Screen up to `limit` waiting reports, oldest first."""
    run = Run()
    with database.transaction() as db:
        ids = screening.pending_ids(db, limit)
    database.remove()
    for report_id in ids:
        try:
            with database.transaction() as db:
                outcome = screening.screen_report(Context(db, settings, keys.audit_key, keys.blind_index_key), keys, report_id)
        except Exception as exc:  # noqa: BLE001 (one report must never stop the others)
            log.error("screening failed on one report; it is quarantined", extra={"exc_type": type(exc).__name__})
            database.remove()
            with database.transaction() as db:
                screening.mark_failed(db, keys.audit_key, report_id)
            run.failed += 1
            continue
        finally:
            # A fresh session for each report: nothing loaded for one report (rows that were then
            # deleted, whose ids SQLite may hand out again) can stand in for another's.
            database.remove()
        if outcome == screening.SCREENED:
            run.screened += 1
        elif outcome == screening.QUARANTINED:
            run.quarantined += 1
    return run


def run_until(database: Database, settings: Settings, keys: screening.ScreeningSecrets, stop: threading.Event,
              poll: float = POLL_SECONDS) -> None:
    """Screen as reports arrive until `stop` is set. A database error is logged and retried next poll."""
    publish(database, keys)
    while not stop.is_set():
        try:
            run = screen_pending(database, settings, keys)
        except Exception as exc:  # noqa: BLE001 (the database went away: try again, never die silently)
            log.error("screening poll failed", extra={"exc_type": type(exc).__name__})
            run = Run()
        finally:
            database.remove()
        if run.total < BATCH:
            stop.wait(poll)


def start_thread(database: Database, settings: Settings, poll: float = POLL_SECONDS) -> threading.Event:
    """Screen in a daemon thread of this process; set the returned event to stop it."""
    keys = load_secrets(settings)
    publish(database, keys)
    stop = threading.Event()
    threading.Thread(target=run_until, args=(database, settings, keys, stop, poll), name="portal-screen", daemon=True).start()
    return stop
