"""What the benchmark scripts share: a fresh instance, gunicorn in its own process
group, PostgreSQL schema resets, worker memory, and percentiles.

Not a test helper and not imported by the portal: only bench/*.py use it.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PORTAL = VENV_BIN / "portal"
HOST = "127.0.0.1"


# -- numbers ------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


@dataclass
class Summary:
    n: int
    median: float
    p95: float
    minimum: float
    maximum: float

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        if not values:
            return cls(0, float("nan"), float("nan"), float("nan"), float("nan"))
        return cls(len(values), statistics.median(values), percentile(values, 95), min(values), max(values))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def machine_line() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({cpu}), load average {load} at start"


# -- databases ----------------------------------------------------------------------------


def with_schema(url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections use `schema` (search_path), so a benchmark
    does not share tables with a test run on the same database."""
    if schema == "public":
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=" + urllib.parse.quote(f"-csearch_path={schema}", safe="")


def log(msg: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(msg, file=sys.stderr, flush=True)


def database_choice(database_url: str, pg_schema: str) -> tuple[str, str]:
    """(URL with the schema on its search_path, or "" for SQLite; "PostgreSQL" or "SQLite")."""
    url = with_schema(database_url, pg_schema) if database_url else ""
    return url, ("PostgreSQL" if url else "SQLite")


def reset_postgres_schema(url: str, schema: str) -> None:
    """DROP SCHEMA ... CASCADE and CREATE it again (empty), as the test suite does for public."""
    from sqlalchemy import text

    from portal.db import make_engine

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
        raise SystemExit(f"--pg-schema must be a plain lower-case identifier, not {schema!r}")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()


# -- instance and server ------------------------------------------------------------------


@dataclass
class Credentials:
    login: str
    passphrase: str
    totp_secret: str


def portal_env(instance: Path, database_url: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env["PORTAL_INSTANCE_DIR"] = str(instance)
    if database_url:
        env["PORTAL_DATABASE_URL"] = database_url
    env.update(extra or {})
    return env


def init_instance(instance: Path, database_url: str | None, settings: dict[str, object] | None = None) -> Credentials:
    """`portal init --dev` into a new directory; optional <instance>/portal.toml settings first."""
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    if settings:
        lines = []
        for key, value in settings.items():
            lines.append(f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"')
        (instance / "portal.toml").write_text("\n".join(lines) + "\n")
    out = subprocess.run([str(PORTAL), "init", "--dev", "--instance", str(instance)], env=portal_env(instance, database_url),
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    found = dict(re.findall(r"^(Reviewer login|Passphrase|TOTP secret): (.+)$", out, re.M))
    return Credentials(found["Reviewer login"], found["Passphrase"], found["TOTP secret"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Gunicorn:
    """`portal serve KIND` (gunicorn, config/gunicorn.conf.py) on a free loopback port."""

    def __init__(self, kind: str, instance: Path, database_url: str | None, workers: int = 2,
                 extra_env: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.port = free_port()
        env = portal_env(instance, database_url, {"PORTAL_BIND": f"{HOST}:{self.port}", "PORTAL_WORKERS": str(workers),
                                                   **(extra_env or {})})
        self.log = open(instance / f"gunicorn-{kind}.log", "wb")  # noqa: SIM115 (closed in stop())
        # `portal serve` execs gunicorn: this pid is the gunicorn master.
        self.proc = subprocess.Popen([str(PORTAL), "serve", kind, "--instance", str(instance)], env=env, cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.workers = workers

    def wait_ready(self, timeout: float = 60.0) -> float:
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log.name}")
            try:
                status, _ = get(self.port, "/readyz", timeout=2)
                if status == 200 and len(self.worker_pids()) >= self.workers:
                    return time.perf_counter() - start
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not become ready")

    def worker_pids(self) -> list[int]:
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(c) for c in children]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # gunicorn master: graceful stop of its workers
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group we created with start_new_session
                self.proc.wait()
        self.log.close()


def proc_status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0, `echo 5 > /proc/PID/clear_refs`)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# -- HTTP ---------------------------------------------------------------------------------


def get(port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


CSRF = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(page: bytes) -> str:
    match = CSRF.search(page)
    if not match:
        raise RuntimeError("page has no csrf_token")
    return match.group(1).decode()


def wrk_available() -> str | None:
    from shutil import which

    return which("wrk")


def parse_wrk(text: str) -> dict[str, float]:
    """requests/s and the latency distribution lines of `wrk --latency`."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}

    def seconds(value: str) -> float:
        m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
        return float(m.group(1)) * units[m.group(2)] if m else float("nan")

    out: dict[str, float] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    for q in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{q}%\s+(\S+)", text, re.M)
        if m:
            out[f"p{q}"] = seconds(m.group(1))
    m = re.search(r"(\d+) requests in", text)
    if m:
        out["requests"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non2xx"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Socket errors: (.+)", text)
    out["socket_errors"] = 1.0 if m else 0.0
    return out
