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
import threading
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
    env["PYTHONPATH"] = str(ROOT)  # the code of this checkout, not whichever one the venv's `portal` was installed from
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


# -- slow clients (bench/slowloris_bench.py, tests/web/test_slow_clients.py) -----------------

NGINX = Path("/usr/sbin/nginx")
TLS_NAME = "report.example.org"  # server_name of the HTTPS site in config/nginx/reporter.conf


def _connect(port: int, tls: bool, timeout: float) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=timeout)
    if tls:
        import ssl

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the harness's self-signed certificate
        sock = context.wrap_socket(sock, server_hostname=TLS_NAME)
    return sock


def timed_get(port: int, path: str = "/", tls: bool = False, timeout: float = 10.0) -> tuple[int, float]:
    """(status, seconds) of one GET on a new connection; status 0 if it failed or timed out."""
    start = time.perf_counter()
    try:
        with _connect(port, tls, timeout) as sock:
            host = TLS_NAME if tls else f"{HOST}:{port}"
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0
    except (OSError, ValueError, IndexError):
        status = 0
    return status, time.perf_counter() - start


class Tricklers:
    """`count` connections that each announce a large multipart POST and then send a few bytes a second.

    One thread drives them all. For each connection it records when the server ended it (a
    response, EOF or a reset) and the response's status (0 when there was none).
    """

    def __init__(self, port: int, count: int = 50, path: str = "/report", announce: int = 10 * 1024 * 1024,
                 every: float = 1.0, piece: bytes = b"xyz", tls: bool = False) -> None:
        self.port, self.count, self.path, self.announce = port, count, path, announce
        self.every, self.piece, self.tls = every, piece, tls
        self.opened: list[float] = []
        self.ended: list[float | None] = []
        self.status: list[int] = []
        self.sent: list[int] = []
        self._stop = False
        self._thread: threading.Thread | None = None

    def start(self) -> Tricklers:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        while len(self.opened) < self.count and self._thread.is_alive():
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._stop = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def live(self) -> int:
        return sum(1 for e in self.ended if e is None)

    def _run(self) -> None:
        import select

        host = TLS_NAME if self.tls else f"{HOST}:{self.port}"
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=slow\r\n"
                f"Content-Length: {self.announce}\r\n\r\n--slow\r\nContent-Disposition: form-data; name=\"what_happened\"\r\n\r\n")
        socks: list[socket.socket | None] = []
        for _ in range(self.count):
            try:
                sock = _connect(self.port, self.tls, 10.0)
                sock.sendall(head.encode())
                sock.settimeout(0.5)
                socks.append(sock)
                self.ended.append(None)
                self.status.append(0)
            except OSError:
                socks.append(None)
                self.ended.append(time.monotonic())
                self.status.append(0)
            self.opened.append(time.monotonic())
            self.sent.append(len(head))

        def end(i: int, data: bytes = b"") -> None:
            if data.startswith(b"HTTP/1."):
                try:
                    self.status[i] = int(data.split(b" ", 2)[1])
                except (ValueError, IndexError):
                    pass
            self.ended[i] = time.monotonic()
            try:
                socks[i].close()  # type: ignore[union-attr]
            except OSError:
                pass
            socks[i] = None

        next_tick = time.monotonic()
        while not self._stop and any(s is not None for s in socks):
            now = time.monotonic()
            if now >= next_tick:
                for i, sock in enumerate(socks):
                    if sock is None:
                        continue
                    try:
                        sock.send(self.piece)
                        self.sent[i] += len(self.piece)
                    except OSError:
                        end(i)
                next_tick = now + self.every
            live = [s for s in socks if s is not None]
            try:
                readable, _, _ = select.select(live, [], [], max(0.0, min(0.2, next_tick - time.monotonic())))
            except (OSError, ValueError):
                readable = []
            for sock in readable:
                i = socks.index(sock)
                try:
                    data = sock.recv(4096)
                except (TimeoutError, BlockingIOError):
                    continue
                except OSError:
                    data = b""
                end(i, data)
        for i, sock in enumerate(socks):
            if sock is not None:
                sock.close()
                socks[i] = None


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", f"/CN={TLS_NAME}", "-addext", f"subjectAltName=DNS:{TLS_NAME}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def adapt_reporter_conf(text: str, upstream_port: int, http_port: int, https_port: int, onion_port: int,
                        workdir: Path, cert: Path, key: Path) -> str:
    """config/nginx/reporter.conf on loopback ports, with a self-signed certificate and temporary
    paths, for the nginx installed here: every directive that limits clients is kept as shipped."""
    out = text.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};")
    out = re.sub(r"^\s*listen \[::\]:\d+.*\n", "", out, flags=re.M)
    out = out.replace("listen 80 default_server;", f"listen 127.0.0.1:{http_port} default_server;")
    out = out.replace("listen 443 ssl default_server;", f"listen 127.0.0.1:{https_port} ssl default_server;")
    out = out.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    out = out.replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    out = out.replace("listen 127.0.0.1:8180 default_server;", f"listen 127.0.0.1:{onion_port} default_server;")
    out = out.replace("/etc/ssl/portal/report.example.org.fullchain.pem", str(cert))
    out = out.replace("/etc/ssl/portal/report.example.org.key", str(key))
    out = out.replace("/var/log/nginx/portal-reporter.error.log", str(workdir / "error.log"))
    out = out.replace("/run/nginx-portal-body", str(workdir / "body")).replace("/run/nginx-portal-proxy", str(workdir / "proxy"))
    return for_installed_nginx(out)


def for_installed_nginx(text: str) -> str:
    """The two substitutions the note at the top of config/nginx/reporter.conf gives for older builds."""
    version = subprocess.run([str(NGINX), "-v"], capture_output=True, text=True).stderr
    m = re.search(r"nginx/(\d+)\.(\d+)", version)
    if m and (int(m.group(1)), int(m.group(2))) < (1, 25):
        text = text.replace("http2 on;", "")
    import ssl

    if ssl.OPENSSL_VERSION_INFO < (3, 5):
        text = text.replace("ssl_ecdh_curve X25519MLKEM768:", "ssl_ecdh_curve ")
    return text


class Nginx:
    """nginx (/usr/sbin/nginx) with config/nginx/reporter.conf adapted to loopback, in front of `upstream_port`."""

    def __init__(self, upstream_port: int, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        cert, key = self_signed_certificate(workdir)
        self.http_port, self.https_port, self.onion_port = free_port(), free_port(), free_port()
        site = adapt_reporter_conf((ROOT / "config" / "nginx" / "reporter.conf").read_text(), upstream_port,
                                   self.http_port, self.https_port, self.onion_port, workdir, cert, key)
        (workdir / "reporter.conf").write_text(site)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        (workdir / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {workdir}/nginx.pid;\nerror_log {workdir}/error.log crit;\n"
            f"events {{ worker_connections 1024; }}\nhttp {{\n  access_log off;\n  include {workdir}/reporter.conf;\n}}\n")
        self.log = open(workdir / "nginx.out", "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen([str(NGINX), "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-e",
                                      str(workdir / "error.log")], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {(workdir / 'nginx.out').read_text()}")
            if timed_get(self.https_port, "/healthz", tls=True, timeout=2)[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError("nginx did not answer")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
