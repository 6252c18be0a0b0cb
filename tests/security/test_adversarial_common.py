"""Shared helpers for the adversarial battery (tests/security/test_adversarial_*.py).

This module holds no tests: it builds apps with raised rate limits (so a fuzz
run is not cut short by a 429), hand-made multipart bodies (invalid UTF-8,
files where text is expected, hostile file names), checks that a response is
graceful, and reads everything the database and the instance directory hold so
a test can search it for a plaintext marker.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import select
from triage_support import stand_in_for_screening

from portal.app import create_app
from portal.db import Base

# One distinctive marker, put in every piece of fuzzed text: it must never be found at rest.
MARKER = "QZJ7XMARKERK4W"
MARKER_BYTES = MARKER.encode()

FUZZ = settings(
    max_examples=int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "35")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example],
    derandomize=False,
    database=None,
)

GENEROUS_LIMITS = {
    "login_free_attempts": 100000,
}

# Values that have broken web applications before: SQL and template syntax, Unicode digits
# that pass str.isdigit() but not int(), huge numbers, NUL, RTL overrides, path traversal.
NASTY = [
    "", " ", "0", "-1", "1e309", "99999999999999999999", "9" * 400, "²", "١٢", "٣", "½", "Ⅻ",
    "' OR '1'='1", "'; DROP TABLE reports; --", '" OR ""="', "1; SELECT pg_sleep(5)--", "%", "_", "\\",
    "{{ 7*7 }}", "{% raw %}", "${7*7}", "<script>alert(1)</script>", "javascript:alert(1)",
    "\x00", "a\x00b", "\u202eexe.txt", "\ufeff", "\ud7ff", "../../etc/passwd", "%00", "%2e%2e%2f",
    "null", "None", "true", "[]", "{}", "NaN", "Infinity", "\r\n", "\t", "😀" * 50, "Ä" * 300,
]


def nasty_text(max_size: int = 60) -> st.SearchStrategy[str]:
    """Arbitrary text (control characters and NUL included) or a known-hostile value."""
    return st.one_of(st.sampled_from(NASTY), st.text(max_size=max_size),
                     st.text(alphabet=st.characters(codec="utf-8", max_codepoint=0x9F), max_size=max_size))


def marked_text(max_size: int = 60) -> st.SearchStrategy[str]:
    """Text carrying the marker, sometimes huge (up to about 100 KB)."""
    body = nasty_text(max_size)
    huge = st.builds(lambda s, n: (s or "x") * n, st.text(min_size=1, max_size=4), st.integers(1000, 25_000))
    return st.builds(lambda a, b: f"{a}{MARKER}{b}"[:100_000], st.one_of(body, body, body, huge), body)


def build_app(kind: str, settings_overrides: dict, **extra):
    app = create_app(kind, {**settings_overrides, **GENEROUS_LIMITS, **extra})
    app.config["TESTING"] = True
    if kind == "triage":
        stand_in_for_screening(app)  # as portal-screen.service would have screened new reports
    return app


def reporter_token(app) -> str:
    """A fresh one-time form token, as a form page would carry."""
    with app.app_context():
        return app.extensions["portal.form_tokens"].issue()


# -- multipart bodies ---------------------------------------------------------------------


def _quote_filename(name: str) -> bytes:
    # What browsers do: percent-encode the quote and line breaks, send the rest as UTF-8.
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A").encode("utf-8", "surrogatepass")


def multipart(parts: Iterable[tuple]) -> tuple[bytes, str]:
    """Encode (name, value) text parts and (name, content, filename, content_type) file parts.

    Values may be bytes (sent as they are, so invalid UTF-8 is possible).
    """
    boundary = "----adversarial" + uuid.uuid4().hex
    out = bytearray()
    for part in parts:
        name = part[0]
        out += b"--" + boundary.encode() + b"\r\n"
        if len(part) == 2:
            value = part[1] if isinstance(part[1], bytes) else str(part[1]).encode("utf-8", "surrogatepass")
            out += b'Content-Disposition: form-data; name="' + _quote_filename(name) + b'"\r\n\r\n' + value + b"\r\n"
        else:
            content, filename, ctype = part[1], part[2], part[3]
            out += (b'Content-Disposition: form-data; name="' + _quote_filename(name) + b'"; filename="'
                    + _quote_filename(filename) + b'"\r\n')
            out += b"Content-Type: " + (ctype or "application/octet-stream").encode("latin-1", "replace") + b"\r\n\r\n"
            out += content + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def post_multipart(client, path: str, parts, **kwargs):
    body, ctype = multipart(parts)
    return client.post(path, data=body, content_type=ctype, **kwargs)


# -- what a graceful answer looks like -------------------------------------------------


def assert_graceful(response, *, allow_json: bool = False) -> None:
    """Never a 500; a 4xx is an HTML page with a heading (an error page or the form again)."""
    assert response.status_code < 500, (response.status_code, response.data[-1500:])
    if response.status_code >= 400:
        if allow_json and response.mimetype == "application/json":
            body = response.get_json()
            assert body["ok"] is False and body["errors"], body
            return
        assert response.mimetype == "text/html", (response.status_code, response.mimetype)
        assert re.search(rb"<h1[^>]*>[^<]+", response.data), response.data[-1500:]


# -- what is at rest -------------------------------------------------------------------------


def table_dump(database) -> bytes:
    """Every value of every table (the PostgreSQL stand-in for reading the database file)."""
    import portal.models  # noqa: F401  (registers every table)

    chunks: list[bytes] = []
    with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for value in row:
                    if isinstance(value, (bytes, bytearray, memoryview)):
                        chunks.append(bytes(value))
                    elif value is not None:
                        chunks.append(str(value).encode("utf-8", "surrogatepass"))
    return b"\n".join(chunks)


def instance_bytes(instance_dir: Path) -> bytes:
    """Every file under the instance directory: the SQLite database, its -wal and -shm, secrets, anything else."""
    return b"\n".join(p.read_bytes() for p in sorted(Path(instance_dir).rglob("*")) if p.is_file())


def blob_store_bytes(database, instance_dir: Path) -> bytes:
    """Every file of the filesystem blob store when it lives outside the instance directory."""
    directory = getattr(database.blob_store, "directory", None)
    if directory is None or not directory.exists() or directory.is_relative_to(Path(instance_dir).resolve()):
        return b""
    return b"\n".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def everything_at_rest(database, instance_dir: Path) -> bytes:
    """The instance directory, the blob directory (wherever it is) and every row of every table."""
    return instance_bytes(instance_dir) + b"\n" + blob_store_bytes(database, instance_dir) + b"\n" + table_dump(database)


def assert_not_at_rest(needles: Iterable[bytes | str], database, instance_dir: Path) -> None:
    haystack = everything_at_rest(database, instance_dir)
    lowered = haystack.lower()
    for needle in needles:
        raw = needle.encode("utf-8") if isinstance(needle, str) else needle
        assert raw.lower() not in lowered, f"{raw!r} found at rest"
        # UTF-16 too (a driver or a log could widen text)
        assert raw.decode("utf-8", "ignore").encode("utf-16-le") not in haystack, f"{raw!r} found at rest as UTF-16"


def row_counts(database, *models) -> dict[str, int]:
    from sqlalchemy import func

    session = database.session
    session.expire_all()
    counts = {m.__tablename__: session.scalar(select(func.count()).select_from(m)) for m in models}
    session.rollback()
    return counts
