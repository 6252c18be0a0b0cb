"""Structured application logs: one JSON object per line, nothing about the people using the portal.

Every line has `level`, `app` ("reporter", "triage", or "portal" where a line cannot
be attributed), `logger` and `event` (the message), and may have `exc_type` (an
exception's class name: never its message or traceback, which could quote user input),
`method`, `route` (the URL rule, e.g. "/follow-up/files/<hex_id>", never the path's values
or a query string) and `status`. Nothing else a record carries is written.

Time: the triage app's lines carry `time`, UTC to the second, like its audit log. The
reporter app's lines carry only `date` (UTC day), the granularity of everything else
the portal stores about reporters: a time of day on a reporter line (an error during a
submission, say) could be matched with a force's network logs of who connected when.
A line that cannot be attributed to the triage app gets the date only as well.

Defence in depth for third-party messages (gunicorn's "Invalid request from ip=...",
"Error handling request /path?query"): anything shaped like an IPv4 or IPv6 address
becomes "[address]" and any query string "?[query]"; records carrying a client's
address, user agent or referrer as attributes are dropped (NoClientDetails).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import Any

EXTRA_FIELDS = ("exc_type", "method", "route", "status")  # the only attributes of a record ever written
CLIENT_DETAILS = ("remote_addr", "user_agent", "referrer")
MAX_EVENT_CHARS = 500

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:.])")
_QUERY = re.compile(r"\?[^\s\"'<>]+")


def _ipv6(match: re.Match) -> str:
    found = match.group(0)
    if found == "::" or found.count(":") < 2:
        return found
    if found.endswith(":") and not found.endswith("::"):  # "ip=2001:db8::17: message": the colon is punctuation
        return "[address]:"
    return "[address]"


def scrub(text: str) -> str:
    """Replace what looks like a network address or a query string."""
    text = _QUERY.sub("?[query]", text)
    text = _IPV6.sub(_ipv6, text)  # first: an IPv6 address may end in an IPv4 one
    return _IPV4.sub("[address]", text)


class NoClientDetails(logging.Filter):
    """Drop any log record that carries request details about the client."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(hasattr(record, attr) for attr in CLIENT_DETAILS)


class AppTag(logging.Filter):
    """Marks the records of one application's logger with its kind (reporter or triage)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def filter(self, record: logging.LogRecord) -> bool:
        record.portal_app = self.kind
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; see the module's docstring for the fields.

    `app` is the process's application (gunicorn serves one); records tagged by AppTag
    keep their own. Only records of a triage process, not tagged as the reporter's, get
    a time of day.
    """

    def __init__(self, app: str | None = None) -> None:
        super().__init__()
        self.app = app

    def format(self, record: logging.LogRecord) -> str:
        app = getattr(record, "portal_app", None) or self.app
        when = dt.datetime.fromtimestamp(record.created, dt.UTC)
        line: dict[str, Any] = {}
        if self.app == "triage" and app == "triage":
            line["time"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            line["date"] = when.date().isoformat()
        line["level"] = record.levelname.lower()
        line["app"] = app or "portal"
        line["logger"] = record.name
        try:
            message = record.getMessage()
        except Exception:  # a message that does not format: its template, never its arguments
            message = str(record.msg)
        event = scrub(message)
        line["event"] = event if len(event) <= MAX_EVENT_CHARS else event[:MAX_EVENT_CHARS] + "..."
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value if isinstance(value, int) and not isinstance(value, bool) else scrub(str(value))
        if record.exc_info and record.exc_info[0] is not None and "exc_type" not in line:
            line["exc_type"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=True, separators=(",", ":"))


def json_handler(app: str | None = None, stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(app))
    handler.addFilter(NoClientDetails())
    return handler


def logging_config(app: str | None, gunicorn_level: str = "warning") -> dict[str, Any]:
    """A logging.config.dictConfig for a process serving `app`: every logger, gunicorn's
    error log included, writes JSON lines to stderr; gunicorn's access log goes nowhere."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"no_client_details": {"()": "portal.logs.NoClientDetails"}},
        "formatters": {"json": {"()": "portal.logs.JsonFormatter", "app": app}},
        "handlers": {
            "json": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "json",
                     "filters": ["no_client_details"]},
            "nowhere": {"class": "logging.NullHandler"},
        },
        "root": {"level": "WARNING", "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": gunicorn_level.upper(), "handlers": ["json"], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "handlers": ["nowhere"], "propagate": False},
            "werkzeug": {"level": "ERROR"},  # its request lines carry the client's address
        },
    }
