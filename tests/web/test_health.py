"""Health and readiness endpoints answer without revealing anything."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("kind", ["reporter", "triage"])
def test_health_and_readiness_reveal_nothing(reporter_app, triage_app, kind):
    client = (reporter_app if kind == "reporter" else triage_app).test_client()
    health = client.get("/healthz")
    ready = client.get("/readyz")
    assert (health.status_code, health.data) == (200, b"ok\n")
    assert (ready.status_code, ready.data) == (200, b"ready\n")
    for response in (health, ready):
        assert "Set-Cookie" not in response.headers
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_readiness_fails_closed_when_the_database_is_gone(settings_overrides, database):
    from portal.app import create_app

    app = create_app("reporter", {**settings_overrides, "database_url": "postgresql://nobody@127.0.0.1:1/none"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.data == b"not ready\n"
