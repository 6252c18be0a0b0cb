"""What every `portal` command shares: the instance it works on (`--instance`, through the click
context), its database for one command, and the audit entry a command writes as the actor "cli"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import click

from portal.config import Settings, load_settings
from portal.db import Database
from portal.deadlines import Deadlines
from portal.instance import read_secret
from portal.storage import open_database
from portal.triage import audit as audit_log
from portal.triage.checkpoints import SIGNING_SECRET, Checkpointer

CLI_ACTOR = "cli"  # the audit log's actor for changes made with this command on a host


@dataclass
class Instance:
    """What the group's --instance chose; commands read the settings from here (loaded once, on first use)."""

    directory: str | None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings({"instance_dir": self.directory} if self.directory else None)
        return self._settings


pass_instance = click.make_pass_decorator(Instance)


@contextmanager
def instance_database(settings: Settings) -> Iterator[Database]:
    """The instance's database (and blob store) for one command, disposed when it ends."""
    database = open_database(settings)
    if (settings.instance_dir / "secrets" / SIGNING_SECRET).is_file():  # the triage host: its entries are checkpointed
        Checkpointer.from_settings(settings).install(database)
    try:
        yield database
    finally:
        database.dispose()


def record_cli_action(session, settings: Settings, action: str, report_ref: str | None = None, **detail) -> None:
    audit_log.record(session, read_secret(settings.instance_dir, "audit_key"), CLI_ACTOR, action, report_ref, **detail)


def refresh_deadlines(settings: Settings) -> None:
    """Bring every stored deadline in line with the configured number of days (they may have changed)."""
    with instance_database(settings) as database, database.transaction() as session:
        Deadlines.from_settings(settings).refresh_all(session)
