"""What the audit checkpoints cost an audited request, and what `portal audit verify` costs.

Appends audit entries one transaction each (as reviewers' requests do) into a fresh SQLite
instance (or PostgreSQL with --database-url), with and without the Checkpointer installed and
with a checkpoint after every entry (the worst case: audit_checkpoint_entries = 1, so every
commit signs with Ed25519, appends a line and fsyncs). Prints medians and p95 per append, the
ratio, and the time to verify the chain against its checkpoints.

    .venv/bin/python bench/audit_bench.py [--entries 2000] [--database-url postgresql:///bench]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import percentile  # noqa: E402

from portal.config import load_settings  # noqa: E402
from portal.instance import ensure_instance, read_secret  # noqa: E402
from portal.models import create_all  # noqa: E402
from portal.storage import open_database  # noqa: E402
from portal.triage import audit  # noqa: E402
from portal.triage.checkpoints import Checkpointer, verify  # noqa: E402


def run(entries: int, database_url: str | None, every: int | None) -> tuple[list[float], float]:
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        ensure_instance(instance)
        overrides = {"instance_dir": str(instance), "audit_checkpoint_entries": every or 10}
        if database_url:
            overrides["database_url"] = database_url
        settings = load_settings(overrides)
        database = open_database(settings)
        if database_url:
            with database.engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE IF EXISTS audit_log CASCADE")
        create_all(database.engine)
        checkpointer = Checkpointer.from_settings(settings)
        if every is not None:
            checkpointer.install(database)
        key = read_secret(instance, "audit_key")
        times = []
        for _ in range(entries):
            started = time.perf_counter()
            with database.transaction() as session:
                audit.record(session, key, "lead", "report.viewed", "R-AAAA-BBBB", copy="safe")
            times.append(time.perf_counter() - started)
        started = time.perf_counter()
        if every is not None:
            with database.transaction() as session:
                result = verify(session, key, checkpointer.file)
            assert result.ok, result.problem
        verify_seconds = time.perf_counter() - started
        database.dispose()
        return times, verify_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    print(f"{args.entries} audited commits each, {'PostgreSQL' if args.database_url else 'SQLite (WAL)'}")
    base = None
    for label, every in (("no checkpointer", None), ("checkpoint every 10 (default)", 10), ("checkpoint every entry", 1)):
        times, verify_seconds = run(args.entries, args.database_url, every)
        median = statistics.median(times) * 1000
        base = base or median
        extra = f"; verify {verify_seconds:.2f} s" if every is not None else ""
        print(f"{label:32s} median {median:6.2f} ms  p95 {percentile(times, 95) * 1000:6.2f} ms  "
              f"x{median / base:4.2f}{extra}")


if __name__ == "__main__":
    main()
