"""Typed settings (portal/config.py): every key of config/defaults.toml is one typed field, values
are converted once at load, and an unknown key or a value that does not convert is a clear error."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from portal.config import CONFIG_DIR, Settings, SettingsError, load_settings

DEFAULTS = tomllib.loads((CONFIG_DIR / "defaults.toml").read_text("utf-8"))


def test_every_default_is_one_typed_field():
    fields = {f.name: f.type for f in dataclasses.fields(Settings)}
    assert set(fields) == set(DEFAULTS) | {"taxonomy"}
    for key, value in DEFAULTS.items():
        expected = {bool: "bool", int: "int", str: "str", list: "tuple[Contact, ...]"}[type(value)]
        assert fields[key] == ("Path" if key == "instance_dir" else expected), key


def test_defaults_load_with_their_types(tmp_path):
    settings = load_settings({"instance_dir": str(tmp_path)}, environ={})
    assert settings.instance_dir == tmp_path.resolve()
    assert settings.max_file_bytes == 52428800 and settings.https is False and settings.smtp_starttls is True
    assert settings.login_free_attempts == 5 and settings.login_backoff_max == 900
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'portal.sqlite3'}"  # empty: SQLite in the instance
    assert settings.taxonomy.categories
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_files = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        settings.no_such_setting  # noqa: B018  (no catch-all attribute lookup any more)


def test_environment_strings_are_converted(tmp_path):
    settings = load_settings({"instance_dir": str(tmp_path)}, environ={
        "PORTAL_ARGON2_SLOTS": "3", "PORTAL_HTTPS": "yes", "PORTAL_SMTP_STARTTLS": "off", "PORTAL_SMTP_HOST": "mail.example",
        "PORTAL_DATABASE_URL": "postgresql:///elsewhere", "PORTAL_APP_KIND": "triage",  # not a setting: left alone
    })
    assert settings.argon2_slots == 3 and isinstance(settings.argon2_slots, int)
    assert settings.https is True and settings.smtp_starttls is False
    assert settings.smtp_host == "mail.example"
    assert settings.database_url == "postgresql:///elsewhere"


def test_precedence_defaults_then_instance_file_then_environment_then_overrides(tmp_path):
    (tmp_path / "portal.toml").write_text("acknowledge_days = 3\nfeedback_days = 30\nretention_days = 100\n")
    environ = {"PORTAL_INSTANCE_DIR": str(tmp_path), "PORTAL_FEEDBACK_DAYS": "40", "PORTAL_RETENTION_DAYS": "200"}
    settings = load_settings({"retention_days": 300}, environ=environ)
    assert settings.instance_dir == tmp_path.resolve()  # from PORTAL_INSTANCE_DIR
    assert settings.acknowledge_days == 3  # portal.toml over the default (7)
    assert settings.feedback_days == 40  # the environment over portal.toml
    assert settings.retention_days == 300  # overrides over everything
    assert settings.theme_min_count == 5  # untouched default
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    assert load_settings({"instance_dir": str(elsewhere)}, environ=environ).instance_dir == elsewhere.resolve()


def test_a_malformed_value_names_the_setting_and_the_value(tmp_path):
    with pytest.raises(SettingsError, match=r"^argon2_slots: expected an integer, got 'abc' \(from PORTAL_ARGON2_SLOTS\)$"):
        load_settings({"instance_dir": str(tmp_path)}, environ={"PORTAL_ARGON2_SLOTS": "abc"})
    with pytest.raises(SettingsError, match="https: expected true or false, got 'maybe'"):
        load_settings({"instance_dir": str(tmp_path)}, environ={"PORTAL_HTTPS": "maybe"})
    (tmp_path / "portal.toml").write_text('max_files = "20"\nsmtp_host = 25\n')
    with pytest.raises(SettingsError, match="smtp_host: expected a string, got 25") as caught:
        load_settings({"instance_dir": str(tmp_path)}, environ={})
    assert str(tmp_path / "portal.toml") in str(caught.value)
    with pytest.raises(SettingsError, match="max_files: expected an integer, got True"):
        load_settings({"instance_dir": str(tmp_path), "max_files": True, "smtp_host": ""}, environ={})


def test_an_unknown_key_is_refused_where_it_was_written(tmp_path):
    with pytest.raises(SettingsError, match="unknown setting in the overrides: max_flies"):
        load_settings({"instance_dir": str(tmp_path), "max_flies": 2}, environ={})
    (tmp_path / "portal.toml").write_text("acknowledge_days = 3\nretention_dayz = 10\n")
    with pytest.raises(SettingsError, match="unknown setting in .*portal.toml: retention_dayz"):
        load_settings({"instance_dir": str(tmp_path)}, environ={})
    (tmp_path / "portal.toml").write_text(f'instance_dir = "{tmp_path / "x"}"\n')
    with pytest.raises(SettingsError, match="instance_dir cannot be set in"):
        load_settings({"instance_dir": str(tmp_path)}, environ={})


def test_settings_errors_are_value_errors(tmp_path):
    """Callers that caught ValueError for a bad setting still do."""
    with pytest.raises(ValueError):
        load_settings({"instance_dir": str(tmp_path)}, environ={"PORTAL_MAX_FILES": "many"})


def test_the_shipped_instance_examples_load(tmp_path):
    for example in sorted((CONFIG_DIR / "deploy").glob("*.portal.toml")):
        (tmp_path / "portal.toml").write_text(example.read_text("utf-8"))
        settings = load_settings({"instance_dir": str(tmp_path)}, environ={})
        assert isinstance(settings.https, bool), example
