"""Honest reporters while one anonymous client floods the reporter interface (issue #11).

    .venv/bin/python bench/flood_bench.py                          # PostgreSQL, 60 s per attack, N = 16
    .venv/bin/python bench/flood_bench.py --quick                  # 15 s per attack (a smoke run, not the figures)
    .venv/bin/python bench/flood_bench.py --sqlite                 # SQLite in the temporary instance
    .venv/bin/python bench/flood_bench.py --phases baseline,c --duration 30 --connections 32

A fresh temporary instance (`portal init --dev`) with the production settings that matter here
(`redis_url`: the load meter, single-use form tokens and challenges are shared through Redis;
`https = true`), PostgreSQL in a private schema (dropped and created again, `--pg-schema`), the
real Argon2id parameters. `portal serve reporter` (gunicorn, config/gunicorn.conf.py as shipped:
2 gthread workers) behind nginx with config/nginx/reporter.conf adapted to loopback ports and a
self-signed certificate (bench/benchlib.py). Every client speaks HTTPS (TLS 1.3, SNI and Host
report.example.org) to nginx, never to gunicorn.

Each phase: the attacker process starts flooding, `--warmup` seconds later two honest clients
(each its own process) start a new round every `--interval` seconds for `--duration` seconds;
the attacker keeps flooding until the last honest round has ended. Phases:

  baseline  no attacker;
  a         empty and invalid submissions: no or forged form tokens, empty reports (one with a
            64 KiB file), garbage and boundary-less multipart, JSON bodies, malformed codes,
            browser-mode reports without proof of work;
  b-nojs    wrong receipt codes without JavaScript (valid form token, well-formed wrong code:
            one server Argon2id each);
  b-js      wrong lookup tokens on the JavaScript path, each with a solved sign-in challenge;
  c         valid no-JavaScript reports, as fast as N connections get answers;
  d, d50    N (and 50) connections that announce a 10 MiB multipart POST to /report and send
            3 bytes a second, reopened as soon as the server cuts one.

The honest JavaScript-path client does what report-form.js and sign-in.js do, in Python:
GET /report (form token), GET /keys.json, a new receipt code, Argon2id on the "device"
(portal.crypto.receipt.receipt_secret, the published install salt), GET /challenge/report and
portal.crypto.puzzle.solve, the sealed report (as tests/web/test_reporter_admission.browser_report)
POSTed with Accept: application/json; then GET /follow-up, Argon2id again from the typed code,
GET /challenge/sign-in, solve, POST mode=browser with the lookup token, GET /follow-up/case with the
cookie. `retry: "work"` is honoured once, as the JavaScript does. A round succeeds when every
step does; its latency is the wall time including the client's own work (what the reporter
waits), and the server part (the HTTP requests) is shown beside it.

The honest no-JavaScript client: GET /report, POST the form (multipart), the receipt code from
the page, GET /follow-up, POST the code (form-urlencoded), GET the case page. A round succeeds
when every step succeeds at the first try (a 503 "very busy" page is a failure). After a busy
page or any other failure it tries again 5-10 s later with what the page gave back, as a
reporter would, until 60 s have passed since the round began: "done <= 60 s" is the share of
rounds complete by then.

Prints figures, not a verdict. This machine's cores are shared by nginx, gunicorn, PostgreSQL,
Redis, the attacker and both honest clients: see docs/performance.md, "Flood (issue #11)".
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import random
import re
import select
import shutil
import signal
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from reporter_bench import cpu_seconds, report_fields  # noqa: E402

TLS_NAME = benchlib.TLS_NAME
RECEIPT = re.compile(rb"data-receipt-code>([^<]+)<")
DRAFT = re.compile(rb'name="draft"[^>]*value="([^"]*)"')
COOKIE = "portal_followup"
PHASES = ("baseline", "a", "b-nojs", "b-js", "c", "d", "d50")
REQUEST_TIMEOUT = 90.0  # longer than nginx's proxy_read_timeout (60 s): a 504 shows as a 504
RETRY_WINDOW = 60.0  # a no-JS reporter tries again for a minute


# -- HTTP over TLS to nginx ------------------------------------------------------------------


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the harness's self-signed certificate
    return context


class _Conn(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 with SNI report.example.org (nginx refuses a handshake without it)."""

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=TLS_NAME)


class Http:
    """One client's connection to nginx: kept alive between requests like a browser's, opened again when closed."""

    def __init__(self, port: int, timeout: float = REQUEST_TIMEOUT) -> None:
        self.port, self.timeout = port, timeout
        self._context = _tls_context()
        self._conn: _Conn | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
                ) -> tuple[int, dict[str, list[str]], bytes, float]:
        """(status, headers by lower-case name, body, seconds); status 0 when the connection failed."""
        hdrs = {"Host": TLS_NAME, "User-Agent": "flood-bench", **(headers or {})}
        start = time.perf_counter()
        for attempt in (1, 2):
            fresh = self._conn is None
            if fresh:
                self._conn = _Conn(benchlib.HOST, self.port, timeout=self.timeout, context=self._context)
            try:
                self._conn.request(method, path, body=body, headers=hdrs)
                response = self._conn.getresponse()
                data = response.read()
                out: dict[str, list[str]] = {}
                for name, value in response.getheaders():
                    out.setdefault(name.lower(), []).append(value)
                if response.will_close:
                    self.close()
                return response.status, out, data, time.perf_counter() - start
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                # A kept-alive connection that nginx closed meanwhile (keepalive_timeout 30 s, while the device
                # worked): once more on a new connection, as browsers do. A new connection that fails is a failure.
                if fresh or attempt == 2:
                    return 0, {"x-error": [type(exc).__name__]}, b"", time.perf_counter() - start
        raise AssertionError("unreachable")


def multipart(fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]] = ()) -> tuple[bytes, str]:
    boundary = "----flood" + uuid.uuid4().hex
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode() + b"\r\n")
    for name, filename, content in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def urlencoded(fields: dict[str, str]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(fields).encode()


def token_of(page: bytes) -> str | None:
    match = benchlib.CSRF.search(page)
    return match.group(1).decode() if match else None


def cookie_of(headers: dict[str, list[str]]) -> str | None:
    for value in headers.get("set-cookie", []):
        if value.startswith(COOKIE + "="):
            return value.split(";", 1)[0]
    return None


def json_of(data: bytes) -> dict | None:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


# -- the honest JavaScript path ----------------------------------------------------------------


class Round:
    """What one honest round saw."""

    def __init__(self, path: str, started: float) -> None:
        self.path, self.started = path, started
        self.ok = False
        self.error = ""
        self.total = 0.0  # wall time of the round
        self.server = 0.0  # time inside HTTP requests
        self.argon = 0.0  # the device's Argon2id (JS path)
        self.puzzle = 0.0  # the device's proof of work (JS path)
        self.device_cpu = 0.0  # CPU seconds of the device's work (JS path): its time on a core of its own
        self.submit = 0.0  # until the receipt (JS: including the device's work)
        self.follow = 0.0  # from the follow-up form to the case page
        self.puzzle_max: list[int] = []
        self.statuses: list[int] = []
        self.retries = 0  # `retry: "work"` (JS) or tries after a failure (no-JS)
        self.first_ok = False  # no-JS: every step at the first try
        self.done_at: float | None = None  # no-JS: seconds from the start until the case page, retries included

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def device_solve(salt_hex: str, target: bytes, max_number: int) -> tuple[int | None, float]:
    """The browser's proof of work (work.js), in a process of its own: (number, CPU seconds)."""
    from portal.crypto import puzzle

    start = time.process_time()
    return puzzle.solve(salt_hex, target, max_number), time.process_time() - start


def device_derive(code: str, salt: bytes) -> tuple[bytes, float]:
    """The browser's Argon2id (portal-crypto.js receiptSecret), in a process of its own: (secret, CPU seconds)."""
    from portal.crypto.receipt import receipt_secret

    start = time.process_time()
    return receipt_secret(code, salt), time.process_time() - start


class JsClient:
    """report-form.js and sign-in.js in Python. The device's work (puzzles, Argon2id) runs in `device`, a pool of
    processes, so that two rounds that overlap do not share one interpreter lock as no two phones would."""

    def __init__(self, port: int, device=None) -> None:
        self.http = Http(port)
        self.device = device
        self.round: Round | None = None

    def _on_device(self, fn, *args):
        if self.device is None:
            return fn(*args)
        return self.device.submit(fn, *args).result()

    def _req(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
        status, hdrs, data, seconds = self.http.request(method, path, body, headers)
        assert self.round is not None
        self.round.server += seconds
        self.round.statuses.append(status)
        return status, hdrs, data

    def _work(self, action: str) -> dict[str, str] | None:

        status, _, data = self._req("GET", f"/challenge/{action}", headers={"Accept": "application/json"})
        challenge = json_of(data) if status == 200 else None
        if not challenge:
            return None
        start = time.perf_counter()
        number, cpu = self._on_device(device_solve, challenge["salt"], bytes.fromhex(challenge["target"]), int(challenge["max"]))
        self.round.puzzle += time.perf_counter() - start
        self.round.device_cpu += cpu
        self.round.puzzle_max.append(int(challenge["max"]))
        return {"pow_challenge": challenge["challenge"], "pow_solution": str(number)}

    def _derive(self, code: str, salt: bytes) -> bytes:
        start = time.perf_counter()
        secret, cpu = self._on_device(device_derive, code, salt)
        self.round.argon += time.perf_counter() - start
        self.round.device_cpu += cpu
        return secret

    def _seal_and_send(self, token: str, keys: dict) -> tuple[int, dict | None, str]:
        """report-form.js's sealAndSend: work, a new code, Argon2id, seal, POST."""
        from portal.crypto.envelope import new_data_key, seal_record
        from portal.crypto.keys import seal_inner, wrap_dek_for_reporter_root
        from portal.crypto.receipt import generate_receipt_code, lookup_token, reporter_root

        work = self._work("report")
        if work is None:
            return 0, None, ""
        code = generate_receipt_code()
        secret = self._derive(code, bytes.fromhex(keys["install_salt"]))
        report_id, dek = os.urandom(16), new_data_key()
        document = {"v": 1, "what_happened": "Sealed on the device during a flood. " * 20, "people": [], "when": "",
                    "where": "", "risk_now": "", "vulnerable_person": "", "witnesses": "", "how_known": "", "category": ""}
        b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
        fields = [("csrf_token", token), ("mode", "browser"), *work.items(), ("report_id", report_id.hex()),
                  ("lookup_token", lookup_token(secret).hex()), ("urgent", "no"),
                  ("sealed_report", b64(seal_record(dek, report_id, "report", json.dumps(document).encode()))),
                  ("reporter_wrap", b64(wrap_dek_for_reporter_root(dek, reporter_root(secret), report_id)))]
        for recipient in keys["recipients"]:
            inner = seal_inner(dek, bytes.fromhex(recipient["intake_x25519"]), report_id)
            fields.append((f"recipient_inner.{recipient['fingerprint']}", b64(inner)))
        body, ctype = multipart(fields)
        status, _, data = self._req("POST", "/report", body, {"Content-Type": ctype, "Accept": "application/json"})
        return status, json_of(data), code

    def _post_secret(self, token: str, secret: bytes) -> tuple[int, dict | None, dict]:
        work = self._work("sign-in")
        if work is None:
            return 0, None, {}
        from portal.crypto.receipt import lookup_token

        body, ctype = multipart([("csrf_token", token), ("mode", "browser"), ("lookup_token", lookup_token(secret).hex()),
                                 *work.items()])
        status, hdrs, data = self._req("POST", "/follow-up", body, {"Content-Type": ctype, "Accept": "application/json"})
        return status, json_of(data), hdrs

    def run(self, started: float) -> Round:
        r = self.round = Round("js", started)
        t0 = time.perf_counter()
        try:
            status, _, page = self._req("GET", "/report")
            token = token_of(page) if status == 200 else None
            status, _, data = self._req("GET", "/keys.json")
            keys = json_of(data) if status == 200 else None
            if not token or not keys:
                r.error = "form or keys"
                return r
            status, result, code = self._seal_and_send(token, keys)
            if result and result.get("retry") == "work":
                r.retries += 1
                status, result, code = self._seal_and_send(result.get("csrf_token") or token, keys)
            r.submit = time.perf_counter() - t0
            if not (status == 200 and result and result.get("ok") is True):
                r.error = f"report {status}"
                return r
            t1 = time.perf_counter()
            status, _, page = self._req("GET", "/follow-up")
            token = token_of(page) if status == 200 else None
            if not token:
                r.error = "sign-in form"
                return r
            secret = self._derive(code, bytes.fromhex(keys["install_salt"]))  # sign-in.js derives from the typed code
            status, result, hdrs = self._post_secret(token, secret)
            if result and result.get("retry") == "work":
                r.retries += 1
                status, result, hdrs = self._post_secret(result.get("csrf_token") or token, secret)
            cookie = cookie_of(hdrs)
            if not (status == 200 and result and result.get("ok") is True and cookie):
                r.error = f"sign-in {status}"
                return r
            status, _, page = self._req("GET", result.get("next", "/follow-up/case"), headers={"Cookie": cookie})
            r.follow = time.perf_counter() - t1
            if status != 200:
                r.error = f"case {status}"
                return r
            r.ok = True
            return r
        finally:
            r.total = time.perf_counter() - t0


# -- the honest no-JavaScript path -------------------------------------------------------------


class NoJsClient:
    def __init__(self, port: int, retry_delay: tuple[float, float]) -> None:
        self.http = Http(port)
        self.retry_delay = retry_delay
        self.round: Round | None = None

    def _req(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
        status, hdrs, data, seconds = self.http.request(method, path, body, headers)
        self.round.server += seconds
        self.round.statuses.append(status)
        return status, hdrs, data

    def _wait_to_retry(self, t0: float) -> bool:
        """Sleep as a reporter would before trying again; False once the minute is up."""
        delay = random.uniform(*self.retry_delay)
        if time.perf_counter() + delay - t0 > RETRY_WINDOW:
            return False
        self.round.retries += 1
        time.sleep(delay)
        return True

    def _submit(self, t0: float) -> str | None:
        status, _, page = self._req("GET", "/report")
        token = token_of(page) if status == 200 else None
        draft = ""
        first = True
        while True:
            if token:
                fields = [(k, draft if k == "draft" else v) for k, v in report_fields(token)]
                body, ctype = multipart(fields, [("evidence", "", b"")])  # no file chosen: an empty part, as browsers send
                status, _, page = self._req("POST", "/report", body, {"Content-Type": ctype})
                match = RECEIPT.search(page) if status == 200 else None
                if match:
                    return match.group(1).decode()
                token = token_of(page)  # the busy page (and any error page) carries a fresh token and the draft
                found = DRAFT.search(page)
                draft = found.group(1).decode() if found else draft
            if first:
                self.round.error = f"report {status}" + (" busy" if b"very busy" in page else "")
                first = False
            if not self._wait_to_retry(t0):
                return None
            if not token:
                status, _, page = self._req("GET", "/report")
                token = token_of(page) if status == 200 else None

    def _sign_in(self, t0: float, code: str, first_failed: bool) -> str | None:
        status, _, page = self._req("GET", "/follow-up")
        token = token_of(page) if status == 200 else None
        first = not first_failed
        while True:
            if token:
                body = urlencoded({"csrf_token": token, "receipt_code": code})
                status, hdrs, page = self._req("POST", "/follow-up", body, {"Content-Type": "application/x-www-form-urlencoded"})
                cookie = cookie_of(hdrs)
                if status == 302 and cookie:
                    return cookie
                token = token_of(page)
            if first:
                self.round.error = f"sign-in {status}" + (" busy" if b"very busy" in page else "")
                first = False
            if not self._wait_to_retry(t0):
                return None
            if not token:
                status, _, page = self._req("GET", "/follow-up")
                token = token_of(page) if status == 200 else None

    def run(self, started: float) -> Round:
        r = self.round = Round("nojs", started)
        t0 = time.perf_counter()
        try:
            code = self._submit(t0)
            r.submit = time.perf_counter() - t0
            if code is None:
                return r
            t1 = time.perf_counter()
            cookie = self._sign_in(t0, code, bool(r.error))
            if cookie is None:
                return r
            status, _, _ = self._req("GET", "/follow-up/case", headers={"Cookie": cookie})
            r.follow = time.perf_counter() - t1
            if status != 200:
                r.error = r.error or f"case {status}"
                return r
            r.done_at = time.perf_counter() - t0
            r.ok = r.done_at <= RETRY_WINDOW
            r.first_ok = r.ok and not r.error and r.retries == 0
            return r
        finally:
            r.total = time.perf_counter() - t0


def honest_process(path: str, port: int, start_at: float, duration: float, interval: float, retry_delay: tuple[float, float],
                   results) -> None:
    """A new round every `interval` seconds from `start_at` (wall clock) for `duration`; each round in its own thread,
    so that a slow round (retries) does not delay the next reporter's arrival."""
    rounds: list[dict] = []
    lock = threading.Lock()
    device = None
    if path == "js":
        from concurrent.futures import ProcessPoolExecutor

        device = ProcessPoolExecutor(max_workers=8, mp_context=multiprocessing.get_context("spawn"))
        list(device.map(device_solve, ["00"] * 8, [b""] * 8, [1] * 8))  # start the processes before the clock runs

    def one(started: float) -> None:
        client = JsClient(port, device) if path == "js" else NoJsClient(port, retry_delay)
        try:
            r = client.run(started)
        except Exception as exc:  # a bug here must show, not hang the phase
            r = Round(path, started)
            r.error = f"client exception {type(exc).__name__}: {exc}"
        finally:
            client.http.close()
        with lock:
            rounds.append(r.to_dict())

    time.sleep(max(0.0, start_at - time.time()))
    threads = []
    k = 0
    while time.time() < start_at + duration:
        t = threading.Thread(target=one, args=(time.time() - start_at,), daemon=True)
        t.start()
        threads.append(t)
        k += 1
        time.sleep(max(0.0, start_at + k * interval - time.time()))
    for t in threads:
        t.join(timeout=REQUEST_TIMEOUT * 4)
    if device is not None:
        device.shutdown()
    results.put((path, rounds, time.process_time() + sum(r["device_cpu"] for r in rounds)))


# -- attackers -----------------------------------------------------------------------------------


def _wrong_code() -> str:
    from portal.crypto.receipt import generate_receipt_code

    return generate_receipt_code()  # well-formed, from the public word list: the server must run Argon2id to say no


def attack_a(http: Http, i: int) -> list[tuple[str, int]]:
    """Empty and invalid submissions, one kind after another."""
    kind = i % 8
    out = []
    if kind == 0:
        body, ctype = multipart([("draft", ""), ("what_happened", "")])
        out.append(("no token", http.request("POST", "/report", body, {"Content-Type": ctype})[0]))
    elif kind == 1:
        body, ctype = multipart([("csrf_token", base64.urlsafe_b64encode(os.urandom(40)).decode()), ("what_happened", "x")])
        out.append(("forged token", http.request("POST", "/report", body, {"Content-Type": ctype})[0]))
    elif kind == 2:
        status, _, page, _ = http.request("GET", "/report")
        fields = [("csrf_token", token_of(page) or ""), ("draft", ""), ("what_happened", "  ")]
        body, ctype = multipart(fields, [("evidence", "x.bin", os.urandom(64 * 1024))])
        out.append(("empty report + 64 KiB file", http.request("POST", "/report", body, {"Content-Type": ctype})[0]))
    elif kind == 3:
        out.append(("garbage multipart", http.request("POST", "/report", os.urandom(4096),
                                                      {"Content-Type": "multipart/form-data; boundary=xyz"})[0]))
    elif kind == 4:
        out.append(("multipart without boundary", http.request("POST", "/report", b"what_happened=x",
                                                               {"Content-Type": "multipart/form-data"})[0]))
    elif kind == 5:
        out.append(("JSON body", http.request("POST", "/report", b'{"what_happened": "x"}',
                                              {"Content-Type": "application/json", "Accept": "application/json"})[0]))
    elif kind == 6:
        status, _, page, _ = http.request("GET", "/follow-up")
        body = urlencoded({"csrf_token": token_of(page) or "", "receipt_code": "not a receipt code at all " + str(i)})
        out.append(("malformed code", http.request("POST", "/follow-up", body,
                                                   {"Content-Type": "application/x-www-form-urlencoded"})[0]))
    else:
        status, _, page, _ = http.request("GET", "/report")
        body, ctype = multipart([("csrf_token", token_of(page) or ""), ("mode", "browser"), ("pow_challenge", "forged"),
                                 ("pow_solution", "7"), ("report_id", os.urandom(16).hex()), ("lookup_token", os.urandom(32).hex()),
                                 ("sealed_report", base64.b64encode(os.urandom(300)).decode())])
        out.append(("browser report, no work", http.request("POST", "/report", body,
                                                            {"Content-Type": ctype, "Accept": "application/json"})[0]))
    return out


def attack_b_nojs(http: Http, i: int) -> list[tuple[str, int]]:
    status, _, page, _ = http.request("GET", "/follow-up")
    body = urlencoded({"csrf_token": token_of(page) or "", "receipt_code": _wrong_code()})
    return [("wrong code, no JS", http.request("POST", "/follow-up", body, {"Content-Type": "application/x-www-form-urlencoded"})[0])]


def attack_b_js(http: Http, i: int) -> list[tuple[str, int]]:
    from portal.crypto import puzzle

    status, _, page, _ = http.request("GET", "/follow-up")
    status, _, data, _ = http.request("GET", "/challenge/sign-in", headers={"Accept": "application/json"})
    challenge = json_of(data) or {}
    if not challenge:
        return [("challenge", status)]
    number = puzzle.solve(challenge["salt"], bytes.fromhex(challenge["target"]), int(challenge["max"]))
    body, ctype = multipart([("csrf_token", token_of(page) or ""), ("mode", "browser"), ("lookup_token", os.urandom(32).hex()),
                             ("pow_challenge", challenge["challenge"]), ("pow_solution", str(number))])
    return [("wrong token + solved work", http.request("POST", "/follow-up", body,
                                                         {"Content-Type": ctype, "Accept": "application/json"})[0])]


def attack_c(http: Http, i: int) -> list[tuple[str, int]]:
    status, _, page, _ = http.request("GET", "/report")
    body, ctype = multipart(report_fields(token_of(page) or ""), [("evidence", "", b"")])
    return [("valid no-JS report", http.request("POST", "/report", body, {"Content-Type": ctype})[0])]


ATTACKS = {"a": attack_a, "b-nojs": attack_b_nojs, "b-js": attack_b_js, "c": attack_c}


def attacker_process(phase: str, port: int, connections: int, stop, results) -> None:
    counts: dict[str, Counter] = {}
    lock = threading.Lock()
    if phase.startswith("d"):
        counts = trickle(port, connections, stop)
        results.put(("attacker", {k: dict(v) for k, v in counts.items()}, time.process_time()))
        return
    attack = ATTACKS[phase]

    def loop(n: int) -> None:
        http = Http(port)
        mine: dict[str, Counter] = {}
        i = n
        while not stop.is_set():
            try:
                for variant, status in attack(http, i):
                    mine.setdefault(variant, Counter())[status] += 1
            except Exception as exc:  # noqa: BLE001 (an attacker's own error must not end the flood)
                mine.setdefault(f"attacker error {type(exc).__name__}", Counter())[0] += 1
                http.close()
            i += connections
        http.close()
        with lock:
            for variant, c in mine.items():
                counts.setdefault(variant, Counter()).update(c)

    threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(("attacker", {k: dict(v) for k, v in counts.items()}, time.process_time()))


def trickle(port: int, count: int, stop) -> dict[str, Counter]:
    """`count` connections, each announcing a 10 MiB multipart POST and sending 3 bytes a second; one that the server
    ends is replaced at once. Counted per connection by how it ended: the response status, or 0 (closed without one)."""
    context = _tls_context()
    head = (f"POST /report HTTP/1.1\r\nHost: {TLS_NAME}\r\nContent-Type: multipart/form-data; boundary=slow\r\n"
            f"Content-Length: {10 * 1024 * 1024}\r\n\r\n--slow\r\nContent-Disposition: form-data; name=\"what_happened\"\r\n\r\n"
            ).encode()
    ended: Counter = Counter()
    opened = Counter()
    lifetimes: list[float] = []
    socks: dict[ssl.SSLSocket, float] = {}

    def open_one() -> None:
        try:
            sock = socket.create_connection((benchlib.HOST, port), timeout=10)
            sock = context.wrap_socket(sock, server_hostname=TLS_NAME)
            sock.sendall(head)
            sock.setblocking(False)
            socks[sock] = time.monotonic()
            opened["opened"] += 1
        except OSError:
            ended[0] += 1

    def end(sock, data: bytes) -> None:
        status = 0
        if data.startswith(b"HTTP/1."):
            try:
                status = int(data.split(b" ", 2)[1])
            except (ValueError, IndexError):
                pass
        ended[status] += 1
        lifetimes.append(time.monotonic() - socks.pop(sock))
        try:
            sock.close()
        except OSError:
            pass

    next_tick = time.monotonic()
    while not stop.is_set():
        while len(socks) < count and not stop.is_set():
            open_one()
        now = time.monotonic()
        if now >= next_tick:
            for sock in list(socks):
                try:
                    sock.send(b"xyz")
                except ssl.SSLWantWriteError:
                    pass
                except OSError:
                    end(sock, b"")
            next_tick = now + 1.0
        try:
            readable, _, _ = select.select(list(socks), [], [], max(0.0, min(0.2, next_tick - time.monotonic())))
        except (OSError, ValueError):
            readable = []
        for sock in readable:
            try:
                data = sock.recv(4096)
            except (ssl.SSLWantReadError, BlockingIOError):
                continue
            except OSError:
                data = b""
            end(sock, data)
    still_open = len(socks)
    for sock in list(socks):
        sock.close()
    out = {"trickling upload (ended by)": ended, "trickling upload (opened)": opened}
    out["trickling upload (open at the end)"] = Counter({"open": still_open})
    if lifetimes:
        out["trickling upload (seconds held, median)"] = Counter({"s": round(statistics.median(lifetimes), 1)})
    return out


# -- server-side measurements --------------------------------------------------------------------


class RssWatch:
    """Peak RSS of the gunicorn workers during a phase: VmHWM (reset first) and sampled VmRSS, for every pid seen."""

    def __init__(self, server: benchlib.Gunicorn) -> None:
        self.server = server
        self.peak: dict[int, int] = {}
        self.reset_ok = True
        self._stop = threading.Event()
        for pid in server.worker_pids():
            self.reset_ok &= benchlib.reset_peak_rss(pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        for pid in self.server.worker_pids():
            for field in ("VmRSS", "VmHWM"):
                kib = benchlib.proc_status_kib(pid, field)
                if kib is not None:
                    self.peak[pid] = max(self.peak.get(pid, 0), kib)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self._sample()

    def stop(self) -> dict[int, int]:
        self._sample()
        self._stop.set()
        self._thread.join()
        return self.peak


def nginx_pids(nginx: benchlib.Nginx) -> list[int]:
    try:
        children = Path(f"/proc/{nginx.proc.pid}/task/{nginx.proc.pid}/children").read_text().split()
    except OSError:
        return [nginx.proc.pid]
    return [nginx.proc.pid, *(int(c) for c in children)]


def server_error_lines(log: Path, offset: int) -> list[str]:
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            level = json.loads(line).get("level", "")
        except (ValueError, AttributeError):
            level = "unparsed"  # anything not a JSON line on the reporter's stderr is worth seeing
        if level in ("error", "critical", "unparsed"):
            out.append(line)
    return out


def clear_load_meter(redis_url: str) -> None:
    """Start each phase from a quiet portal: forget the last minute's count (portal/admission/work.py, LoadMeter)."""
    import redis

    r = redis.Redis.from_url(redis_url)
    keys = list(r.scan_iter(match="portal:load:*"))
    if keys:
        r.delete(*keys)
    r.close()


# -- one phase -------------------------------------------------------------------------------------

CHILDREN: list = []  # every process this script started, ended in main()'s finally


def end_children() -> None:
    for p in CHILDREN:
        if p.is_alive():
            p.terminate()
    for p in CHILDREN:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()


def run_phase(phase: str, args, port: int, server: benchlib.Gunicorn, nginx: benchlib.Nginx, ctx) -> dict:
    clear_load_meter(args.redis_url)
    connections = 50 if phase == "d50" else args.connections
    results = ctx.Queue()
    stop = ctx.Event()
    load = os.getloadavg()
    log_offset = Path(server.log.name).stat().st_size
    workers_before = server.worker_pids()
    cpu_before = cpu_seconds(workers_before)
    nginx_before = cpu_seconds(nginx_pids(nginx))
    rss = RssWatch(server)
    attacker = None
    benchlib.log(f"phase {phase}: load average {load[0]:.2f}, {connections if phase != 'baseline' else 0} attacker connections")
    t_start = time.time()
    if phase != "baseline":
        attacker = ctx.Process(target=attacker_process, args=(phase, port, connections, stop, results), daemon=True)
        CHILDREN.append(attacker)
        attacker.start()
        time.sleep(args.warmup)
    start_at = time.time() + 0.5
    honest = [ctx.Process(target=honest_process, args=(path, port, start_at if path == "js" else start_at + args.interval / 2,
                                                       args.duration, args.interval, (5.0, 10.0), results))
              for path in ("js", "nojs")]  # not daemons: the JS client runs the device's work in child processes
    CHILDREN.extend(honest)
    for p in honest:
        p.start()
    got: dict[str, object] = {}
    cpu: dict[str, float] = {}
    while len([k for k in got if k in ("js", "nojs")]) < 2:
        path, payload, cpu_s = results.get(timeout=args.duration + 8 * REQUEST_TIMEOUT)
        got[path], cpu[path] = payload, cpu_s
    for p in honest:
        p.join(timeout=30)
    attack_seconds = time.time() - t_start
    stop.set()
    if attacker is not None:
        path, payload, cpu_s = results.get(timeout=120)
        got[path], cpu[path] = payload, cpu_s
        attacker.join(timeout=30)
    peak = rss.stop()
    workers_after = server.worker_pids()
    worker_cpu = cpu_seconds(workers_after) - cpu_before if workers_after == workers_before else float("nan")
    errors = server_error_lines(Path(server.log.name), log_offset)
    out = {"phase": phase, "connections": connections if attacker else 0, "load": load, "attack_seconds": attack_seconds,
           "js": got["js"], "nojs": got["nojs"], "attacker": got.get("attacker", {}), "cpu": cpu,
           "worker_cpu": worker_cpu, "nginx_cpu": cpu_seconds(nginx_pids(nginx)) - nginx_before,
           "rss_kib": peak, "rss_reset": rss.reset_ok, "workers_before": workers_before, "workers_after": workers_after,
           "server_errors": errors[:5], "server_error_count": len(errors)}
    benchlib.log(f"phase {phase}: done in {attack_seconds:.0f} s")
    time.sleep(args.settle)  # let nginx and gunicorn drop what the attacker left (tricklers are cut within upload_grace)
    return out


# -- figures ---------------------------------------------------------------------------------------


def fmt_s(x: float) -> str:
    return "-" if x != x else (f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s")


def summarise(phase: dict) -> dict:
    js, nojs = phase["js"], phase["nojs"]
    js_ok = [r for r in js if r["ok"]]
    nojs_first = [r for r in nojs if r["first_ok"]]
    nojs_done = [r for r in nojs if r["done_at"] is not None and r["done_at"] <= RETRY_WINDOW]
    maxes = [m for r in js for m in r["puzzle_max"]]
    honest_statuses = Counter(s for r in js + nojs for s in r["statuses"])
    attacker_statuses: Counter = Counter()
    variants = {}
    for variant, c in phase["attacker"].items():
        c = Counter({int(k) if str(k).lstrip("-").isdigit() else k: v for k, v in c.items()})
        variants[variant] = c
        if variant.startswith("trickling upload (") and variant != "trickling upload (ended by)":
            continue
        attacker_statuses.update({k: v for k, v in c.items() if isinstance(k, int)})
    sent = sum(attacker_statuses.values())
    accepted = sum(v for k, v in attacker_statuses.items() if 200 <= k < 400)
    five = lambda c: sum(v for k, v in c.items() if isinstance(k, int) and k >= 500)  # noqa: E731
    busy = lambda c: c.get(503, 0)  # noqa: E731
    return {
        "js_n": len(js), "js_ok": len(js_ok), "js": benchlib.Summary.of([r["total"] for r in js_ok]),
        "js_server": benchlib.Summary.of([r["server"] for r in js_ok]),
        # the same rounds had the device's work run on a core of its own (its CPU time instead of its wall time here)
        "js_own_core": benchlib.Summary.of([r["total"] - r["argon"] - r["puzzle"] + r["device_cpu"] for r in js_ok]),
        "js_argon": benchlib.Summary.of([r["argon"] for r in js_ok]), "js_puzzle": benchlib.Summary.of([r["puzzle"] for r in js_ok]),
        "js_submit": benchlib.Summary.of([r["submit"] for r in js_ok]), "js_follow": benchlib.Summary.of([r["follow"] for r in js_ok]),
        "js_retries": sum(r["retries"] for r in js), "js_errors": Counter(r["error"] for r in js if not r["ok"]),
        "maxes": maxes,
        "nojs_n": len(nojs), "nojs_first": len(nojs_first), "nojs_done": len(nojs_done),
        "nojs": benchlib.Summary.of([r["total"] for r in nojs_first]),
        "nojs_server": benchlib.Summary.of([r["server"] for r in nojs_first]),
        "nojs_done_s": benchlib.Summary.of([r["done_at"] for r in nojs_done]),
        "nojs_errors": Counter(r["error"] for r in nojs if r["error"]),
        "attacker_sent": sent, "attacker_accepted": accepted, "attacker_statuses": attacker_statuses, "variants": variants,
        "honest_5xx": five(honest_statuses), "honest_busy": busy(honest_statuses),
        "attacker_5xx": five(attacker_statuses), "attacker_busy": busy(attacker_statuses),
        "honest_statuses": honest_statuses,
    }


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.0f} % ({a}/{b})" if b else "-"


def print_phase(p: dict, s: dict) -> None:
    print(f"\n== {p['phase']}: {p['connections']} attacker connections, attack {p['attack_seconds']:.0f} s, "
          f"load average at start {p['load'][0]:.2f} {p['load'][1]:.2f} {p['load'][2]:.2f}")
    print(f"  JS path     success {pct(s['js_ok'], s['js_n'])}; round median {fmt_s(s['js'].median)}, p95 {fmt_s(s['js'].p95)}, "
          f"max {fmt_s(s['js'].maximum)}; server part median {fmt_s(s['js_server'].median)} p95 {fmt_s(s['js_server'].p95)}")
    print(f"              with the device's work on a core of its own (its CPU time): median {fmt_s(s['js_own_core'].median)}, "
          f"p95 {fmt_s(s['js_own_core'].p95)}")
    print(f"              device work per round: Argon2id x2 median {fmt_s(s['js_argon'].median)}, puzzles x2 median "
          f"{fmt_s(s['js_puzzle'].median)} p95 {fmt_s(s['js_puzzle'].p95)}; submit step median {fmt_s(s['js_submit'].median)}, "
          f"follow-up step median {fmt_s(s['js_follow'].median)}; retry:work {s['js_retries']}")
    if s["maxes"]:
        m = s["maxes"]
        print(f"              puzzle max seen: min {min(m):,}, median {int(statistics.median(m)):,}, max {max(m):,}")
    if s["js_errors"]:
        print(f"              failures: {dict(s['js_errors'])}")
    print(f"  no-JS path  success at first try {pct(s['nojs_first'], s['nojs_n'])}; round median {fmt_s(s['nojs'].median)}, "
          f"p95 {fmt_s(s['nojs'].p95)} (server part median {fmt_s(s['nojs_server'].median)}); "
          f"done <= 60 s with retries {pct(s['nojs_done'], s['nojs_n'])} (median {fmt_s(s['nojs_done_s'].median)}, "
          f"p95 {fmt_s(s['nojs_done_s'].p95)})")
    if s["nojs_errors"]:
        print(f"              first failures: {dict(s['nojs_errors'])}")
    if p["connections"]:
        rate = s["attacker_sent"] / p["attack_seconds"] if p["attack_seconds"] else 0
        print(f"  attacker    {s['attacker_sent']} requests ({rate:.1f}/s), accepted (2xx/3xx) {s['attacker_accepted']}, "
              f"by status {dict(sorted(s['attacker_statuses'].items(), key=lambda kv: str(kv[0])))}")
        for variant, c in s["variants"].items():
            print(f"              {variant}: {dict(sorted(c.items(), key=lambda kv: str(kv[0])))}")
    print(f"  5xx         honest {s['honest_5xx']} (of which 503 busy {s['honest_busy']}), attacker {s['attacker_5xx']} "
          f"(503 busy {s['attacker_busy']}); error lines in gunicorn's log {p['server_error_count']}")
    for line in p["server_errors"]:
        print(f"              {line[:300]}")
    rss = ", ".join(f"{kib / 1024:.0f} MiB" for kib in p["rss_kib"].values())
    restarted = "" if p["workers_before"] == p["workers_after"] else f" (workers replaced: {p['workers_before']} -> {p['workers_after']})"
    print(f"  workers     peak RSS {rss}{restarted}; CPU s: gunicorn workers {p['worker_cpu']:.1f}, nginx {p['nginx_cpu']:.1f}, "
          f"attacker {p['cpu'].get('attacker', 0):.1f}, honest JS {p['cpu'].get('js', 0):.1f}, honest no-JS {p['cpu'].get('nojs', 0):.1f}")


def table(phases: list[dict], sums: list[dict]) -> list[str]:
    rows = ["| attack | N | load at start | JS success | JS round median / p95 (server part; device on its own core) | puzzle max min / median / max "
            "| no-JS success (first try) | no-JS median / p95 | no-JS done <= 60 s | attacker sent / accepted (rate) "
            "| 5xx honest / attacker (503 busy) | worker peak RSS |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p, s in zip(phases, sums, strict=True):
        m = s["maxes"]
        maxes = f"{min(m):,} / {int(statistics.median(m)):,} / {max(m):,}" if m else "-"
        attack = f"{s['attacker_sent']} / {s['attacker_accepted']} ({s['attacker_sent'] / p['attack_seconds']:.1f}/s)" \
            if p["connections"] else "-"
        rss = " / ".join(f"{kib / 1024:.0f}" for kib in p["rss_kib"].values()) + " MiB"
        rows.append(
            f"| {p['phase']} | {p['connections']} | {p['load'][0]:.2f} | {pct(s['js_ok'], s['js_n'])} "
            f"| {fmt_s(s['js'].median)} / {fmt_s(s['js'].p95)} ({fmt_s(s['js_server'].median)}; "
            f"{fmt_s(s['js_own_core'].median)} / {fmt_s(s['js_own_core'].p95)}) | {maxes} "
            f"| {pct(s['nojs_first'], s['nojs_n'])} | {fmt_s(s['nojs'].median)} / {fmt_s(s['nojs'].p95)} "
            f"| {pct(s['nojs_done'], s['nojs_n'])} | {attack} "
            f"| {s['honest_5xx']} ({s['honest_busy']}) / {s['attacker_5xx']} ({s['attacker_busy']}) | {rss} |")
    return rows


def verdicts(phases: list[dict], sums: list[dict]) -> list[str]:
    out = []
    for p, s in zip(phases, sums, strict=True):
        name = p["phase"]
        js_ok = s["js_n"] > 0 and s["js_ok"] == s["js_n"] and s["js"].median < 5
        line = [f"JS 100 % & median < 5 s: {'met' if js_ok else 'MISSED'}"]
        if name == "c":
            ok = s["nojs_n"] > 0 and s["nojs_done"] >= 0.9 * s["nojs_n"]
            line.append(f"no-JS >= 90 % done within 60 s: {'met' if ok else 'MISSED'}")
        elif name != "baseline":
            ok = s["nojs_n"] > 0 and s["nojs_first"] >= 0.95 * s["nojs_n"]
            line.append(f"no-JS >= 95 % success: {'met' if ok else 'MISSED'}")
        five = s["honest_5xx"] + s["attacker_5xx"] + p["server_error_count"]
        busy = s["honest_busy"] + s["attacker_busy"]
        line.append(f"no 5xx: {'met' if five == 0 else f'MISSED ({five}, of which {busy} the busy page)'}")
        out.append(f"  {name}: " + "; ".join(line))
    return out


# -- main --------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default="postgresql:///test", help="PostgreSQL URL (default postgresql:///test)")
    ap.add_argument("--pg-schema", default="flood_bench", help="schema to drop, recreate and use (default flood_bench)")
    ap.add_argument("--sqlite", action="store_true", help="SQLite in the temporary instance instead of PostgreSQL")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/11",
                    help="the instance's redis_url (default: database 11 of the local Redis; its portal:load:* keys are "
                         "cleared before each phase)")
    ap.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, from {', '.join(PHASES)}")
    ap.add_argument("--connections", type=int, default=16, help="attacker connections N (default 16; d50 always uses 50)")
    ap.add_argument("--duration", type=float, default=60, help="seconds of honest rounds per phase (default 60)")
    ap.add_argument("--quick", action="store_true", help="15 s per phase")
    ap.add_argument("--interval", type=float, default=3, help="seconds between two honest rounds on each path (default 3)")
    ap.add_argument("--warmup", type=float, default=5, help="seconds of flood before the honest clients start (default 5)")
    ap.add_argument("--settle", type=float, default=5, help="seconds of quiet between phases (default 5)")
    ap.add_argument("--json", type=Path, help="also write every round and counter to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary instance and nginx directory")
    args = ap.parse_args()
    if args.quick:
        args.duration = 15
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise SystemExit(f"unknown phase(s) {unknown}; choose from {PHASES}")
    if not benchlib.NGINX.exists():
        raise SystemExit(f"{benchlib.NGINX} not found: this benchmark runs behind nginx")

    url, kind = benchlib.database_choice("" if args.sqlite else args.database_url, args.pg_schema)
    machine = benchlib.machine_line()
    workdir = Path(tempfile.mkdtemp(prefix="flood-bench-"))
    instance = workdir / "instance"
    server = nginx = None
    ctx = multiprocessing.get_context("spawn")
    records: list[dict] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally below stops nginx and gunicorn
    try:
        if url:
            benchlib.log(f"Resetting PostgreSQL schema {args.pg_schema} ...")
            benchlib.reset_postgres_schema(args.database_url, args.pg_schema)
        benchlib.log(f"portal init into {instance} ({kind}) ...")
        instance.mkdir(mode=0o700, parents=True)
        (instance / "portal.toml").write_text(f'redis_url = "{args.redis_url}"\nhttps = true\n')  # as in production
        benchlib.init_instance(instance, url or None)
        clear_load_meter(args.redis_url)
        server = benchlib.Gunicorn("reporter", instance, url or None, workers=2)
        server.wait_ready()
        nginx = benchlib.Nginx(server.port, workdir / "nginx")
        port = nginx.https_port
        benchlib.log(f"gunicorn on {server.port} (workers {server.worker_pids()}), nginx HTTPS on {port}; warming up ...")
        JsClient(port).run(0.0)
        NoJsClient(port, (5, 10)).run(0.0)
        for phase in phases:
            records.append(run_phase(phase, args, port, server, nginx, ctx))
    finally:
        end_children()
        if nginx is not None:
            nginx.stop()
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept: {workdir}")

    sums = [summarise(p) for p in records]
    print("Flood benchmark (issue #11): honest reporters while one client floods the reporter interface")
    print(f"Machine: {machine}. These 2 cores are shared by nginx, gunicorn, PostgreSQL/Redis, the attacker and both "
          f"honest clients: every client's CPU work (puzzles, Argon2id, TLS) competes with the server's.")
    print(f"Server: `portal serve reporter` (config/gunicorn.conf.py as shipped: 2 gthread workers) behind nginx "
          f"(config/nginx/reporter.conf on loopback, self-signed certificate), HTTPS (TLS 1.3) for every client; {kind}"
          f"{' schema ' + args.pg_schema if url else ''}; Redis {args.redis_url}; real Argon2id (t=5, 64 MiB).")
    print(f"Each phase: {args.warmup:.0f} s of flood first, then an honest round every {args.interval:.0f} s on each path "
          f"for {args.duration:.0f} s; the flood lasts until the last honest round ends. Load meter cleared between phases.")
    for p, s in zip(records, sums, strict=True):
        print_phase(p, s)
    print()
    for row in table(records, sums):
        print(row)
    print("\nTargets (issue #11):")
    for line in verdicts(records, sums):
        print(line)
    print(f"Load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "args": {k: str(v) for k, v in vars(args).items()},
                                         "phases": records}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
