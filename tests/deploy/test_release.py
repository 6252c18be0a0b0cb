"""Versions (issue #20): one version, in pyproject.toml, printed by `portal --version`, named by the
newest CHANGELOG.md entry; every release names its schema revision, the newest is Alembic's head,
and every release after the first has an upgrade test from the previous release's schema."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from portal.migrate import MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]
RELEASE = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - .+?\n\nSchema revision: `(\d{4})`", re.M | re.S)


def _releases() -> list[tuple[str, str]]:
    return RELEASE.findall((ROOT / "CHANGELOG.md").read_text("utf-8"))


def Version(text: str) -> tuple[int, int, int]:  # noqa: N802 (reads like packaging's, without the dependency)
    """MAJOR.MINOR.PATCH of a version string ("0.3.0.dev0" -> (0, 3, 0))."""
    major, minor, patch = re.match(r"(\d+)\.(\d+)\.(\d+)", text).groups()
    return int(major), int(minor), int(patch)


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def test_pyproject_the_installed_metadata_and_portal_version_agree():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    assert importlib.metadata.version("portal") == version, "reinstall: pip install -e . (make test does)"
    out = subprocess.run([str(Path(sys.executable).with_name("portal")), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"portal {version}"


def test_the_newest_changelog_entry_is_this_version_and_the_schema_head():
    version = Version(tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"])
    releases = _releases()
    assert releases, "CHANGELOG.md has no release entries"
    newest, schema = releases[0]
    assert Version(newest) == version, "pyproject.toml's version has no CHANGELOG.md entry"
    assert schema == _head(), "a migration was added without a CHANGELOG.md entry naming it"
    assert [Version(v) for v, _ in releases] == sorted((Version(v) for v, _ in releases), reverse=True)


def test_every_release_has_an_upgrade_test_from_the_previous_one():
    tests = (ROOT / "tests" / "web" / "test_migrations.py").read_text("utf-8")
    schemas = [schema for _, schema in reversed(_releases())]
    for previous, current in zip(schemas, schemas[1:], strict=False):
        if previous == current:
            continue
        assert f'upgrade(database_url, "{previous}")' in tests, f"no test upgrades schema {previous} to {current}"


def test_release_tags_name_changelog_entries():
    """Where the checkout has tags: each vX.Y.Z is a release CHANGELOG.md describes."""
    result = subprocess.run(["git", "-C", str(ROOT), "tag", "--list", "v*"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip("not a git checkout")
    documented = {v for v, _ in _releases()}
    for tag in result.stdout.split():
        assert tag.removeprefix("v") in documented, f"tag {tag} has no CHANGELOG.md entry"


def test_the_readme_lists_every_command_and_option():
    """README.md's Commands block names every `portal` command and every option an operator chooses."""
    import click

    from portal.cli import main

    block = (ROOT / "README.md").read_text("utf-8").split("## Commands", 1)[1].split("```")[1]

    def walk(group: click.Group, prefix: str):
        for name, command in group.commands.items():
            path = f"{prefix} {name}"
            if isinstance(command, click.Group):
                yield from walk(command, path)
            else:
                yield path, command

    for path, command in walk(main, "portal"):
        assert path in block, f"README.md does not list `{path}`"
        for param in command.params:
            if isinstance(param, click.Option) and param.name not in {"instance", "host"}:
                assert param.opts[0] in block, f"README.md does not show `{path} {param.opts[0]}`"
    assert "portal --version" in block
