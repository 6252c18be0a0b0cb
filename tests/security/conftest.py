"""Fixtures shared by the adversarial battery."""

from __future__ import annotations

import pytest
from test_adversarial_common import build_app


@pytest.fixture
def apps(settings_overrides, database, lead, recovery_key):
    """The reporter and the triage app on one instance, with generous rate limits."""
    reporter = build_app("reporter", settings_overrides, max_file_bytes=1 << 20)  # small: a test can make a file error cheaply
    triage = build_app("triage", settings_overrides, max_file_bytes=1 << 20)
    yield reporter, triage
    reporter.extensions["portal.db"].dispose()
    triage.extensions["portal.db"].dispose()
