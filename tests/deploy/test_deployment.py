"""docs/operations.md, followed as written, on one machine (issue #20).

The command blocks the guide marks `<!-- deploy: NAME -->` are extracted and run with bash, with
only these substitutions (`Host.rewrite`): each host's paths under a temporary directory of its
own (/srv/portal, /etc/portal, /usr/local/sbin, /var/backups, /root), the checkout, the database
URL, role and database names (unique per run), the Redis URL, the loopback ports, and the owner's
password. Two instance directories (reporter and triage host), PostgreSQL roles with the guide's
grants, `portal serve reporter|triage` started as the shipped systemd units say (their
EnvironmentFile= and ExecStart=) under the shipped gunicorn config, and the shipped nginx
configurations with a self-signed certificate on loopback ports. Then, through nginx: a no-JS
report, a reviewer's TOTP sign-in and the report read, TLS 1.3 only on both sites, Secure cookies,
the headers, plain HTTP redirecting only; the checklist's file modes; backup and restore into a fresh database, break-glass recovery with the key file
(offline and live), an upgrade from the previous release's schema that keeps the deadlines, and
what the reporter and application roles are refused.

What it cannot check: it runs as root without a `portal` user, so `runuser -u portal` becomes
`runuser -u root` and `install -o portal -g portal` loses its owner (modes are kept).

Needs nginx (/usr/sbin/nginx), openssl, psql, a PostgreSQL URL whose user may create roles and
databases (PORTAL_TEST_DATABASE_URL), and Redis if PORTAL_TEST_REDIS_URL is set. Skips with the
reason when something is missing, except under CI=true (.ci/run), where it fails instead.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from support import csrf_from, receipt_from

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import benchlib  # noqa: E402

GUIDE = ROOT / "docs" / "operations.md"
NGINX = Path("/usr/sbin/nginx")
PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"
REPORT_NAME, TRIAGE_NAME = "report.example.org", "triage.portal.internal"
ACKNOWLEDGE_DAYS = 3  # the operator's choice, not the default (7): an upgrade must keep it
WHAT_HAPPENED = "DEPLOY-TEST: the sergeant on response team B keeps asking a witness for a drink."
FIRST_PASSPHRASE = "harbour-violet-copper-lantern-91"
RECOVERY_PASSPHRASE = "first holder half + second holder half"
OWN_PASSPHRASE = "meadow-quartz-falcon-ember-orbit-27"
pytestmark = pytest.mark.slow


def _missing() -> str | None:
    if not NGINX.exists():
        return "nginx is not installed (/usr/sbin/nginx); .ci/run installs it"
    for tool in ("openssl", "psql", "runuser"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not PG_URL.startswith("postgresql"):
        return "PORTAL_TEST_DATABASE_URL is not a PostgreSQL URL (.ci/run sets postgresql:///test)"
    try:
        engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as connection:
            if not connection.scalar(text("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")):
                return "the PostgreSQL user of PORTAL_TEST_DATABASE_URL cannot create roles"
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 (any failure to connect is a reason to skip)
        return f"PostgreSQL at PORTAL_TEST_DATABASE_URL is not reachable: {type(exc).__name__}"
    return None


# -- the guide's blocks -------------------------------------------------------------------------


def guide_blocks() -> dict[str, tuple[str, str]]:
    found = re.findall(r"<!-- deploy: (\S+) -->\n```(\w+)\n(.*?)```\n", GUIDE.read_text("utf-8"), re.S)
    blocks = {name: (lang, body) for name, lang, body in found}
    assert len(blocks) == len(found), "two blocks share a name"
    return blocks


def test_the_guide_marks_every_block_this_test_runs():
    """Runs everywhere (no services needed): a renamed or removed block fails here first."""
    assert set(guide_blocks()) == {"check-install", "triage-files", "triage-wrapper", "triage-init", "reporter-setup",
                                   "recovery-keygen", "ceremony", "reviewer", "backup-dir", "roles", "owner-upgrade", "grants", "backup",
                                   "restore", "break-glass", "pin-signer"}


@dataclass
class Database:
    name: str
    tag: str

    def role(self, role: str) -> str:
        return f"{role}_{self.tag}"

    def url(self, role: str, database: str | None = None) -> str:
        base = make_url(PG_URL)
        return base.set(username=self.role(role), password=None, database=database or self.name).render_as_string(hide_password=False)

    def superuser_url(self, database: str | None = None) -> str:
        return make_url(PG_URL).set(database=database or self.name).render_as_string(hide_password=False)


@dataclass
class Host:
    """One simulated host: the guide's absolute paths live under `root`."""

    name: str
    root: Path
    db: Database
    bind_port: int
    work: Path
    run_as: str = field(default_factory=lambda: "root" if os.geteuid() == 0 else "")

    def __post_init__(self) -> None:
        """What an empty host has already: /usr/local/sbin, /etc, /var/backups, /root."""
        for sub in ("sbin", "etc", "var/backups", "root"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "root").chmod(0o700)

    def rewrite(self, body: str, extra: dict[str, str] | None = None) -> str:
        def database_url(match: re.Match) -> str:
            return self.db.url(match.group(1))

        out = re.sub(r"postgresql://(portal_\w+)@db\.internal:5432/portal\?sslmode=verify-full&sslrootcert=/etc/portal/db-ca\.pem",
                     database_url, body)
        out = out.replace("redis://:<redis password>@127.0.0.1:6379/0", REDIS_URL)
        out = re.sub(r'PORTAL_BIND="127\.0\.0\.1:808[01]"', f'PORTAL_BIND="127.0.0.1:{self.bind_port}"', out)
        out = out.replace("/opt/portal", str(ROOT))
        for path in ("/srv/portal", "/etc/portal", "/var/backups/portal", "/root/"):
            out = out.replace(path, f"{self.root}{path}")
        out = out.replace("/usr/local/sbin/", f"{self.root}/sbin/")
        out = out.replace("/tmp/bg", str(self.work / "offline" / "bg"))
        out = out.replace("/media/", f"{self.work}/media/")
        out = out.replace("-o root -g root ", "").replace("-o portal -g portal ", "")
        out = out.replace("runuser -u portal -- ", f"runuser -u {self.run_as} -- " if self.run_as else "")
        for old, new in (extra or {}).items():
            out = out.replace(old, new)
        return out

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "PG"))}
        env["PATH"] = f"{self.root}/sbin:{env.get('PATH', '/usr/bin:/bin')}"
        return env

    def sh(self, name: str, stdin: str = "", extra: dict[str, str] | None = None) -> str:
        lang, body = guide_blocks()[name]
        assert lang == "sh", name
        script = self.rewrite(body, extra)
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], input=stdin, capture_output=True, text=True,
                                env=self.env(), cwd=self.work, timeout=300, start_new_session=True)  # no tty: prompts read stdin
        assert result.returncode == 0, f"block {name} failed ({result.returncode}):\n{script}\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr

    def portal(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        """A command through this host's wrapper (portal-triage / portal-reporter), as the guide runs them."""
        return subprocess.run([str(self.root / "sbin" / f"portal-{self.name}"), *args], input=stdin, capture_output=True,
                              text=True, env=self.env(), cwd=self.work, timeout=300, start_new_session=True)

    @property
    def instance(self) -> Path:
        return self.root / "srv" / "portal" / "instance"

    def edit_settings(self) -> None:
        """What the guide tells the operator to edit after copying the shipped examples."""
        for path in (self.root / "etc" / "portal" / f"{self.name}.env", self.instance / "portal.toml"):
            path.write_text(self.rewrite(path.read_text()).replace("acknowledge_days = 7", f"acknowledge_days = {ACKNOWLEDGE_DAYS}"))


def psql(db: Database, body: str, database: str | None = None) -> None:
    result = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", db.superuser_url(database)], input=body,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{body}\n{result.stderr}"


def sql_block(db: Database, name: str, database: str | None = None, without_roles: bool = False) -> None:
    lang, body = guide_blocks()[name]
    assert lang == "sql", name
    body = re.sub(r"\bportal_(owner|app|reporter)\b", lambda m: db.role(m.group(0)), body)
    body = body.replace("DATABASE portal", f"DATABASE {db.name}").replace("\\c portal", f"\\c {db.name}")
    if without_roles:  # a second database for roles that exist already
        body = "\n".join(line for line in body.splitlines() if not line.startswith("CREATE ROLE"))
    psql(db, body, database or make_url(PG_URL).database)


# -- HTTPS through nginx ------------------------------------------------------------------------


class Site:
    """A browser-ish HTTPS client for one site name on a loopback port: SNI and Host are the name,
    cookies are kept, and every Set-Cookie is recorded."""

    def __init__(self, port: int, name: str, set_cookies: list[str]) -> None:
        self.port, self.name, self.set_cookies = port, name, set_cookies
        self.cookies: dict[str, str] = {}
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE

    def request(self, method: str, path: str, body: bytes = b"", content_type: str = "") -> tuple[int, dict[str, str], bytes]:
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as raw, \
                self.context.wrap_socket(raw, server_hostname=self.name) as sock:
            headers = [f"{method} {path} HTTP/1.1", f"Host: {self.name}", "Connection: close", "User-Agent: deploy-test",
                       f"Sec-Fetch-Site: {'same-origin' if method == 'POST' else 'none'}"]
            if method == "POST":
                headers += [f"Origin: https://{self.name}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
            if self.cookies:
                headers.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
            sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode() + body)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, payload = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        response_headers: dict[str, str] = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            if key.lower() == "set-cookie":
                self.set_cookies.append(value.strip())
                name, _, rest = value.strip().partition("=")
                cookie_value = rest.split(";", 1)[0]
                if cookie_value and "Max-Age=0" not in rest and "expires=Thu, 01 Jan 1970" not in rest:
                    self.cookies[name] = cookie_value
                else:
                    self.cookies.pop(name, None)
            response_headers[key.lower()] = value.strip()
        if response_headers.get("transfer-encoding") == "chunked":
            payload = _dechunk(payload)
        return status, response_headers, payload

    def get(self, path: str):
        return self.request("GET", path)

    def post_form(self, path: str, fields: dict[str, str]):
        boundary = "deploy" + uuid.uuid4().hex
        body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items())
        return self.request("POST", path, body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}")


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2:]
    return out


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", f"/CN={REPORT_NAME}", "-addext", f"subjectAltName=DNS:{REPORT_NAME},DNS:{TRIAGE_NAME}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def _triage_conf(text_: str, upstream: int, http_port: int, https_port: int, workdir: Path, cert: Path, key: Path) -> str:
    out = text_.replace("server 127.0.0.1:8081;", f"server 127.0.0.1:{upstream};")
    out = out.replace("listen 10.20.30.40:80;", f"listen 127.0.0.1:{http_port};")
    out = out.replace("listen 10.20.30.40:443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    out = out.replace("allow 10.20.40.0/24;", "allow 127.0.0.1;")  # the reviewers' network
    out = out.replace(f"/etc/ssl/portal/{TRIAGE_NAME}.fullchain.pem", str(cert)).replace(f"/etc/ssl/portal/{TRIAGE_NAME}.key", str(key))
    out = out.replace("/var/log/nginx/portal-triage.error.log", str(workdir / "error.log"))
    out = out.replace("/run/nginx-portal-body", str(workdir / "body")).replace("/run/nginx-portal-proxy", str(workdir / "proxy"))
    return benchlib.for_installed_nginx(out)


class Nginx:
    def __init__(self, workdir: Path, reporter_upstream: int, triage_upstream: int) -> None:
        workdir.mkdir(parents=True)
        cert, key = _certificate(workdir)
        self.report_port, self.triage_port = benchlib.free_port(), benchlib.free_port()
        self.report_http_port, self.triage_http_port = benchlib.free_port(), benchlib.free_port()
        reporter = benchlib.adapt_reporter_conf((ROOT / "config" / "nginx" / "reporter.conf").read_text(), reporter_upstream,
                                                self.report_http_port, self.report_port, benchlib.free_port(), workdir, cert, key)
        triage = _triage_conf((ROOT / "config" / "nginx" / "triage.conf").read_text(), triage_upstream, self.triage_http_port,
                              self.triage_port, workdir, cert, key)
        (workdir / "reporter.conf").write_text(reporter)
        (workdir / "triage.conf").write_text(triage)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        (workdir / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {workdir}/nginx.pid;\nerror_log {workdir}/error.log crit;\n"
            f"events {{ worker_connections 256; }}\nhttp {{\n  access_log off;\n  include {workdir}/reporter.conf;\n"
            f"  include {workdir}/triage.conf;\n}}\n")
        test = subprocess.run([str(NGINX), "-t", "-p", str(workdir), "-c", str(workdir / "nginx.conf")], capture_output=True, text=True)
        assert test.returncode == 0, test.stderr
        self.log = open(workdir / "nginx.out", "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen([str(NGINX), "-p", str(workdir), "-c", str(workdir / "nginx.conf")], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class Service:
    """`portal serve KIND` as config/systemd/portal-KIND.service starts it: its EnvironmentFile= and ExecStart=."""

    def __init__(self, host: Host) -> None:
        unit = (ROOT / "config" / "systemd" / f"portal-{host.name}.service").read_text()
        env_file = Path(host.rewrite(re.search(r"^EnvironmentFile=(.+)$", unit, re.M).group(1)))
        exec_start = host.rewrite(re.search(r"^ExecStart=(.+)$", unit, re.M).group(1)).split()
        env = host.env()
        for line in env_file.read_text().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                env[key] = value.strip('"')
        runtime = host.root / "run" / f"portal-{host.name}"
        runtime.mkdir(parents=True, mode=0o700)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        self.port = host.bind_port
        self.log = open(host.root / f"{host.name}.log", "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(exec_start, env=env, cwd="/", stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, umask=0o077)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"gunicorn exited; see {self.log.name}"
            try:
                if benchlib.get(self.port, "/readyz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("gunicorn did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


@dataclass
class Deployment:
    work: Path
    db: Database
    triage: Host
    reporter: Host
    nginx: Nginx
    report_site: Site
    triage_site: Site
    totp_secret: str
    set_cookies: list[str]
    facts: dict = field(default_factory=dict)

    def scalar(self, sql: str, role: str | None = None, database: str | None = None):
        url = self.db.url(role, database) if role else self.db.superuser_url(database)
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.begin() as connection:
                result = connection.execute(text(sql))
                return result.scalar() if result.returns_rows else None
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def deployment():
    reason = _missing()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true but the deployment test cannot run: {reason}")
        pytest.skip(reason)
    work = Path(tempfile.mkdtemp(prefix="portal-deploy-"))
    tag = secrets.token_hex(4)
    db = Database(f"portal_deploy_{tag}", tag)
    triage = Host("triage", work / "triage-host", db, benchlib.free_port(), work)
    reporter = Host("reporter", work / "reporter-host", db, benchlib.free_port(), work)
    services: list[Service] = []
    nginx = None
    try:
        # Checklist steps 2-8, in the guide's order.
        triage.sh("check-install")
        triage.sh("triage-files")
        triage.edit_settings()
        triage.sh("triage-wrapper")
        sql_block(db, "roles")
        triage.sh("owner-upgrade", stdin="owner-password\n")
        assert not (triage.root / "root" / "portal-owner.pgpass").exists()
        sql_block(db, "grants", database=db.name)
        triage.sh("triage-init")
        reporter.sh("reporter-setup", extra={"portal-reporter init --app reporter": ":"})
        reporter.edit_settings()
        reporter_init = reporter.portal("init", "--app", "reporter")
        reporter_init.check_returncode()
        signing_key = re.search(r"pin-report-signer (\S+)", reporter_init.stdout).group(1)
        triage.sh("pin-signer", extra={"REPORTER-SIGNING-KEY": signing_key})  # step 8, the triage host pins it
        shutil.copytree(triage.instance / "secrets", work / "media" / "secrets-a" / "triage")  # step 9
        (work / "media" / "recovery-a").mkdir(parents=True)
        (work / "media" / "transfer").mkdir(parents=True)
        for host in (triage, reporter):  # step 11, as the units start them
            services.append(Service(host))
        for service in services:
            service.wait_ready()
        triage.sh("recovery-keygen", stdin=f"{RECOVERY_PASSPHRASE}\n{RECOVERY_PASSPHRASE}\n")  # step 12, offline
        triage.sh("ceremony", stdin="y\n")  # step 12, on the triage host
        out = triage.sh("reviewer", stdin=f"{FIRST_PASSPHRASE}\n{FIRST_PASSPHRASE}\n")  # step 13
        totp_secret = re.search(r"TOTP secret: (\S+)", out).group(1)
        triage.sh("backup-dir")  # step 14
        nginx = Nginx(work / "nginx", reporter.bind_port, triage.bind_port)
        set_cookies: list[str] = []
        deployment = Deployment(work, db, triage, reporter, nginx, Site(nginx.report_port, REPORT_NAME, set_cookies),
                                Site(nginx.triage_port, TRIAGE_NAME, set_cookies), totp_secret, set_cookies)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if deployment.report_site.get("/healthz")[0] == 200 and deployment.triage_site.get("/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield deployment
    finally:
        if nginx is not None:
            nginx.stop()
        for service in services:
            service.stop()
        psql(db, f"DROP DATABASE IF EXISTS {db.name} WITH (FORCE);\nDROP DATABASE IF EXISTS {db.name}_restored WITH (FORCE);\n"
                 + "".join(f"DROP ROLE IF EXISTS {db.role(r)};\n" for r in ("portal_owner", "portal_app", "portal_reporter")),
             make_url(PG_URL).database)
        if REDIS_URL:
            import redis

            redis.Redis.from_url(REDIS_URL).flushdb()
        shutil.rmtree(work, ignore_errors=True)


# -- the checks, in the order an operator going live would make them -----------------------------


def _tls(port: int, name: str, version: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", name, f"-{version}"],
                          input="", capture_output=True, text=True, timeout=30)


def test_tls_1_3_only_on_both_sites(deployment):
    for port, name in ((deployment.nginx.report_port, REPORT_NAME), (deployment.nginx.triage_port, TRIAGE_NAME)):
        modern = _tls(port, name, "tls1_3")
        assert modern.returncode == 0 and "TLSv1.3" in modern.stdout, (name, modern.stdout[-1500:], modern.stderr[-500:])
        old = _tls(port, name, "tls1_2")
        assert old.returncode != 0, (name, "TLS 1.2 was accepted", old.stdout[-1500:])
    # The reporter host's catch-all refuses any other name outright.
    assert _tls(deployment.nginx.report_port, "other.example", "tls1_3").returncode != 0


def test_a_no_javascript_report_and_a_reviewer_reads_it(deployment):
    site = deployment.report_site
    status, _, page = site.get("/report")
    assert status == 200
    fields = {"csrf_token": csrf_from(page), "draft": "", "what_happened": WHAT_HAPPENED, "people-0-name": "Sgt Deploy Example",
              "people-0-identifier": "PS 4417", "category": "sexual-abuse-of-position"}
    status, _, page = site.post_form("/report", fields)
    assert status == 200, page[-2000:]
    deployment.facts["code"] = receipt_from(page)
    # The reporter follows up with the code: the first cookie the reporter site ever sets.
    status, _, page = site.get("/follow-up")
    status, headers, page = site.post_form("/follow-up", {"csrf_token": csrf_from(page), "receipt_code": deployment.facts["code"]})
    assert status == 302, page[-1500:]
    assert any(c.startswith("portal_") for c in site.cookies), site.cookies
    status, _, page = site.get("/follow-up/case")
    assert status == 200 and WHAT_HAPPENED.encode() in page

    triage = deployment.triage_site
    status, _, page = triage.get("/login")
    assert status == 200
    status, headers, page = triage.post_form("/login", {"csrf_token": csrf_from(page), "login": "lead1", "passphrase": FIRST_PASSPHRASE})
    assert status == 302 and headers["location"].endswith("/login/code"), page[-1500:]
    status, _, page = triage.get("/login/code")
    assert status == 200
    code = pyotp.TOTP(deployment.totp_secret).now()
    status, headers, page = triage.post_form("/login/code", {"csrf_token": csrf_from(page), "code": code})
    assert status == 302 and headers["location"].endswith("/account"), page[-1500:]  # must choose their own passphrase
    status, _, page = triage.get("/account")
    status, _, page = triage.post_form("/account", {"csrf_token": csrf_from(page), "current": FIRST_PASSPHRASE,
                                                    "new": OWN_PASSPHRASE, "confirm": OWN_PASSPHRASE})
    assert status in (200, 302), page[-1500:]
    status, _, page = triage.get("/")
    assert status == 200
    references = re.findall(rb'href="/reports/(R-[A-Z0-9-]+)"', page)
    assert references, page[-2000:]
    reference = references[0].decode()
    status, _, page = triage.get(f"/reports/{reference}")
    assert status == 200 and WHAT_HAPPENED.encode() in page, page[-2000:]
    deployment.facts["reference"] = reference


def test_every_cookie_is_secure_and_the_headers_are_there(deployment):
    assert deployment.set_cookies, "no cookie was set: the journey above did not run"
    assert deployment.report_site.cookies and deployment.triage_site.cookies  # both sites set theirs
    for cookie in deployment.set_cookies:
        assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
    for site, path in ((deployment.report_site, "/"), (deployment.triage_site, "/login")):
        status, headers, _ = site.get(path)
        assert status == 200
        assert headers["strict-transport-security"].startswith("max-age=63072000"), headers
        assert "default-src 'none'" in headers["content-security-policy"] or "default-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "no-store" in headers["cache-control"]
        assert headers["server"] == "nginx"  # server_tokens off: no version
        assert "x-frame-options" in headers or "frame-ancestors 'none'" in headers["content-security-policy"]
    assert deployment.report_site.get("/")[1]["onion-location"].startswith("http://")


def test_files_and_modes_are_those_of_the_checklist(deployment):
    """The modes the checklist's table states (owners are not checked: this test runs as root)."""
    from portal.instance import SECRETS

    expected = {
        "etc/portal": 0o755, "sbin/portal-{name}": 0o700, "etc/portal/{name}.env": 0o600, "srv/portal": 0o700,
        "srv/portal/instance": 0o700, "srv/portal/instance/portal.toml": 0o600, "srv/portal/instance/secrets": 0o700,
        "srv/portal/pgpass": 0o600,
    }
    for host in (deployment.triage, deployment.reporter):
        for path, mode in expected.items():
            found = (host.root / path.format(name=host.name)).stat().st_mode & 0o777
            assert found == mode, f"{host.name}: {path} is {found:o}, the checklist says {mode:o}"
        secrets_dir = host.instance / "secrets"
        assert sorted(p.name for p in secrets_dir.iterdir()) == sorted(n for n, kind in SECRETS.items() if kind == host.name)
        assert {p.stat().st_mode & 0o777 for p in secrets_dir.iterdir()} == {0o600}
    assert (deployment.triage.root / "var" / "backups" / "portal").stat().st_mode & 0o777 == 0o700
    key = deployment.work / "media" / "recovery-a" / "portal-recovery.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert not (deployment.triage.instance / "dev-recovery-key.txt").exists()


def test_plain_http_only_redirects(deployment):
    status, headers, _ = _http_get(deployment.nginx.report_http_port, REPORT_NAME, "/report")
    assert status == 301 and headers["location"] == f"https://{REPORT_NAME}/report"
    status, headers, _ = _http_get(deployment.nginx.triage_http_port, TRIAGE_NAME, "/login")
    assert status == 301 and headers["location"] == f"https://{TRIAGE_NAME}/login"


def _http_get(port: int, name: str, path: str) -> tuple[int, dict[str, str], bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": name})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_what_the_reporter_role_and_the_application_role_are_refused(deployment):
    refused_reporter = [
        "SELECT count(*) FROM audit_log",
        "SELECT passphrase_hash FROM reviewers LIMIT 1",
        "SELECT sealed_totp_secret FROM reviewers LIMIT 1",
        "SELECT count(*) FROM internal_notes",
        "SELECT count(*) FROM subject_index",
        "SELECT count(*) FROM reviewer_conflicts",
        "INSERT INTO recovery_keys (fingerprint, public_key, active) VALUES ('x', '\\x00', true)",
        "UPDATE reviewers SET receives_new_reports = true",
        "UPDATE key_wraps SET wrap = wrap",
        "DELETE FROM key_wraps",
        "DELETE FROM reports",
        "UPDATE reports SET stage = 'closed'",
    ]
    for statement in refused_reporter:
        with pytest.raises(Exception, match="permission denied"):
            deployment.scalar(statement, role="portal_reporter")
    assert deployment.scalar("SELECT count(*) FROM reports", role="portal_reporter") >= 0  # it can do its own work
    for statement in ("DELETE FROM audit_log", "TRUNCATE audit_log", "ALTER TABLE audit_log DISABLE TRIGGER ALL",
                      "DROP TABLE audit_log"):
        with pytest.raises(Exception, match="permission denied|must be owner"):
            deployment.scalar(statement, role="portal_app")
    with pytest.raises(Exception, match="append-only"):
        deployment.scalar("UPDATE audit_log SET action = 'x'", role="portal_app")


def test_backup_then_restore_into_a_fresh_database(deployment):
    out = deployment.triage.sh("backup")
    archives = list((deployment.triage.root / "var" / "backups" / "portal").glob("portal-*.bin"))
    assert len(archives) == 1, out
    assert archives[0].stat().st_mode & 0o777 == 0o600
    media = deployment.work / "media" / "archive"
    media.mkdir(parents=True)
    shutil.copy(archives[0], media / "portal-2026-01-31.bin")
    deployment.facts["archive"] = archives[0]

    # A replacement triage host: the same settings, the secrets from the offline backup, an empty database.
    restored_db = Database(f"{deployment.db.name}_restored", deployment.db.tag)
    host = Host("triage", deployment.work / "restored-host", restored_db, benchlib.free_port(), deployment.work)
    host.sh("triage-files")
    host.edit_settings()
    host.sh("triage-wrapper")
    shutil.copytree(deployment.work / "media" / "secrets-a" / "triage", host.instance / "secrets")
    sql_block(restored_db, "roles", without_roles=True)
    host.sh("owner-upgrade", stdin="owner-password\n")
    sql_block(restored_db, "grants", database=restored_db.name)
    backups = host.root / "var" / "backups" / "portal"
    backups.mkdir(parents=True)
    shutil.copy(archives[0], backups / "portal-2026-01-31.bin")
    out = host.sh("restore")
    assert "Audit log intact" in out, out
    for table in ("reports", "key_wraps", "reviewers", "recovery_keys", "audit_log", "blobs"):
        assert deployment.scalar(f"SELECT count(*) FROM {table}") == deployment.scalar(
            f"SELECT count(*) FROM {table}", database=restored_db.name), table


def test_break_glass_with_the_key_file_offline_and_on_the_live_host(deployment):
    reference = deployment.facts["reference"]
    out = deployment.triage.sh("break-glass", extra={"R-XXXX-XXXX": reference}, stdin=RECOVERY_PASSPHRASE + "\n")
    assert WHAT_HAPPENED in out and "No audit entry written" in out, out
    before = deployment.scalar("SELECT count(*) FROM audit_log WHERE action = 'report.recovered'")
    result = deployment.triage.portal("keys", "recover", "--key-file",
                                      str(deployment.work / "media" / "recovery-a" / "portal-recovery.key"), reference,
                                      stdin=RECOVERY_PASSPHRASE + "\n")
    assert result.returncode == 0 and WHAT_HAPPENED in result.stdout, result.stderr
    assert deployment.scalar("SELECT count(*) FROM audit_log WHERE action = 'report.recovered'") == before + 1
    verify = deployment.triage.portal("audit", "verify")
    assert verify.returncode == 0 and "intact" in verify.stdout, verify.stderr
    audited = {json.loads(d)["reviewer"] if a == "reviewer.created" else a
               for a, d in _rows(deployment, "SELECT action, detail FROM audit_log WHERE actor = 'cli'")}
    assert {"lead1", "recovery-key.registered", "report.recovered"} <= audited


def _rows(deployment, sql: str) -> list[tuple]:
    engine = create_engine(deployment.db.superuser_url().replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(sql))]
    finally:
        engine.dispose()


def test_an_upgrade_from_the_previous_release_keeps_the_deadlines(deployment):
    from alembic import command
    from alembic.script import ScriptDirectory

    from portal.migrate import alembic_config

    received = deployment.scalar(f"SELECT received_on FROM reports WHERE reference = '{deployment.facts['reference']}'")
    expected = received + dt.timedelta(days=ACKNOWLEDGE_DAYS)
    assert deployment.scalar(f"SELECT due_on FROM reports WHERE reference = '{deployment.facts['reference']}'") == expected
    # The database as the previous release left it (schema 0002), deadlines from its defaults.
    owner_url = deployment.db.url("portal_owner").replace("postgresql://", "postgresql+psycopg://", 1)
    command.downgrade(alembic_config(owner_url), "0002")
    deployment.scalar("UPDATE reports SET due_on = received_on + 7")
    deployment.triage.sh("owner-upgrade", stdin="owner-password\n")
    sql_block(deployment.db, "grants", database=deployment.db.name)
    head = ScriptDirectory.from_config(alembic_config(owner_url)).get_current_head()
    assert deployment.scalar("SELECT version_num FROM alembic_version") == head
    assert deployment.scalar(f"SELECT due_on FROM reports WHERE reference = '{deployment.facts['reference']}'") == expected
    assert not (deployment.triage.root / "root" / "portal-owner.pgpass").exists()
    # The portal still works after the upgrade, through nginx. Migration 0008 signed every reviewer
    # out (their sessions could not be attributed): sign in again, with the next TOTP code.
    status, _, _ = deployment.triage_site.get(f"/reports/{deployment.facts['reference']}")
    assert status == 302
    triage = deployment.triage_site
    status, _, page = triage.get("/login")
    status, headers, page = triage.post_form("/login", {"csrf_token": csrf_from(page), "login": "lead1", "passphrase": OWN_PASSPHRASE})
    assert status == 302 and headers["location"].endswith("/login/code"), page[-1500:]
    status, _, page = triage.get("/login/code")
    totp = pyotp.TOTP(deployment.totp_secret)
    used = totp.now()
    while totp.now() == used:  # the code of the first sign-in may still be current, and a code is refused twice
        time.sleep(1)
    status, headers, page = triage.post_form("/login/code", {"csrf_token": csrf_from(page), "code": totp.now()})
    assert status == 302, page[-1500:]
    status, _, page = triage.get(f"/reports/{deployment.facts['reference']}")
    assert status == 200 and WHAT_HAPPENED.encode() in page
