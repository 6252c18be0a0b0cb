"""What both applications share: security headers, error pages, structured logging without addresses."""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import Flask, Response, abort, g, render_template, request
from flask.logging import default_handler
from flask_babel import lazy_gettext as _l
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from portal import state
from portal.logs import AppTag, NoClientDetails, json_handler

CSP_REPORTER = (
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
CSP_TRIAGE = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

# Only features Chromium recognises: an unknown one (ambient-light-sensor, battery, document-domain)
# is ignored anyway and logs a console warning on every page load (tests/browser/test_reporter_journey_browser.py).
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), "
    "encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), hid=(), idle-detection=(), magnetometer=(), "
    "microphone=(), midi=(), payment=(), picture-in-picture=(), publickey-credentials-get=(), "
    "screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=(), browsing-topics=()"
)

ERROR_MESSAGES = {
    400: (_l("Something was wrong with that request"), _l("The page could not use what was sent. Go back and try again.")),
    403: (_l("This form has expired"), _l("For your security, forms can only be sent once and for a limited time. "
                                          "Go back, reload the page and send it again: what you typed is still in the form.")),
    404: (_l("Page not found"), _l("The address may be mistyped, or the page is not available to you.")),
    405: (_l("Page not found"), _l("The address may be mistyped, or the page is not available to you.")),
    408: (_l("The connection was too slow"), _l("What you sent did not arrive fast enough and was not kept. Go back and send it "
                                                "again: what you typed is still in the form (attach any files again).")),
    413: (_l("That upload is too large"), _l("The files you attached are larger than the portal accepts. "
                                             "Go back and remove or shrink some of them.")),
    429: (_l("Too many attempts"), _l("Please wait a few minutes before you try again.")),
    500: (_l("Sorry, there is a problem with the service"), _l("Nothing you sent has been stored in readable form. "
                                                               "Please try again later.")),
}


def security_headers(response: Response, csp: str) -> Response:
    headers = response.headers
    if "sandbox" not in headers.get("Content-Security-Policy", ""):  # downloads keep their stricter policy
        headers["Content-Security-Policy"] = csp
    if headers.get("Referrer-Policy") != "same-origin":  # the one looser policy a view may choose (portal.forms)
        headers["Referrer-Policy"] = "no-referrer"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = PERMISSIONS_POLICY
    headers["Cache-Control"] = "no-store, max-age=0"
    headers["Pragma"] = "no-cache"
    headers.pop("Last-Modified", None)
    headers.pop("ETag", None)
    return response


def configure_logging(app: Flask) -> None:
    """JSON lines (portal/logs.py) with no client details, whoever configured the process's logging.

    Under gunicorn, config/gunicorn.conf.py has already given the root logger the JSON handler;
    where nobody has (`portal serve-dev`, a script), the first app created installs it. The
    app's records propagate to the root handler, tagged with the app's kind.
    """
    # Werkzeug's request log prints the client address: silence it entirely.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    kind = app.config.get("PORTAL_KIND")
    logger = app.logger
    logger.removeHandler(default_handler)  # Flask's plain-text handler, with a time to the millisecond
    # One logger per kind, shared by every app of that kind in the process: add the filters once.
    if not any(isinstance(f, NoClientDetails) for f in logger.filters):
        logger.addFilter(NoClientDetails())
    if kind and not any(isinstance(f, AppTag) for f in logger.filters):
        logger.addFilter(AppTag(kind))
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(json_handler())


def install(app: Flask, csp: str, error_template: str) -> None:
    configure_logging(app)
    app.add_url_rule("/healthz", "healthz", _healthz)
    app.add_url_rule("/readyz", "readyz", _readyz)

    @app.after_request
    def _headers(response: Response) -> Response:
        return security_headers(response, csp)

    @app.before_request
    def _refuse_nul() -> None:
        # No address or query string needs a NUL, and PostgreSQL text cannot hold one
        # (a NUL reaching a query was a 500 there): refuse it before any view runs.
        if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)):
            abort(400)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = exc.code or 500
        return _error_page(error_template, code, ERROR_MESSAGES.get(code, ERROR_MESSAGES[400] if code < 500 else ERROR_MESSAGES[500]))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # The type only: an exception's message could contain user input. The route pattern, not the path.
        app.logger.error("unhandled exception", extra={"exc_type": type(exc).__name__, "method": request.method,
                                                       "route": request.url_rule.rule if request.url_rule else None})
        try:  # a failed PostgreSQL transaction would otherwise fail the error page's own queries too
            state.db_session().rollback()
        except Exception:  # noqa: S110 - the error page must render whatever the database's state
            pass
        return _error_page(error_template, 500, ERROR_MESSAGES[500])


def _error_page(template: str, code: int, text: tuple[str, str]):
    """The error as JSON for the reporter's scripts, else as the app's error page."""
    title, message = str(text[0]), str(text[1])  # in this request's language
    if request.accept_mimetypes.best == "application/json":
        return {"ok": False, "errors": [{"field": "", "message": f"{title}. {message}"}]}, code
    g.portal_error_page = True  # its language switch leads home (portal.i18n.language_url)
    return render_template(template, title=title, message=message, status=code), code


def _healthz():
    """Liveness: the process answers. Reveals nothing else."""
    return Response("ok\n", mimetype="text/plain")


def _readyz():
    """Readiness: the database answers. Reveals nothing about its contents or its address."""
    try:
        with state.database().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return Response("not ready\n", status=503, mimetype="text/plain")
    return Response("ready\n", mimetype="text/plain")


def _closing(chunks, session):
    """Yield the chunks, then close the session they were read with.

    The chunks are read from the database as they are sent, after the view has
    returned and the request's teardown has already closed its session: those
    reads open a new transaction on that session, which nothing else would end
    (its connection stayed checked out, idle in a transaction, until garbage
    collection).
    """
    try:
        yield from chunks
    finally:
        session.close()


def download_response(chunks, filename: str) -> Response:
    """Always a download, never rendered: an attached HTML or SVG file cannot run here."""
    ascii_name = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in filename)[:100] or "attachment"
    response = Response(_closing(chunks, state.db_session()), mimetype="application/octet-stream")
    disposition = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:  # RFC 6266: the real (already made-safe) name too, percent-encoded
        disposition += f"; filename*=UTF-8''{quote(filename[:200], safe='')}"
    response.headers["Content-Disposition"] = disposition
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
