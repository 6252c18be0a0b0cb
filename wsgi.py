"""WSGI entry points: `gunicorn wsgi:reporter_app` and `gunicorn wsgi:triage_app`.

Each host imports only the application it serves; the other is built lazily so
a reporter host without the triage secrets still starts.
"""

from portal.app import create_app


def __getattr__(name: str):
    if name == "reporter_app":
        app = create_app("reporter")
    elif name == "triage_app":
        app = create_app("triage")
    else:
        raise AttributeError(name)
    globals()[name] = app
    return app
