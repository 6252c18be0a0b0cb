"""Fixtures shared by the web-level tests."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from portal.cli import main


@dataclass(frozen=True)
class CliEnvironment:
    instance_dir: str

    @staticmethod
    def invoke(argv: list[str], input: str | None = None):  # noqa: A002
        """`portal ARGV` in-process through click's CliRunner (exceptions kept on the result)."""
        return CliRunner().invoke(main, argv, input=input, catch_exceptions=True)


@pytest.fixture
def cli_environment(monkeypatch, settings_overrides, tmp_path) -> CliEnvironment:
    """The environment an operator's wrapper gives `portal`: the test's database and blob store in
    PORTAL_* variables (and nothing else of the caller's), run from a directory with no ./instance."""
    for name in list(os.environ):
        if name.startswith("PORTAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings_overrides["database_url"])
    monkeypatch.setenv("PORTAL_BLOB_STORE", settings_overrides["blob_store"])
    monkeypatch.setenv("PORTAL_BLOB_DIR", settings_overrides["blob_dir"])
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no ./instance: only what the command is told about counts
    return CliEnvironment(settings_overrides["instance_dir"])
