"""Configuration: config/defaults.toml, then <instance>/portal.toml, then PORTAL_* environment,
then the caller's overrides (tests, `portal serve-dev`).

`load_settings` converts every value once, to the type its default has, and refuses a key that
is not a setting or a value that does not convert, naming it: a typo in portal.toml or a
PORTAL_* variable fails at start-up instead of being read as a string later.

Secrets never live here: they are files in the instance directory (see portal/instance.py),
so the reporter host and the triage host can each be given only the secrets they need.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import has_request_context

from portal.i18n import DEFAULT_LANGUAGE, LANGUAGES, current_language

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "config"


def _in_language(labels: tuple[tuple[str, str], ...]) -> str:
    """The label in the reader's language (the `label_<lang>` keys of taxonomy.toml), else English."""
    language = current_language() if has_request_context() else DEFAULT_LANGUAGE
    found = dict(labels)
    return found.get(language) or found[DEFAULT_LANGUAGE]


@dataclass(frozen=True)
class Category:
    key: str
    labels: tuple[tuple[str, str], ...]  # (language, label); English always
    high_risk: bool

    @property
    def label(self) -> str:
        return _in_language(self.labels)


@dataclass(frozen=True)
class RiskFlag:
    key: str
    labels: tuple[tuple[str, str], ...]
    high_risk: bool

    @property
    def label(self) -> str:
        return _in_language(self.labels)


@dataclass(frozen=True)
class ReferralCriterion:
    """One of the oversight body's mandatory-referral criteria (taxonomy.toml, portal.triage.mandatory)."""

    key: str
    labels: tuple[tuple[str, str], ...]

    @property
    def label(self) -> str:
        return _in_language(self.labels)


@dataclass(frozen=True)
class Taxonomy:
    categories: tuple[Category, ...]
    flags: tuple[RiskFlag, ...]
    referral_criteria: tuple[ReferralCriterion, ...] = ()
    # category or risk-flag key -> the key of the mandatory-referral criterion it meets
    referral_categories: dict[str, str] = field(default_factory=dict, hash=False)
    referral_flags: dict[str, str] = field(default_factory=dict, hash=False)
    referral_days: int = 1  # a mandatory referral is due this many days after the criterion was met

    @property
    def risk_flags(self) -> tuple[tuple[str, str], ...]:
        """(key, label in the reader's language) for each risk flag."""
        return tuple((f.key, f.label) for f in self.flags)

    @property
    def high_risk_flags(self) -> frozenset[str]:  # risk flags that make a report high-risk (second approval to close)
        return frozenset(f.key for f in self.flags if f.high_risk)

    @property
    def high_risk_categories(self) -> frozenset[str]:
        return frozenset(c.key for c in self.categories if c.high_risk)

    def label(self, key: str | None) -> str:
        for category in self.categories:
            if category.key == key:
                return category.label
        return ""

    def keys(self) -> set[str]:
        return {c.key for c in self.categories}


def _labels(entry: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """`label` (English) and any `label_<lang>` of the languages the portal speaks."""
    return ((DEFAULT_LANGUAGE, entry["label"]),) + tuple(
        (language, entry[f"label_{language}"]) for language in LANGUAGES if f"label_{language}" in entry)


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    data = tomllib.loads((path or CONFIG_DIR / "taxonomy.toml").read_text("utf-8"))
    categories = tuple(Category(c["key"], _labels(c), bool(c.get("high_risk", False))) for c in data.get("category", []))
    flags = tuple(RiskFlag(f["key"], _labels(f), bool(f.get("high_risk", False))) for f in data.get("risk_flag", []))
    criteria = tuple(ReferralCriterion(c["key"], _labels(c)) for c in data.get("referral_criterion", []))
    known = {c.key for c in criteria}

    def referral_map(entries: list[dict]) -> dict[str, str]:
        unknown = {e["referral"] for e in entries if "referral" in e} - known
        if unknown:
            raise ValueError(f"taxonomy.toml: unknown referral criterion {sorted(unknown)}")
        return {e["key"]: e["referral"] for e in entries if "referral" in e}

    days = int(data.get("referral", {}).get("days", 1))
    if not 0 <= days <= 365:
        raise ValueError("taxonomy.toml: [referral] days must be between 0 and 365")
    return Taxonomy(categories, flags, criteria, referral_map(data.get("category", [])),
                    referral_map(data.get("risk_flag", [])), days)


class SettingsError(ValueError):
    """A setting that does not exist or whose value does not convert to the setting's type."""


@dataclass(frozen=True)
class Settings:
    """Every key of config/defaults.toml (documented there), typed; see load_settings."""

    instance_dir: Path
    database_url: str = field(repr=False)  # the configured URL, or SQLite inside the instance directory when it is empty
    blob_store: str
    blob_dir: str
    redis_url: str = field(repr=False)  # may hold a password
    max_file_bytes: int
    max_report_bytes: int
    max_files: int
    upload_read_timeout: int
    upload_grace: int
    upload_min_rate: int
    max_text_chars: int
    max_short_chars: int
    max_people: int
    reporter_idle_timeout: int
    reviewer_idle_timeout: int
    reviewer_absolute_timeout: int
    form_token_lifetime: int
    pow_floor: int
    pow_ceiling: int
    pow_idle_per_minute: int
    pow_lifetime: int
    argon2_slots: int
    argon2_max_waiting: int
    argon2_max_wait: int
    daily_file_bytes_cap: int
    https: bool
    triage_trusted_proxies: int
    triage_request_timeout: int
    safe_copy_slots: int
    reporter_port: int
    triage_port: int
    acknowledge_days: int
    feedback_days: int
    approver_independence_days: int
    retention_days: int
    theme_min_count: int
    audit_checkpoint_entries: int
    audit_checkpoint_minutes: int
    audit_checkpoint_file: str
    login_free_attempts: int
    login_backoff_max: int
    smtp_host: str
    smtp_port: int
    smtp_starttls: bool
    smtp_user: str
    smtp_password: str = field(repr=False)
    smtp_from: str
    digest_languages: str
    onion_address_source: str
    onion_address_source_cy: str
    other_ways: tuple[Contact, ...]
    taxonomy: Taxonomy = field(repr=False)

    @property
    def shown_onion_address_source(self) -> str:
        """onion_address_source in the reader's language (onion_address_source_cy in Welsh, where set)."""
        return _in_language(((DEFAULT_LANGUAGE, self.onion_address_source), ("cy", self.onion_address_source_cy)))


@dataclass(frozen=True)
class Contact:
    """Another way to raise a concern, shown on the reporter's start page (setting `other_ways`)."""

    name: str
    website: str
    about: str = ""
    phone: str = ""
    name_cy: str = ""  # the Welsh, shown with ?lang=cy (the English where empty)
    about_cy: str = ""

    @property
    def shown_name(self) -> str:
        return _in_language(((DEFAULT_LANGUAGE, self.name), ("cy", self.name_cy)))

    @property
    def shown_about(self) -> str:
        return _in_language(((DEFAULT_LANGUAGE, self.about), ("cy", self.about_cy)))


_TYPES: dict[str, type] = {f.name: {"int": int, "bool": bool, "str": str, "Path": Path, "tuple[Contact, ...]": tuple}[f.type]
                           for f in dataclasses.fields(Settings) if f.name != "taxonomy"}
_CONTACT_KEYS = {f.name for f in dataclasses.fields(Contact)}


def _contacts(key: str, value: Any, source: str) -> tuple[Contact, ...]:
    """A list of {name, website, about, phone} tables (TOML), or the same as JSON (an environment variable)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise SettingsError(f"{key}: expected a JSON list of contacts (from {source})") from None
    if not isinstance(value, list | tuple) or not all(isinstance(c, dict | Contact) for c in value):
        raise SettingsError(f"{key}: expected a list of {{name, website, about, phone}} tables (from {source})")
    contacts = []
    for entry in value:
        if isinstance(entry, Contact):
            contacts.append(entry)
            continue
        unknown = set(entry) - _CONTACT_KEYS
        if unknown or not all(isinstance(v, str) for v in entry.values()) or not entry.get("name"):
            raise SettingsError(f"{key}: each contact needs a name and only {sorted(_CONTACT_KEYS)} as text (from {source})")
        if entry.get("website") and not entry["website"].startswith("https://"):
            raise SettingsError(f"{key}: {entry['name']}'s website must be an https:// address (from {source})")
        contacts.append(Contact(name=entry["name"], website=entry.get("website", ""), about=entry.get("about", ""),
                                phone=entry.get("phone", ""), name_cy=entry.get("name_cy", ""),
                                about_cy=entry.get("about_cy", "")))
    return tuple(contacts)
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _convert(key: str, value: Any, source: str) -> Any:
    """`value` (a TOML value, an override, or an environment string) as the setting's type."""
    kind = _TYPES[key]
    if kind is tuple:
        return _contacts(key, value, source)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        expected = "true or false"
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        expected = "an integer"
    else:
        if isinstance(value, str) or (kind is Path and isinstance(value, os.PathLike)):
            return kind(value)
        expected = "a string"
    raise SettingsError(f"{key}: expected {expected}, got {value!r} (from {source})")


def _check_keys(keys: Mapping[str, Any], where: str) -> None:
    """Refuse keys that are not settings (a typo would otherwise be silently ignored)."""
    unknown = sorted(set(keys) - set(_TYPES))
    if unknown:
        raise SettingsError(f"unknown setting{'s' if len(unknown) > 1 else ''} in {where}: {', '.join(unknown)} "
                            "(config/defaults.toml lists every setting)")


def load_settings(overrides: dict[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then <instance>/portal.toml, then PORTAL_<KEY> variables, then `overrides`.

    The instance directory itself comes from `overrides`, PORTAL_INSTANCE_DIR or the default
    (never from portal.toml, which lives in it). Raises SettingsError for an unknown key in
    portal.toml or `overrides`, or a value that does not convert; other PORTAL_* variables
    (PORTAL_APP_KIND, PORTAL_BIND, ...) are not settings and are left alone.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    _check_keys(overrides, "the overrides")
    defaults = CONFIG_DIR / "defaults.toml"
    values: dict[str, Any] = tomllib.loads(defaults.read_text("utf-8"))
    _check_keys(values, str(defaults))
    sources = dict.fromkeys(values, str(defaults))
    instance_dir = Path(overrides.get("instance_dir") or environ.get("PORTAL_INSTANCE_DIR") or values["instance_dir"]).resolve()
    local = instance_dir / "portal.toml"
    if local.exists():
        instance_values = tomllib.loads(local.read_text("utf-8"))
        _check_keys(instance_values, str(local))
        if "instance_dir" in instance_values:
            raise SettingsError(f"instance_dir cannot be set in {local}: it is the directory that holds the file")
        values.update(instance_values)
        sources.update(dict.fromkeys(instance_values, str(local)))
    for key in _TYPES:
        env_value = environ.get(f"PORTAL_{key.upper()}")
        if env_value is not None:
            values[key] = env_value
            sources[key] = f"PORTAL_{key.upper()}"
    values.update(overrides)
    sources.update(dict.fromkeys(overrides, "the overrides"))
    typed = {key: _convert(key, value, sources[key]) for key, value in values.items()}
    typed["instance_dir"] = instance_dir
    typed["database_url"] = typed["database_url"] or f"sqlite:///{instance_dir / 'portal.sqlite3'}"
    return Settings(**typed, taxonomy=load_taxonomy())
