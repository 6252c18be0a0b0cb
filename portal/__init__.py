"""Confidential reporting portal.

`create_app(kind)` builds one of two separate WSGI applications: the public
reporter interface ("reporter") or the internal triage interface ("triage").
They share code, never routes, secrets or cookies.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from portal import state
from portal.config import PROJECT_ROOT, load_settings
from portal.storage import open_database

KINDS = ("reporter", "triage")


def create_app(kind: str, config: dict[str, Any] | None = None) -> Flask:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    settings = load_settings(config)
    app = Flask(
        f"portal.{kind}",
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        static_url_path="/static",
    )
    app.config["PORTAL_KIND"] = kind
    state.SETTINGS.install(app, settings)
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 0
    app.config["TEMPLATES_AUTO_RELOAD"] = False
    database = state.DATABASE.install(app, open_database(settings))

    @app.teardown_appcontext
    def _remove_session(_exc) -> None:
        database.remove()

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"taxonomy": settings.taxonomy, "portal_kind": kind}

    if kind == "reporter":
        from portal.reports.app import configure

        configure(app, settings)
    else:
        from portal.triage.app import configure

        configure(app, settings)
    return app
