"""Signed checkpoints of the audit chain's head, kept outside the database.

After a transaction that appended audit entries commits, `Checkpointer.after_commit` signs
the new head (portal.crypto.checkpoint) and appends it to the checkpoint file, when
`audit_checkpoint_entries` entries or `audit_checkpoint_minutes` minutes have passed since
the last checkpoint: no cron job is needed. Each checkpoint also goes to the structured
log (logger "portal.audit.checkpoints") and `portal digest` puts the current one in every
e-mail. `verify` checks the chain against every checkpoint since the last restore, so a
log cut short, emptied, or rolled back to an older copy of the database is reported.

The file is append-only JSON lines (mode 0600). Several gunicorn workers (and the CLI)
append to it: each append holds an exclusive flock, re-reads the last line and writes only
a head newer than it, so lines never interleave and sequence numbers never go back within
an epoch. A restore from a backup writes a signed "restore" line, which starts a new epoch.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.crypto import CryptoError
from portal.crypto import checkpoint as signed
from portal.crypto.checkpoint import Checkpoint
from portal.db import Database
from portal.instance import SecretError, read_secret, secrets_dir
from portal.triage import audit
from portal.triage.models import Reviewer

LOG = logging.getLogger("portal.audit.checkpoints")
SIGNING_SECRET = "audit_signing_key"  # noqa: S105 (the name of the secret file)
DEFAULT_FILE = "audit-checkpoints.jsonl"
_TAIL = 4096


def checkpoint_path(settings: Settings) -> Path:
    """`audit_checkpoint_file`, relative to the instance directory; empty: <instance>/audit-checkpoints.jsonl."""
    return settings.instance_dir / (settings.audit_checkpoint_file or DEFAULT_FILE)


def prepare_checkpoint_file(settings: Settings) -> Path:
    """Create the (empty) checkpoint file if it is missing, mode 0600: `portal init` does, so that a
    service whose instance directory is read-only (config/systemd/portal-triage.service) can be
    given this one file to write."""
    path = checkpoint_path(settings)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600))
    return path


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _age_minutes(at: str) -> float:
    then = dt.datetime.strptime(at, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    return (dt.datetime.now(dt.UTC) - then).total_seconds() / 60


class CheckpointFile:
    """The append-only file; every read and write under flock."""

    def __init__(self, path: Path, public: Ed25519PublicKey) -> None:
        self.path = path
        self.public = public

    def _open(self, flags: int) -> int:
        return os.open(self.path, flags | os.O_CLOEXEC, 0o600)

    def lines(self) -> list[str]:
        """Every line, oldest first ([] when there is no file)."""
        try:
            fd = self._open(os.O_RDONLY)
        except FileNotFoundError:
            return []
        with os.fdopen(fd, "rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
            data = handle.read()
        return [line for line in data.decode("utf-8", "replace").split("\n") if line.strip()]

    def _last(self, fd: int) -> Checkpoint | None:
        size = os.fstat(fd).st_size
        start = max(0, size - _TAIL)
        data = os.pread(fd, size - start, start).decode("utf-8", "replace")
        lines = [line for line in data.split("\n") if line.strip()]
        if not lines:
            return None
        try:
            return signed.parse(lines[-1], self.public)
        except CryptoError:
            return None  # a damaged last line: append a good one after it; `verify` reports the damage

    def append(self, make, newer_than_last: bool = True) -> tuple[Checkpoint | None, Checkpoint | None]:
        """Under the exclusive lock, call make(last) -> Checkpoint | None and append what it returns.

        Returns (last line before, line written)."""
        fd = self._open(os.O_RDWR | os.O_CREAT | os.O_APPEND)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = self._last(fd)
            new = make(last)
            if new is not None:
                os.write(fd, (new.to_line() + "\n").encode("ascii"))
                os.fsync(fd)
            return last, new
        finally:
            os.close(fd)  # releases the lock


@dataclass
class Checkpointer:
    """Signs and appends checkpoints for one instance (installed on a Database by `install`)."""

    seed: bytes = field(repr=False)
    file: CheckpointFile
    every_entries: int
    every_minutes: int
    _known: tuple[int, str] | None = field(default=None, repr=False)  # (seq, at) of the newest line this process saw
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Checkpointer:
        if not (secrets_dir(settings.instance_dir) / SIGNING_SECRET).exists():
            raise SecretError(f"instance secret {SIGNING_SECRET!r} missing from {secrets_dir(settings.instance_dir)}. New in "
                              "0.4.0: on the triage host, `portal init --app triage` creates it (and no other). If it "
                              "existed before, restore it from the offline secrets backup: the checkpoints are signed with it")
        seed = read_secret(settings.instance_dir, SIGNING_SECRET)
        return cls(seed, CheckpointFile(checkpoint_path(settings), signed.public_key(seed)),
                   max(1, settings.audit_checkpoint_entries), max(1, settings.audit_checkpoint_minutes))

    def install(self, database: Database) -> None:
        """Checkpoint after every commit of `database`'s sessions that appended to the audit log."""
        factory = database.sessions.session_factory
        if LOG.level == logging.NOTSET:
            LOG.setLevel(logging.INFO)  # the root logger shows warnings only; checkpoints belong in the log
        event.listen(factory, "after_commit", self._after_commit)
        event.listen(factory, "after_soft_rollback", self._after_rollback)

    def _after_rollback(self, session: Session, _previous) -> None:
        session.info.pop(audit.HEAD_INFO, None)

    def _after_commit(self, session: Session) -> None:
        head = session.info.pop(audit.HEAD_INFO, None)
        if head is None:
            return
        try:
            self.after_append(*head)
        except OSError as exc:  # the entries are committed; say so loudly, `portal audit verify` shows the gap
            LOG.error("audit checkpoint could not be written (%s): run `portal audit checkpoint`", type(exc).__name__)

    def _due(self, seq: int, last_seq: int, last_at: str) -> bool:
        return seq > last_seq and (seq - last_seq >= self.every_entries or _age_minutes(last_at) >= self.every_minutes)

    def after_append(self, seq: int, head: bytes) -> Checkpoint | None:
        """A committed head: checkpoint it if the interval has passed (cheap when it has not)."""
        known = self._known
        if known is not None and not self._due(seq, *known):
            return None

        def make(last: Checkpoint | None) -> Checkpoint | None:
            if last is not None and not self._due(seq, last.seq, last.at):
                return None
            return signed.sign(self.seed, "checkpoint", seq, head, _now())

        return self._append(make)

    def checkpoint_now(self, db: Session, kind: str = "checkpoint") -> Checkpoint:
        """Checkpoint the current head whatever the interval (`portal audit checkpoint`, the digest,
        a restore); returns the newest line, which may be an existing one for the same head."""
        seq, head = audit.head(db)

        def make(last: Checkpoint | None) -> Checkpoint | None:
            if kind == "checkpoint" and last is not None and last.seq >= seq:
                return None  # the same head (or a newer one, from a worker meanwhile) is already there
            return signed.sign(self.seed, kind, seq, head, _now())

        last, new = self.file.append(make)
        self._remember(new or last)
        if new is not None:
            LOG.info("audit checkpoint %s", new.to_line())
        return new or last

    def _append(self, make) -> Checkpoint | None:
        with self._lock:
            last, new = self.file.append(make)
            self._remember(new or last)
        if new is not None:
            LOG.info("audit checkpoint %s", new.to_line())
        return new

    def _remember(self, checkpoint: Checkpoint | None) -> None:
        if checkpoint is not None:
            self._known = (checkpoint.seq, checkpoint.at)


def checkpoint_footer(checkpoint: Checkpoint) -> str:
    """What the digest e-mail says about the audit log: keeping it lets an auditor check the log later."""
    return (f"Audit log head: entry {checkpoint.seq}, {checkpoint.head.hex()} (signed {checkpoint.at}).\n"
            "Keep this e-mail: `portal audit verify --expect "
            f"{checkpoint.seq}:{checkpoint.head.hex()}` shows whether the log was cut short since.\n"
            f"Signed checkpoint: {checkpoint.to_line()}")


@dataclass
class AuditCheck:
    ok: bool
    entries: int
    head_seq: int
    head_hash: bytes
    problem: str = ""
    latest: Checkpoint | None = None
    restores: list[Checkpoint] = field(default_factory=list)


def read_checkpoints(file: CheckpointFile) -> tuple[list[Checkpoint], str]:
    """Every line checked: (the checkpoints since the last restore line, a problem or "")."""
    epoch: list[Checkpoint] = []
    for number, line in enumerate(file.lines(), start=1):
        try:
            cp = signed.parse(line, file.public)
        except CryptoError as exc:
            return epoch, f"line {number} of {file.path} is not a valid checkpoint ({exc}): the file was edited"
        if cp.kind == "restore":
            epoch = [cp]
            continue
        if epoch and cp.seq < epoch[-1].seq:
            return epoch, f"line {number} of {file.path} goes back from entry {epoch[-1].seq} to {cp.seq}: the file was edited"
        epoch.append(cp)
    return epoch, ""


def newest_checkpoint(settings: Settings) -> tuple[int, bytes] | None:
    """(seq, head) of the newest checkpoint since the last restore line, for `portal restore` to refuse
    an older archive; None when the instance has no signing key or no checkpoint yet. Raises
    SecretError when the checkpoint file fails its check (edited: nothing in it can be trusted)."""
    if not (secrets_dir(settings.instance_dir) / SIGNING_SECRET).exists():
        return None
    epoch, problem = read_checkpoints(Checkpointer.from_settings(settings).file)
    if problem:
        raise SecretError(problem)
    return (epoch[-1].seq, epoch[-1].head) if epoch else None


def verify(db: Session, audit_key: bytes, file: CheckpointFile, external: tuple[int, bytes] | None = None) -> AuditCheck:
    """The chain, checked against every checkpoint of the current epoch and an externally recorded head."""
    epoch, problem = read_checkpoints(file)
    restores = [cp for cp in epoch if cp.kind == "restore"]
    latest = epoch[-1] if epoch else None
    expected = {cp.seq: cp.head for cp in epoch if cp.seq > 0}
    if external is not None:
        expected[external[0]] = external[1]
    result = audit.verify_chain(db, audit_key, expected)
    check = AuditCheck(result.ok and not problem, result.entries, result.head_seq, result.head_hash,
                       problem or result.problem, latest, restores)
    if check.ok and latest is None and result.entries:
        check.ok = False
        check.problem = (f"no checkpoint in {file.path}: nothing outside the database vouches for the end of the log "
                         "(after an upgrade, run `portal audit checkpoint` once)")
    if check.ok and not result.entries and db.scalar(select(func.count()).select_from(Reviewer)):
        # Every reviewer account is created with an audit entry: an empty log beside accounts was emptied.
        check.ok = False
        check.problem = "the audit log is empty, but the portal has reviewer accounts, each created with an audit entry"
    return check
