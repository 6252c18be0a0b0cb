"""Reporter interface under gunicorn, measured from a separate load-client process.

    .venv/bin/python bench/reporter_bench.py                                    # SQLite
    .venv/bin/python bench/reporter_bench.py --database-url postgresql:///test  # PostgreSQL (schema reset first)
    .venv/bin/python bench/reporter_bench.py --quick                            # fewer samples, shorter runs

A fresh temporary instance (`portal init --dev`), then `portal serve reporter` (gunicorn,
config/gunicorn.conf.py, 2 sync workers) on a free loopback port. This process is the load
client; gunicorn's master and workers are other processes. Every figure is a wall-clock time
from sending a request to its whole response being received.

(a) landing page GET /: `wrk -t2 -c8 -d10s --latency` when wrk is installed (requests/s, p50,
    p90, p99; wrk prints no p95), and a Python client (http.client, 8 threads, new connection
    per request as gunicorn's sync workers close it anyway) for median and p95;
(b) GET /report (the form, with its one-time token): one client, sequential; and wrk;
(c) no-JavaScript submission: GET /report for a fresh token, then POST /report (multipart:
    csrf_token, draft="", the answers, an evidence part), timed from the POST's first byte to
    the receipt page (checked for `data-receipt-code`): a small report, the same with one 10 MiB
    attachment (random bytes), submissions/s with 2 concurrent clients for 15 s (without and
    with a 10 MiB file each), and a 10 MiB file sent on its own through the follow-up reply
    form (signed in with a receipt code, so no Argon2id in that request): the attachment's
    own cost;
(d) peak RSS of each gunicorn worker (VmHWM in /proc/PID/status, reset with clear_refs just
    before) while one report with 4 x 50 MiB files (200 MiB) is uploaded.

Worker CPU seconds per request (utime+stime of the workers from /proc) are printed beside
each figure: near the wall time means the figure is CPU-bound on this 2-core machine (where
the load client shares the CPUs with the server). The instance allows 30,000 submissions an
hour instead of 30 (the load client is one address) and 220 MiB per report.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from benchlib import HOST, Summary, ms  # noqa: E402

MIB = 1 << 20
RECEIPT = re.compile(rb"data-receipt-code>([^<]+)<")
WHAT_HAPPENED = (
    "On a late shift last month a sergeant on my team told a woman who had reported domestic abuse that he would "
    "'look after her case personally' and then sent her messages from his own phone late at night. He looked her up "
    "on the force systems several times after the case was closed. Two colleagues saw the messages and said nothing. "
) * 3
PEER = {"landing_rps": (318, 327), "landing_p50": 0.025, "new_reporter": 2.4, "file_10mib": 1.10}
TARGETS = {"landing_rps": 650, "submit_median": 0.5, "submit_p95": 0.8, "file_median": 0.25}


# -- multipart ------------------------------------------------------------------------------


@dataclass
class Multipart:
    """A multipart/form-data body streamed in pieces (files are generated, never held whole)."""

    fields: list[tuple[str, str]]
    files: list[tuple[str, str, int]] = field(default_factory=list)  # (field, filename, size); size 0 = empty part
    boundary: str = field(default_factory=lambda: "----bench" + uuid.uuid4().hex)

    def _head(self, name: str, filename: str | None) -> bytes:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        ctype = "Content-Type: application/octet-stream\r\n" if filename is not None else ""
        return f"--{self.boundary}\r\nContent-Disposition: {disposition}\r\n{ctype}\r\n".encode()

    def length(self) -> int:
        n = sum(len(self._head(k, None)) + len(v.encode()) + 2 for k, v in self.fields)
        n += sum(len(self._head(k, f)) + size + 2 for k, f, size in self.files)
        return n + len(f"--{self.boundary}--\r\n")

    def pieces(self, block: bytes):
        for k, v in self.fields:
            yield self._head(k, None) + v.encode() + b"\r\n"
        for k, f, size in self.files:
            yield self._head(k, f)
            left = size
            while left:
                n = min(left, len(block))
                yield block[:n]
                left -= n
            yield b"\r\n"
        yield f"--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"


def report_fields(token: str) -> list[tuple[str, str]]:
    fields = [("csrf_token", token), ("draft", ""), ("what_happened", WHAT_HAPPENED)]
    person = {"name": "Sgt John Example", "role": "Sergeant", "identifier": "PS 4417", "unit": "Response team B"}
    for i in range(3):
        for key in ("name", "role", "identifier", "unit"):
            fields.append((f"people-{i}-{key}", person[key] if i == 0 else ""))
    fields += [("when_happened", "Last month, several times"), ("where_happened", "Central station"),
               ("vulnerable_person", "yes"), ("witnesses", "Two colleagues on the same shift."), ("how_known", "saw"),
               ("category", "sexual-abuse-of-position")]
    return fields


def post_multipart(port: int, path: str, body: Multipart, block: bytes, headers: dict[str, str] | None = None,
                   timeout: float = 300) -> tuple[int, bytes, float, dict[str, str]]:
    """POST a streamed body; returns (status, response body, seconds from first byte sent to response read, headers)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.connect()
        start = time.perf_counter()
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", body.content_type)
        conn.putheader("Content-Length", str(body.length()))
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        for piece in body.pieces(block):
            conn.send(piece)
        response = conn.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - start, dict(response.getheaders())
    finally:
        conn.close()


def submit(port: int, block: bytes, files: list[tuple[str, str, int]]) -> tuple[float, float, str]:
    """GET a fresh form, POST a report; returns (POST seconds, GET+POST seconds, receipt code)."""
    start = time.perf_counter()
    status, page = benchlib.get(port, "/report")
    if status != 200:
        raise RuntimeError(f"GET /report: {status}")
    body = Multipart(report_fields(benchlib.csrf_from(page)), files or [("evidence", "", 0)])
    status, data, post_seconds, _ = post_multipart(port, "/report", body, block)
    total = time.perf_counter() - start
    match = RECEIPT.search(data)
    if status != 200 or not match:
        errors = re.findall(rb'govuk-error-message">(.*?)<', data)[:3]
        raise RuntimeError(f"POST /report: {status}, no receipt code {errors}")
    return post_seconds, total, match.group(1).decode()


# -- worker CPU -----------------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


class CpuMeter:
    def __init__(self, server: benchlib.Gunicorn) -> None:
        self.pids = server.worker_pids()
        self.start = cpu_seconds(self.pids)

    def per(self, count: int) -> float:
        return (cpu_seconds(self.pids) - self.start) / max(1, count)


# -- load helpers ---------------------------------------------------------------------------


def threaded_gets(port: int, path: str, threads: int, seconds: float) -> tuple[list[float], float, int]:
    """Closed-loop GETs from `threads` threads for `seconds`; returns (latencies, wall seconds, errors)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def run() -> None:
        mine = []
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            try:
                status, _ = benchlib.get(port, path)
            except OSError:
                status = 0
            if status == 200:
                mine.append(time.perf_counter() - t)
            else:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    start = time.perf_counter()
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return latencies, time.perf_counter() - start, errors[0]


def run_wrk(port: int, path: str, seconds: int) -> dict[str, float] | None:
    wrk = benchlib.wrk_available()
    if not wrk:
        return None
    out = subprocess.run([wrk, "-t2", "-c8", f"-d{seconds}s", "--latency", f"http://{HOST}:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    return benchlib.parse_wrk(out)


def sign_in_follow_up(port: int, code: str) -> str:
    status, page = benchlib.get(port, "/follow-up")
    body = f"csrf_token={benchlib.csrf_from(page)}&receipt_code={code.replace(' ', '+')}".encode()
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("POST", "/follow-up", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        response.read()
        cookie = response.getheader("Set-Cookie") or ""
    finally:
        conn.close()
    if response.status != 302 or "portal_followup=" not in cookie:
        raise RuntimeError(f"follow-up sign-in failed: {response.status}")
    return cookie.split(";", 1)[0]


def reply_with_file(port: int, cookie: str, block: bytes, size: int) -> float:
    status, page = benchlib.get(port, "/follow-up/case", headers={"Cookie": cookie})
    if status != 200:
        raise RuntimeError(f"GET /follow-up/case: {status}")
    body = Multipart([("csrf_token", benchlib.csrf_from(page)), ("message", "Here is the file I mentioned.")],
                     [("evidence", "evidence.bin", size)])
    status, data, seconds, headers = post_multipart(port, "/follow-up/reply", body, block, headers={"Cookie": cookie})
    if status != 302 or "sent=1" not in headers.get("Location", ""):
        raise RuntimeError(f"POST /follow-up/reply: {status}")
    return seconds


# -- phases ---------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    median: float | None
    p95: float | None
    n: int
    extra: str
    target: str
    limit: str


def measure(port: int, server: benchlib.Gunicorn, args, log) -> tuple[list[Row], dict]:
    rows: list[Row] = []
    facts: dict = {}
    block = os.urandom(4 * MIB)
    q = args.quick

    log("warming up ...")
    for _ in range(20):
        benchlib.get(port, "/")
        benchlib.get(port, "/report")
    for _ in range(2):
        submit(port, block, [])

    # (a) landing page
    log("(a) landing page: wrk ...")
    cpu = CpuMeter(server)
    wrk = run_wrk(port, "/", 5 if q else 10)
    if wrk:
        facts["wrk_landing"] = wrk
        cpu_per = cpu.per(int(wrk.get("requests", 1)))
        ratio = wrk["rps"] / TARGETS["landing_rps"]
        rows.append(Row("landing GET /, wrk -t2 -c8 (req/s)", None, None, int(wrk.get("requests", 0)),
                        f"{wrk['rps']:.0f} req/s; p50 {ms(wrk['p50'])}, p90 {ms(wrk['p90'])}, p99 {ms(wrk['p99'])}; "
                        f"{cpu_per * 1000:.2f} ms worker CPU/req; non-2xx {wrk['non2xx']:.0f}",
                        f">= 650 req/s: {ratio:.2f}x; peer 318-327: {wrk['rps'] / 322.5:.2f}x",
                        "CPU (2 workers + wrk on 2 cores): Flask/Jinja render"))
    else:
        log("    wrk is not installed (apt-get install -y wrk): skipping the wrk figure")
        rows.append(Row("landing GET /, wrk", None, None, 0, "wrk not installed: skipped", "", ""))
    log("(a) landing page: Python client, 8 threads ...")
    cpu = CpuMeter(server)
    lat, wall, errors = threaded_gets(port, "/", 8, 5 if q else 10)
    s = Summary.of(lat)
    rows.append(Row("landing GET /, Python 8 threads", s.median, s.p95, s.n,
                    f"{s.n / wall:.0f} req/s (client-bound: GIL); {cpu.per(s.n) * 1000:.2f} ms worker CPU/req; errors {errors}",
                    f"peer p50 25 ms: {s.median / PEER['landing_p50']:.2f}x", "CPU; the Python client itself"))

    # (b) the report form
    log("(b) GET /report ...")
    cpu = CpuMeter(server)
    lat = []
    for _ in range(50 if q else 200):
        t = time.perf_counter()
        status, _ = benchlib.get(port, "/report")
        lat.append(time.perf_counter() - t)
    s = Summary.of(lat)
    rows.append(Row("GET /report, one client", s.median, s.p95, s.n, f"{cpu.per(s.n) * 1000:.2f} ms worker CPU/req", "",
                    "CPU: template render, one-time token"))
    wrk = run_wrk(port, "/report", 5 if q else 10)
    if wrk:
        facts["wrk_form"] = wrk
        rows.append(Row("GET /report, wrk -t2 -c8 (req/s)", None, None, int(wrk.get("requests", 0)),
                        f"{wrk['rps']:.0f} req/s; p50 {ms(wrk['p50'])}, p90 {ms(wrk['p90'])}, p99 {ms(wrk['p99'])}", "",
                        "CPU"))

    # (c) submissions
    log("(c) no-JS submissions, small and with a 10 MiB file, alternating ...")
    cpu_small_total = cpu_file_total = 0.0
    posts, totals, codes, posts10, totals10 = [], [], [], [], []
    for i in range(10 if q else 30):
        cpu = CpuMeter(server)
        post, total, code = submit(port, block, [])
        cpu_small_total += cpu.per(1)
        posts.append(post)
        totals.append(total)
        codes.append(code)
        if i % 2 == 0:  # half as many 10 MiB submissions, interleaved so that machine noise hits both alike
            cpu = CpuMeter(server)
            post, total, _ = submit(port, os.urandom(4 * MIB), [("evidence", "evidence.bin", 10 * MIB)])
            cpu_file_total += cpu.per(1)
            posts10.append(post)
            totals10.append(total)
    cpu_small = cpu_small_total / len(posts)
    cpu_file = cpu_file_total / len(posts10)
    s, t = Summary.of(posts), Summary.of(totals)
    rows.append(Row("submit small report: POST -> receipt", s.median, s.p95, s.n,
                    f"GET+POST median {ms(t.median)}, p95 {ms(t.p95)}; {cpu_small * 1000:.0f} ms worker CPU/submission",
                    f"median < 500 ms: {s.median / TARGETS['submit_median']:.2f}x; p95 < 800 ms: "
                    f"{s.p95 / TARGETS['submit_p95']:.2f}x; peer 2.4 s: {t.median / PEER['new_reporter']:.2f}x",
                    "CPU: Argon2id t=5 m=64 MiB (receipt), HPKE wraps"))
    facts["small"] = (s, t, cpu_small)
    s10, t10 = Summary.of(posts10), Summary.of(totals10)
    rows.append(Row("submit report + 10 MiB file: POST -> receipt", s10.median, s10.p95, s10.n,
                    f"GET+POST median {ms(t10.median)}; {cpu_file * 1000:.0f} ms worker CPU/submission; file's own share "
                    f"{ms(s10.median - s.median)} wall, {(cpu_file - cpu_small) * 1000:.0f} ms CPU (differences)",
                    f"peer 1.10 s: {s10.median / PEER['file_10mib']:.2f}x; whole request vs 250 ms: {s10.median / 0.25:.2f}x",
                    "CPU: Argon2id + AES-GCM + database writes of 10 chunks"))

    log("(c) 10 MiB files through the follow-up reply form ...")
    cookie = sign_in_follow_up(port, codes[0])
    cpu = CpuMeter(server)
    replies = [reply_with_file(port, cookie, os.urandom(4 * MIB), 10 * MIB) for _ in range(5 if q else 15)]
    sr = Summary.of(replies)
    rows.append(Row("10 MiB file via reply form: POST -> 302", sr.median, sr.p95, sr.n,
                    f"{cpu.per(sr.n) * 1000:.0f} ms worker CPU/file (no Argon2id in this request)",
                    f"median < 250 ms: {sr.median / TARGETS['file_median']:.2f}x; peer 1.10 s: {sr.median / PEER['file_10mib']:.2f}x",
                    "CPU: multipart parse + AES-GCM, then database (1 MiB rows)"))

    seconds = 5 if q else 15
    file_block = os.urandom(4 * MIB)
    for label, files, limit in (
        ("submissions/s, 2 concurrent clients", [], "CPU: one Argon2id per submission per core"),
        ("submissions/s with a 10 MiB file, 2 clients", [("evidence", "evidence.bin", 10 * MIB)],
         "CPU: Argon2id + multipart parse and AES-GCM of the file, then database writes"),
    ):
        log(f"(c) throughput: {label}, for {seconds} s ...")
        st, wall, failures, cpu_each = _throughput(port, server, block if not files else file_block, files, seconds)
        rows.append(Row(label, st.median, st.p95, st.n,
                        f"{st.n / wall:.2f} submissions/s over {wall:.1f} s; {cpu_each * 1000:.0f} ms worker CPU each; "
                        f"failures {failures}", "", limit))
        facts["throughput_with_file" if files else "throughput"] = st.n / wall

    # (d) memory during a 200 MiB upload
    if not args.skip_memory:
        log("(d) 4 x 50 MiB upload, peak RSS of the workers ...")
        pids = server.worker_pids()
        base = {pid: benchlib.proc_status_kib(pid, "VmRSS") for pid in pids}
        reset = all(benchlib.reset_peak_rss(pid) for pid in pids)
        sampled = {pid: 0 for pid in pids}
        stop = threading.Event()

        def sampler() -> None:
            while not stop.is_set():
                for pid in pids:
                    sampled[pid] = max(sampled[pid], benchlib.proc_status_kib(pid, "VmRSS") or 0)
                time.sleep(0.01)

        th = threading.Thread(target=sampler)
        th.start()
        status, page = benchlib.get(port, "/report")
        body = Multipart(report_fields(benchlib.csrf_from(page)), [("evidence", f"part{i}.bin", 50 * MIB) for i in range(4)])
        status, data, seconds_big, _ = post_multipart(port, "/report", body, os.urandom(4 * MIB))
        stop.set()
        th.join()
        if status != 200 or not RECEIPT.search(data):
            errors = re.findall(rb'govuk-error-message">(.*?)<', data)[:3]
            raise RuntimeError(f"200 MiB submission failed: {status} {errors}")
        hwm = {pid: benchlib.proc_status_kib(pid, "VmHWM") for pid in pids}
        parts = []
        for pid in pids:
            peak = hwm[pid] if reset else sampled[pid]
            parts.append(f"worker {pid}: before {base[pid] / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB "
                         f"(+{(peak - base[pid]) / 1024:.0f})")
        peak_all = max((hwm[p] if reset else sampled[p]) for p in pids) / 1024
        growth = max(((hwm[p] if reset else sampled[p]) - base[p]) for p in pids) / 1024
        facts["memory"] = (peak_all, growth, seconds_big)
        rows.append(Row("200 MiB upload (4 x 50 MiB): peak worker RSS", None, None, 1,
                        f"peak {peak_all:.0f} MiB, growth {growth:.0f} MiB; upload+receipt {seconds_big:.1f} s "
                        f"({200 / seconds_big:.0f} MiB/s); " + "; ".join(parts) +
                        ("" if reset else " (sampled every 10 ms: clear_refs unavailable)"),
                        "constant memory: growth << 200 MiB",
                        "Argon2id's 64 MiB block + 1 MiB chunk buffers; time: AES-GCM + DB writes"))
    return rows, facts


def _throughput(port: int, server, block: bytes, files: list, seconds: float):
    """Two clients submitting back to back for `seconds`: (latency summary, wall time, failures, CPU each)."""
    cpu = CpuMeter(server)
    done: list[float] = []
    failures = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        while time.perf_counter() < deadline:
            try:
                post, _total, _ = submit(port, block, files)
            except (RuntimeError, OSError):
                with lock:
                    failures[0] += 1
                continue
            with lock:
                done.append(post)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - start
    return Summary.of(done), wall, failures[0], cpu.per(len(done))


def argon2_seconds() -> float:
    from portal.crypto import kdf
    from portal.crypto.receipt import generate_receipt_code, receipt_secret

    runs = []
    for _ in range(5):
        code = generate_receipt_code()
        t = time.perf_counter()
        receipt_secret(code, b"\0" * 16, kdf.RECEIPT_ARGON2)
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def print_table(rows: list[Row], header: str) -> None:
    print(f"\n{header}")
    print(f"{'figure':<46} {'n':>5} {'median':>10} {'p95':>10}  target / ratio")
    print("-" * 120)
    for r in rows:
        med = ms(r.median) if r.median is not None else "-"
        p95 = ms(r.p95) if r.p95 is not None else "-"
        print(f"{r.figure:<46} {r.n:>5} {med:>10} {p95:>10}  {r.target}")
        if r.extra:
            print(f"{'':<46}        {r.extra}")
        if r.limit:
            print(f"{'':<46}        limited by: {r.limit}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default="", help="PostgreSQL URL (default: SQLite in the temporary instance)")
    ap.add_argument("--pg-schema", default="public", help="schema to drop, recreate and use on PostgreSQL (default public)")
    ap.add_argument("--quick", action="store_true", help="fewer samples and shorter runs (a smoke test, not the figures)")
    ap.add_argument("--skip-memory", action="store_true", help="skip the 200 MiB upload")
    ap.add_argument("--keep", action="store_true", help="keep the temporary instance (path printed)")
    args = ap.parse_args()

    log = benchlib.log
    url, kind = benchlib.database_choice(args.database_url, args.pg_schema)
    machine = benchlib.machine_line()
    log("Argon2id (receipt parameters) in this process ...")
    argon = argon2_seconds()
    tmp = Path(tempfile.mkdtemp(prefix="portal-reporter-bench-"))
    instance = tmp / "instance"
    server = None
    try:
        if url:
            log(f"Resetting PostgreSQL schema {args.pg_schema} ...")
            benchlib.reset_postgres_schema(args.database_url, args.pg_schema)
        log(f"Initialising {instance} ({kind}) ...")
        benchlib.init_instance(instance, url or None, {"max_report_bytes": 220 * MIB})
        server = benchlib.Gunicorn("reporter", instance, url or None)
        ready = server.wait_ready()
        log(f"gunicorn reporter ready in {ready:.1f} s on port {server.port} (workers {server.worker_pids()})")
        rows, _facts = measure(server.port, server, args, log)
    finally:
        if server is not None:
            server.stop()
    header = (f"Reporter interface, {kind}, gunicorn 2 sync workers, loopback, load client in a separate process\n"
              f"Machine: {machine}\n"
              f"Argon2id t=5 m=64 MiB p=1 (one receipt derivation), measured in the client process while idle: "
              f"{ms(argon)}")
    print_table(rows, header)
    if args.keep:
        print(f"\nInstance kept: {instance}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
