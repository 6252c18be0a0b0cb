"""The application factory: `create_app(kind)` builds one of the two separate WSGI apps.

"reporter" is the public reporter interface, "triage" the internal triage interface.
They share code, never routes, secrets or cookies. This module sits at the top of the
import layers (docs/architecture.md): it is the only one that knows both interfaces.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from portal import i18n, state
from portal.config import PROJECT_ROOT, load_settings
from portal.reports import app as reporter_app
from portal.storage import open_database
from portal.triage import app as triage_app

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
    i18n.init_app(app)

    @app.teardown_appcontext
    def _remove_session(_exc) -> None:
        database.remove()

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"taxonomy": settings.taxonomy, "portal_kind": kind}

    (reporter_app if kind == "reporter" else triage_app).configure(app, settings)
    return app
