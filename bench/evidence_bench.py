"""Evidence sanitiser figures (issue #14): the hostile corpus through make_safe_copy, pages
per second for an ordinary 20-page PDF, and the triage app's other pages while it converts.

1. Corpus: for each file, median wall time over --runs runs, the sandboxed child's peak RSS
   (its own VmHWM: wait4/RUSAGE_CHILDREN would report the forked parent's image), and the
   outcome. Target: every hostile file refused or converted in under 10 s and under 512 MiB.
2. Latency: a fresh instance (`portal init --dev`, SQLite) receives --files files through the
   reporter's no-JavaScript form (in this process), alternately an ordinary 20-page PDF and the
   9 KB page-tree bomb, --per-report to a report, plus one report without files. The triage app
   runs as in production (`portal serve triage`: gunicorn, config/gunicorn.conf.py, 2 sync
   workers, safe_copy_slots = 1). One reviewer loads the queue, the plain report's page and the
   page of the report with the files in turn, --requests loads a round, one at a time; in each
   of --rounds rounds, first with nothing else running ("idle"), then while a second reviewer
   asks for safe copies one after another ("sanitiser busy": each request holds the other
   worker for its whole conversion). Prints the median over rounds of p50 and p95, and the
   ratio. Target: p95 < 150 ms while the sanitiser is busy.

    .venv/bin/python bench/evidence_bench.py [--runs 3] [--requests 200 --rounds 3 --files 60]
    .venv/bin/python bench/evidence_bench.py --corpus-only | --latency-only
"""

from __future__ import annotations

import argparse
import http.cookiejar
import io
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # support.py (shared builders)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "security"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
import test_evidence_corpus as corpus  # noqa: E402 - the corpus lives with the tests that use it
from benchlib import log, ms  # noqa: E402

from portal.evidence import Converted, make_safe_copy  # noqa: E402

TARGET_SECONDS, TARGET_KIB = 10.0, 512 * 1024
TARGET_P95 = 0.150


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="corpus: runs per file (default 3)")
    parser.add_argument("--requests", type=int, default=200, help="latency: page loads a round and phase (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="latency: idle/busy rounds (default 3)")
    parser.add_argument("--files", type=int, default=60, help="latency: files to convert (default 60)")
    parser.add_argument("--per-report", type=int, default=20, help="latency: files a report (default 20, max_files)")
    parser.add_argument("--keep", action="store_true", help="latency: keep the temporary instance (path printed)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--corpus-only", action="store_true")
    only.add_argument("--latency-only", action="store_true")
    args = parser.parse_args()
    print(f"Machine: {benchlib.machine_line()}")
    ok = True
    if not args.latency_only:
        ok &= run_corpus(args)
    if not args.corpus_only:
        ok &= latency(args)
    return 0 if ok else 1


def run_corpus(args) -> bool:
    print(f"\nHostile corpus through make_safe_copy, medians of {args.runs} runs")
    files = corpus.hostile_corpus()
    files["ordinary 20-page PDF"] = corpus.text_pdf(20)
    ok = True
    print(f"{'file':40} {'size':>10} {'time s':>8} {'peak MiB':>9}  outcome")
    for name, data in files.items():
        results = [make_safe_copy(data) for _ in range(args.runs)]
        seconds = statistics.median(r.seconds for r in results)
        peak = statistics.median(r.peak_rss_kib for r in results)
        last = results[-1]
        outcome = f"converted, {last.pages} pages, removed: {last.removed}" if isinstance(last, Converted) else \
            f"refused: {last.reason}"
        within = seconds < TARGET_SECONDS and peak < TARGET_KIB
        ok &= within or name.startswith("ordinary")
        print(f"{name:40} {len(data):>10,} {seconds:>8.2f} {peak / 1024:>9.0f}  {'' if within else 'OVER TARGET '}{outcome}")
        if name.startswith("ordinary") and isinstance(last, Converted):
            print(f"{'':40} {'':>10} pages/second: {last.pages / seconds:.1f} (including ~0.5 s child start-up); "
                  f"copy {len(last.data):,} bytes")
    print("all hostile files within target" if ok else "SOME HOSTILE FILES OVER TARGET")
    return ok


# -- the triage app's other pages while the sanitiser is busy --------------------------------


def seed_reports(instance: Path, database_url: str, files: list[tuple[str, bytes]], per_report: int) -> list[str]:
    """Reports sent through the reporter app's no-JavaScript form (in this process, Flask's test
    client): one plain report (no files), then the files `per_report` at a time. References, in order."""
    from sqlalchemy import select

    from portal.app import create_app
    from portal.db import Database
    from portal.reports.models import Report

    app = create_app("reporter", {"instance_dir": str(instance), "database_url": database_url})
    client = app.test_client()
    batches = [[]] + [files[i : i + per_report] for i in range(0, len(files), per_report)]
    for number, batch in enumerate(batches):
        token = benchlib.csrf_from(client.get("/report").data)
        data = {"csrf_token": token, "draft": "", "what_happened": f"Benchmark report {number}: a sergeant's rota.",
                "evidence": [(io.BytesIO(content), name) for name, content in batch]}
        response = client.post("/report", data=data, content_type="multipart/form-data")
        if response.status_code != 200 or b"receipt" not in response.data.lower():
            raise RuntimeError(f"report {number} was not accepted: {response.status_code}")
    app.extensions["portal.db"].dispose()
    db = Database(database_url)
    try:
        return list(db.session.scalars(select(Report.reference).order_by(Report.id)))
    finally:
        db.dispose()


class Reviewer:
    """A signed-in reviewer's cookies (urllib, redirects followed, like a browser without JavaScript)."""

    def __init__(self, port: int, creds: benchlib.Credentials, step_offset: int) -> None:
        import pyotp

        self.base = f"http://{benchlib.HOST}:{port}"
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = self.get("/login")[1]
        url, page = self.post("/login", {"csrf_token": benchlib.csrf_from(page), "login": creds.login,
                                         "passphrase": creds.passphrase})
        if not url.endswith("/login/code"):
            raise RuntimeError("passphrase refused")
        # A TOTP step is accepted once: a second session uses the next step (the server allows +-1).
        code = pyotp.TOTP(creds.totp_secret).at(time.time() + 30 * step_offset)
        url, _ = self.post("/login/code", {"csrf_token": benchlib.csrf_from(page), "code": code})
        if "/login" in urllib.parse.urlparse(url).path:
            raise RuntimeError("TOTP code refused")

    def get(self, path: str) -> tuple[str, bytes]:
        with self.opener.open(self.base + path, timeout=120) as response:
            return response.geturl(), response.read()

    def post(self, path: str, fields: dict[str, str]) -> tuple[str, bytes]:
        with self.opener.open(self.base + path, data=urllib.parse.urlencode(fields).encode(), timeout=120) as response:
            return response.geturl(), response.read()


SAFE_COPY_FORM = re.compile(rb'action="(/reports/[^"/]+/files/[0-9a-f]+/safe-copy)"')


class Converter(threading.Thread):
    """Asks for safe copies one after another (each POST holds one gunicorn worker for the whole
    conversion) while `go` is set, until stopped or out of files; records each answer and its time."""

    def __init__(self, reviewer: Reviewer, references: list[str]) -> None:
        super().__init__(daemon=True)
        self.reviewer = reviewer
        self.go, self.stop_flag, self.idle = threading.Event(), threading.Event(), threading.Event()
        self.idle.set()
        self.in_flight = threading.Event()
        self.done: list[tuple[str, float]] = []
        self.forms: list[tuple[str, str]] = []
        for reference in references:  # in page order: the files alternate, ordinary then hostile
            page = reviewer.get(f"/reports/{reference}")[1]
            token = benchlib.csrf_from(page)
            self.forms += [(m.decode(), token) for m in SAFE_COPY_FORM.findall(page)]

    def run(self) -> None:
        while self.forms and not self.stop_flag.is_set():
            if not self.go.wait(0.1):
                continue
            action, token = self.forms.pop(0)
            self.idle.clear()
            self.in_flight.set()
            start = time.perf_counter()
            try:
                _, page = self.reviewer.post(action, {"csrf_token": token})
            except (urllib.error.HTTPError, OSError) as error:
                page = f"error {getattr(error, 'code', error)}".encode()
            elapsed = time.perf_counter() - start
            self.in_flight.clear()
            self.idle.set()
            outcome = ("converted" if b"Safe copy ready" in page else "refused" if b"No safe copy was made" in page
                       else "busy" if b"being made right now" in page else page.decode()[:40] if page.startswith(b"error") else "other")
            self.done.append((outcome, elapsed))

    def pause(self) -> None:
        """Stop asking, and wait for the conversion under way to end."""
        self.go.clear()
        self.idle.wait(180)

    def resume(self) -> None:
        self.go.set()
        self.in_flight.wait(10)
        time.sleep(0.3)  # the conversion has reached the other worker and its sandboxed child


def time_pages(reviewer: Reviewer, paths: list[str], count: int, errors: list[str]) -> list[float]:
    """`count` page loads, one at a time, cycling through `paths`; seconds each (request sent to body
    read). A page that answers an error is timed too, and its path and status appended to `errors`."""
    timings = []
    for i in range(count):
        path = paths[i % len(paths)]
        start = time.perf_counter()
        try:
            url, body = reviewer.get(path)
        except urllib.error.HTTPError as error:
            error.read()
            timings.append(time.perf_counter() - start)
            errors.append(f"{path} {error.code}")
            continue
        timings.append(time.perf_counter() - start)
        if "/login" in urllib.parse.urlparse(url).path or b"<h1" not in body:
            raise RuntimeError(f"{path} did not answer a page")
    return timings


def latency(args) -> bool:
    """p50/p95 of queue and report page loads, idle and while the sanitiser converts; True if within target."""
    # `portal init` and `portal serve` import the portal of this checkout, also where the venv's
    # editable install points at another one (a git worktree sharing the venv).
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(benchlib.ROOT), os.environ.get("PYTHONPATH")]))
    tmp = Path(tempfile.mkdtemp(prefix="portal-evidence-bench-"))
    instance = tmp / "instance"
    server = None
    try:
        log(f"Initialising {instance} (SQLite) ...")
        creds = benchlib.init_instance(instance, None)
        database_url = f"sqlite:///{instance / 'portal.sqlite3'}"
        hostile, ordinary = corpus.page_tree_bomb(), corpus.text_pdf(20)
        files = []
        for i in range(args.files // 2):
            files += [(f"rota-{i}.pdf", ordinary), (f"statement-{i}.pdf", hostile)]
        log(f"Sending {len(files)} files in reports of {args.per_report} ...")
        references = seed_reports(instance, database_url, files, args.per_report)
        plain, with_files = references[0], references[1:]
        server = benchlib.Gunicorn("triage", instance, None)
        log(f"gunicorn triage (2 sync workers, safe_copy_slots = 1) ready in {server.wait_ready():.1f} s")
        reader = Reviewer(server.port, creds, 0)
        converter = Converter(Reviewer(server.port, creds, 1), with_files)
        paths = ["/", f"/reports/{plain}", f"/reports/{with_files[0]}"]
        idle_errors, busy_errors = [], []
        time_pages(reader, paths, 15, idle_errors)  # warm-up: templates, connections, the lead's key
        idle_rounds, busy_rounds = [], []
        converter.start()
        for round_number in range(args.rounds):
            converter.pause()
            idle_rounds.append(time_pages(reader, paths, args.requests, idle_errors))
            converter.resume()
            before = len(converter.done)
            busy = time_pages(reader, paths, args.requests, busy_errors)
            if not converter.forms:
                log(f"round {round_number + 1}: the converter ran out of files; use more --files")
            busy_rounds.append(busy)
            log(f"round {round_number + 1}: idle p95 {ms(benchlib.percentile(idle_rounds[-1], 95))}, "
                f"busy p95 {ms(benchlib.percentile(busy, 95))} ({len(converter.done) - before} safe copies answered during it)")
        converter.stop_flag.set()
        converter.join(timeout=120)
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            log(f"Instance kept: {instance}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nTriage pages while the sanitiser is busy: gunicorn (config/gunicorn.conf.py, 2 sync workers, "
          f"safe_copy_slots = 1), SQLite; one reviewer loading {', '.join(p if p == '/' else '/reports/R-…' for p in paths)} "
          f"in turn, {args.requests} loads a round, {args.rounds} rounds; another reviewer asking for safe copies one after "
          "another (an ordinary 20-page PDF, then the 9 KB page-tree bomb, and so on)")
    conversions = converter.done
    for kind in sorted({outcome for outcome, _ in conversions}):
        times = [t for outcome, t in conversions if outcome == kind]
        if times:
            print(f"  safe-copy requests {kind}: {len(times)}, median {statistics.median(times):.2f} s (request to page)")
    print(f"\n{'':26} {'median p50':>11} {'median p95':>11} {'worst p95':>10} {'max':>10}")
    rows = {}
    for label, rounds in (("idle", idle_rounds), ("sanitiser busy", busy_rounds)):
        p50 = statistics.median(statistics.median(r) for r in rounds)
        p95 = statistics.median(benchlib.percentile(r, 95) for r in rounds)
        worst = max(benchlib.percentile(r, 95) for r in rounds)
        rows[label] = (p50, p95)
        print(f"{label:26} {ms(p50):>11} {ms(p95):>11} {ms(worst):>10} {ms(max(max(r) for r in rounds)):>10}")
    names = ["queue (/)", "report page, no files", f"report page, {args.per_report} files"]
    for index, name in enumerate(names):
        for label, rounds in (("idle", idle_rounds), ("busy", busy_rounds)):
            mine = [r[index :: len(paths)] for r in rounds]
            print(f"  {name + ', ' + label:24} {ms(statistics.median(statistics.median(r) for r in mine)):>11} "
                  f"{ms(statistics.median(benchlib.percentile(r, 95) for r in mine)):>11}")
    (idle50, idle95), (busy50, busy95) = rows["idle"], rows["sanitiser busy"]
    print(f"{'ratio busy / idle':26} {busy50 / idle50:>10.2f}x {busy95 / idle95:>10.2f}x")
    for label, errors in (("idle", idle_errors), ("sanitiser busy", busy_errors)):
        if errors:
            print(f"ERRORS {label}: {len(errors)} page loads answered an error: {', '.join(sorted(set(errors)))} "
                  "(see the instance's gunicorn-triage.log with --keep)")
    within = busy95 < TARGET_P95 and not busy_errors
    print(f"Target p95 < {TARGET_P95 * 1000:.0f} ms while the sanitiser is busy: {'meets' if within else 'MISSES'} it "
          f"({ms(busy95)}).")
    return within


if __name__ == "__main__":
    sys.exit(main())
