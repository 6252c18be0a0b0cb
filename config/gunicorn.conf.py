"""gunicorn settings for `portal serve reporter|triage`.

The reporter interface runs with NO access log and an error log that never
includes request lines: nothing that could identify a reporter is written.
Bind addresses come from PORTAL_BIND (default: loopback, behind nginx or Tor).
Every log line, gunicorn's own included, is a JSON object (portal/logs.py): on
the reporter host with the date only, never a time of day.
"""

import logging
import os

from portal.logs import logging_config

kind = os.environ.get("PORTAL_APP_KIND", "reporter")

bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8080" if kind == "reporter" else "127.0.0.1:8081")
workers = int(os.environ.get("PORTAL_WORKERS", "2"))
worker_class = "sync"
timeout = 900  # a 200 MiB upload over a slow Tor circuit (nginx streams it: proxy_request_buffering off)
graceful_timeout = 30
keepalive = 5
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
# Do not trust X-Forwarded-For: the reporter app never uses client addresses anyway.
forwarded_allow_ips = "127.0.0.1"
