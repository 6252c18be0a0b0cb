"""Two transactions appending to the audit chain at the same moment (two gunicorn workers, two
reviewers): the second waits for the first and chains onto it, on SQLite as on PostgreSQL.
Before, SQLite read the chain's head outside the transaction and the second append failed on
the unique `seq` (a 500 for a reviewer, and a safe copy thrown away)."""

from __future__ import annotations

import threading
import time

from sqlalchemy.orm import Session

from portal.triage.audit import record, verify_chain

KEY = b"k" * 32


def test_concurrent_appends_both_land_and_the_chain_verifies(database):
    first = Session(database.engine)
    outcome: dict = {}

    def second_worker() -> None:
        other = Session(database.engine)
        try:
            record(other, KEY, "reviewer-b", "report.viewed", "R-BBBB-BBBB")
            other.commit()
            outcome["ok"] = True
        except Exception as exc:  # noqa: BLE001 - the failure is what this test looks for
            outcome["error"] = repr(exc)
            other.rollback()
        finally:
            other.close()

    record(first, KEY, "reviewer-a", "report.viewed", "R-AAAA-AAAA")  # holds the append, not committed yet
    worker = threading.Thread(target=second_worker)
    worker.start()
    time.sleep(0.5)  # the second append is now waiting (or, before the fix, has read a stale head)
    first.commit()
    first.close()
    worker.join(30)
    assert outcome == {"ok": True}
    with Session(database.engine) as check:
        result = verify_chain(check, KEY)
    assert result.ok and result.entries == 2, result
