"""gunicorn settings for `portal serve reporter|triage`.

The reporter interface runs with NO access log and an error log that never
includes request lines: nothing that could identify a reporter is written.
Bind addresses come from PORTAL_BIND (default: loopback, behind nginx or Tor).
Every log line, gunicorn's own included, is a JSON object (portal/logs.py): on
the reporter host with the date only, never a time of day.
"""

import logging
import os

from portal.config import load_settings
from portal.logs import logging_config

kind = os.environ.get("PORTAL_APP_KIND", "reporter")
settings = load_settings()  # the instance's portal.toml and PORTAL_* variables, like the app's

bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8080" if kind == "reporter" else "127.0.0.1:8081")
workers = int(os.environ.get("PORTAL_WORKERS", "2"))
# Worker model and timeouts: docs/operations.md, "Workers and timeouts" (keep the two in step,
# and config/nginx/*.conf). In short:
if kind == "reporter":
    # Threads, because nginx streams uploads to gunicorn unbuffered (no plaintext on its disk), so
    # a slow client holds whatever reads its body: with sync workers two trickling connections
    # took the site down. Each worker has PORTAL_THREADS threads (default 128: room for about 90
    # trickling uploads until portal/slow_clients.py cuts them, 33 requests at the Argon2id gate
    # (argon2_slots + two lines of argon2_max_waiting) and the pages everyone else is loading).
    # Threads are started only when needed and a waiting one costs a few tens of KiB.
    worker_class = "gthread"
    threads = int(os.environ.get("PORTAL_THREADS", "128"))
    # A worker whose threads are all busy stops accepting, leaving new connections to a worker
    # that can serve them at once, or to the listen backlog until a thread is free.
    worker_connections = threads
    # gthread's timeout is only a heartbeat (a worker whose main loop is stuck for a minute is
    # replaced); it never ends a request. Slow request bodies are cut by portal/slow_clients.py
    # (upload_read_timeout, upload_grace, upload_min_rate in config/defaults.toml).
    timeout = 60
    # No keep-alive: nginx opens one upstream connection per request. It also means a connection
    # that sends nothing within 5 s of being accepted is closed about a second later.
    keepalive = 0
else:
    # Triage: nginx buffers its request bodies (1 MiB at most), so gunicorn sees whole requests;
    # sync workers, one request each, and a request still running after triage_request_timeout
    # (default 120 s) is killed; nginx's proxy_read_timeout on the triage host (130 s) stays above it.
    worker_class = "sync"
    timeout = settings.triage_request_timeout
    keepalive = 2
graceful_timeout = 30
limit_request_line = 4096
limit_request_fields = 60
limit_request_field_size = 8190
preload_app = True

accesslog = None  # never an access log on either interface: reviewers' activity is in the audit log
errorlog = "-"
# gunicorn logs malformed requests at warning level WITH the client address: never on the reporter host.
loglevel = "error" if kind == "reporter" else "warning"
# One JSON object per line on stderr, for gunicorn's error log and the application alike
# (addresses and query strings in gunicorn's messages are masked; see portal/logs.py).
logconfig_dict = logging_config(kind, loglevel)
logging.captureWarnings(True)  # Python's warnings as JSON lines too, not free text on stderr
proc_name = f"portal-{kind}"
# X-Forwarded-Proto (https: Secure cookies, the same-origin check) is trusted from nginx on
# loopback only. gunicorn never takes a client address from X-Forwarded-For; the triage app
# reads it only with triage_trusted_proxies (docs/operations.md, "Settings").
forwarded_allow_ips = "127.0.0.1"


def post_worker_init(worker) -> None:
    """Each triage worker also screens new reports in a thread (portal/triage/screener.py), so
    screening runs whenever the triage interface does; portal-screen.service runs it on its own
    too. Workers claim each report before screening it, so any number of them can run."""
    if kind == "triage" and os.environ.get("PORTAL_SCREEN_IN_APP", "1") != "0":
        from portal import state
        from portal.triage import screener

        screener.start_thread(state.DATABASE.get(worker.wsgi), settings)
