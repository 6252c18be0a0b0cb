"""Configuration: config/defaults.toml, then <instance>/portal.toml, then PORTAL_* environment.

Secrets never live here: they are files in the instance directory (see
portal/instance.py), so the reporter host and the triage host can each be given
only the secrets they need.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "config"


@dataclass(frozen=True)
class Category:
    key: str
    label: str
    high_risk: bool


@dataclass(frozen=True)
class Taxonomy:
    categories: tuple[Category, ...]
    risk_flags: tuple[tuple[str, str], ...]

    def label(self, key: str | None) -> str:
        for category in self.categories:
            if category.key == key:
                return category.label
        return ""

    def keys(self) -> set[str]:
        return {c.key for c in self.categories}


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    data = tomllib.loads((path or CONFIG_DIR / "taxonomy.toml").read_text("utf-8"))
    categories = tuple(Category(c["key"], c["label"], bool(c.get("high_risk", False))) for c in data.get("category", []))
    flags = tuple((f["key"], f["label"]) for f in data.get("risk_flag", []))
    return Taxonomy(categories, flags)


def _coerce(value: str, like: Any) -> Any:
    if isinstance(like, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(like, int):
        return int(value)
    return value


@dataclass(frozen=True)
class Settings:
    values: dict[str, Any]
    instance_dir: Path
    taxonomy: Taxonomy = field(repr=False)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def database_url(self) -> str:
        url = self.values.get("database_url") or ""
        return url or f"sqlite:///{self.instance_dir / 'portal.sqlite3'}"


def load_settings(overrides: dict[str, Any] | None = None, environ: os._Environ | dict | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = tomllib.loads((CONFIG_DIR / "defaults.toml").read_text("utf-8"))
    overrides = dict(overrides or {})
    instance_dir = Path(overrides.get("instance_dir") or environ.get("PORTAL_INSTANCE_DIR") or values["instance_dir"]).resolve()
    local = instance_dir / "portal.toml"
    if local.exists():
        values.update(tomllib.loads(local.read_text("utf-8")))
    for key, default in list(values.items()):
        env_value = environ.get(f"PORTAL_{key.upper()}")
        if env_value is not None:
            values[key] = _coerce(env_value, default)
    values.update(overrides)
    values["instance_dir"] = str(instance_dir)
    return Settings(values=values, instance_dir=instance_dir, taxonomy=load_taxonomy())
