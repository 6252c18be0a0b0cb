"""Time from a report's arrival to "screened", while a flood of junk reports arrives (issue 12).

    .venv/bin/python bench/screening_bench.py [--reports 40] [--flooders 2] [--poll 1.0]
                                              [--database-url postgresql:///bench --pg-schema screening_bench]

The screening worker runs as production runs it: `portal screen` in its own process (the
portal-screen.service command), polling every --poll seconds. In this process, --flooders
threads store junk reports as fast as they can, as a script posting the JavaScript fields does
(no subject list, a subject list that does not open, one that is not a list, in turn), while one
thread sends --reports genuine reports naming a person, one after the other, through the
no-JavaScript service. For each genuine report the clock starts when its transaction has
committed and stops when the database says it was screened. Prints the median and p95, the
junk rate the flood reached, and how much of the flood was screened (quarantined) meanwhile.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import ROOT, Summary, database_choice, log, machine_line, ms, reset_postgres_schema  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from portal.crypto import kdf  # noqa: E402
from portal.crypto.keys import RecipientPrivateKey  # noqa: E402
from portal.crypto.screening import screening_private_key  # noqa: E402
from portal.db import Database  # noqa: E402
from portal.deadlines import Deadlines  # noqa: E402
from portal.instance import ensure_instance, read_secret  # noqa: E402
from portal.migrate import upgrade  # noqa: E402
from portal.reports.answers import Person, ReportAnswers  # noqa: E402
from portal.reports.browser_intake import BrowserSubmission, submit_from_browser  # noqa: E402
from portal.reports.models import Report  # noqa: E402
from portal.reports.recipients import intake_recipients  # noqa: E402
from portal.reports.service import Draft, ReporterKeys, submit_from_server  # noqa: E402
from portal.triage.accounts import create_reviewer, register_recovery_key  # noqa: E402
from portal.triage.models import Role  # noqa: E402
from portal.triage.screening import publish_key  # noqa: E402

DEADLINES = Deadlines(acknowledge_days=7, feedback_days=90)


def setup(instance: Path, url: str) -> tuple[Database, ReporterKeys]:
    ensure_instance(instance)
    upgrade(url)
    database = Database(url)
    with database.transaction() as session:
        for n in range(3):  # three intake reviewers: three held wraps per report
            create_reviewer(session, read_secret(instance, "totp_key"), login=f"r{n}", display_name=f"R{n}", role=Role.LEAD,
                            passphrase="bench-passphrase-long-enough-1", receives_new_reports=True)  # noqa: S106
        register_recovery_key(session, RecipientPrivateKey.generate())
        publish_key(session, screening_private_key(read_secret(instance, "screening_key")))  # as `portal init --app triage`
    keys = ReporterKeys(read_secret(instance, "receipt_pepper"), read_secret(instance, "receipt_salt")[:16],
                        read_secret(instance, "reporter_secret_key"))
    return database, keys


def junk(database: Database, keys: ReporterKeys, n: int) -> None:
    """One junk report as the JavaScript path would store it."""
    with database.transaction() as session:
        inners = {r.fingerprint: os.urandom(80) for r in intake_recipients(session)}
        subjects = None if n % 3 == 0 else os.urandom(48 + 32 * (n % 3))
        submit_from_browser(session, keys, BrowserSubmission(
            report_id=os.urandom(16), secret=os.urandom(32), sealed_report=b"\x01\x01" + os.urandom(200),
            reporter_inner=os.urandom(80), recipient_inners=inners, subjects_inner=subjects, attachments=[], urgent=False,
        ), DEADLINES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=40)
    parser.add_argument("--flooders", type=int, default=2)
    parser.add_argument("--poll", type=float, default=1.0, help="the worker's poll interval (production default 1.0 s)")
    parser.add_argument("--backlog", type=int, default=500, help="junk reports waiting before the worker starts (its drain rate)")
    parser.add_argument("--database-url", default=os.environ.get("PORTAL_BENCH_DATABASE_URL", ""))
    parser.add_argument("--pg-schema", default="screening_bench")
    args = parser.parse_args()
    # Argon2id for the genuine reports' receipt codes is the reporter host's cost, not screening's: keep it cheap here.
    kdf.RECEIPT_ARGON2 = kdf.Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)

    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        url, engine_name = database_choice(args.database_url, args.pg_schema)
        if url:
            reset_postgres_schema(url, args.pg_schema)
        url = url or f"sqlite:///{instance / 'portal.sqlite3'}"
        instance.mkdir(mode=0o700)
        database, keys = setup(instance, url)
        log(f"{engine_name}: storing a backlog of {args.backlog} junk reports before the worker starts")
        for n in range(args.backlog):
            junk(database, keys, n)
            database.remove()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        env.update(PORTAL_INSTANCE_DIR=str(instance), PORTAL_DATABASE_URL=url)
        worker = subprocess.Popen([sys.executable, "-m", "portal.cli", "screen", "--poll", str(args.poll)], cwd=ROOT, env=env,  # noqa: S603
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            first = None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # the backlog: how fast does one worker get through junk?
                with database.transaction() as session:
                    waiting = session.scalar(select(func.count()).select_from(Report).where(Report.screening == "pending"))
                database.remove()
                if first is None and waiting < args.backlog:
                    first, first_waiting = time.monotonic(), waiting
                if not waiting:
                    break
                time.sleep(0.01)
            else:
                raise SystemExit("the backlog was not screened within 120 s: " + worker.stderr.read1().decode(errors="replace"))
            drain_rate = first_waiting / max(time.monotonic() - first, 1e-6)
            log(f"{engine_name}: worker up (poll {args.poll} s); flooding with {args.flooders} thread(s)")
            stop = threading.Event()
            counts = [0] * args.flooders

            def flood(i: int) -> None:
                db = Database(url)
                while not stop.is_set():
                    junk(db, keys, counts[i])
                    db.remove()  # one session per submission, as one request has
                    counts[i] += 1
                db.dispose()

            flooders = [threading.Thread(target=flood, args=(i,), daemon=True) for i in range(args.flooders)]
            started = time.monotonic()
            for thread in flooders:
                thread.start()
            time.sleep(2)  # a backlog of junk is already waiting when the first genuine report arrives
            latencies = []
            answers = ReportAnswers(what_happened="genuine", people=[Person(name="Sgt John O'Neill", identifier="PC 4471")])
            for n in range(args.reports):
                with database.transaction() as session:
                    report, _ = submit_from_server(session, keys, Draft.new(), answers, DEADLINES)
                    report_id = report.id
                database.remove()
                t0 = time.monotonic()
                while True:
                    with database.transaction() as session:
                        state = session.scalar(select(Report.screening).where(Report.id == report_id))
                    if state != "pending":
                        break
                    if time.monotonic() - t0 > 60:
                        raise SystemExit(f"report {n} not screened within 60 s")
                    time.sleep(0.005)
                latencies.append(time.monotonic() - t0)
                assert state == "screened", state
            stop.set()
            for thread in flooders:
                thread.join()
            elapsed = time.monotonic() - started
            with database.transaction() as session:
                by_state = dict(session.execute(select(Report.screening, func.count()).group_by(Report.screening)).all())
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=10)
            database.dispose()

    summary = Summary.of(latencies)
    junk_total = sum(counts)
    print(f"screening_bench: {engine_name}, worker `portal screen --poll {args.poll}` in its own process, 3 intake reviewers")
    print(machine_line())
    print(f"backlog: {args.backlog} junk reports waiting when the worker started: quarantined at {drain_rate:.0f} reports/s "
          "(one worker)")
    print(f"flood: {junk_total} junk reports in {elapsed:.1f} s ({junk_total / elapsed:.0f}/s from {args.flooders} thread(s))")
    print(f"at the end: {by_state.get('screened', 0)} screened, {by_state.get('quarantined', 0)} quarantined, "
          f"{by_state.get('pending', 0)} still waiting")
    print(f"arrival -> screened, {summary.n} genuine reports: median {ms(summary.median)}, p95 {ms(summary.p95)}, "
          f"max {ms(summary.maximum)} (target: within 10 s)")


if __name__ == "__main__":
    main()
