"""The receiving bodies a report can be referred to (config/bodies.toml) and their registered keys.

The bodies are configuration: `<instance>/bodies.toml` when the operator has written one (with
the contact details agreed with each body), else the repository's config/bodies.toml. A body's
public key is data: registered with `portal bodies add` after the body confirmed its fingerprint,
in table receiving_body_keys. Body keys have the reviewers' HPKE recipient format and fingerprint,
so a body key can be a recipient in key_wraps.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.config import CONFIG_DIR, Settings
from portal.crypto.keys import RecipientPublicKey
from portal.referrals.models import ReceivingBodyKey
from portal.triage.vocabulary import Route

BODIES_FILE = "bodies.toml"
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_SLUG = 64


class BodiesError(ValueError):
    """config/bodies.toml (or the instance's copy) is not valid; the message names the entry."""


@dataclass(frozen=True)
class Body:
    slug: str
    name: str
    contact: str
    routes: tuple[str, ...]
    independent: bool
    remit: str = ""


@dataclass(frozen=True)
class BodyKey:
    slug: str
    fingerprint: str
    public_key: bytes  # RecipientPublicKey.to_bytes()

    def recipient(self) -> RecipientPublicKey:
        return RecipientPublicKey.from_bytes(self.public_key)


def bodies_file(settings: Settings) -> Path:
    local = settings.instance_dir / BODIES_FILE
    return local if local.is_file() else CONFIG_DIR / BODIES_FILE


def parse_bodies(text: str, source: str = BODIES_FILE) -> dict[str, Body]:
    """Every body in `text`, by slug, in file order. Raises BodiesError naming what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BodiesError(f"{source}: {exc}") from exc
    routes = {route.value for route in Route}
    bodies: dict[str, Body] = {}
    for number, entry in enumerate(data.get("body", []), start=1):
        where = f"{source}, body {number}"
        try:
            body = Body(str(entry["slug"]), str(entry["name"]).strip(), str(entry["contact"]).strip(),
                        tuple(str(r) for r in entry["routes"]), bool(entry.get("independent", False)),
                        str(entry.get("remit", "")).strip())
        except (KeyError, TypeError) as exc:
            raise BodiesError(f"{where}: needs slug, name, contact and routes ({exc})") from exc
        if len(body.slug) > MAX_SLUG or not SLUG.fullmatch(body.slug):
            raise BodiesError(f"{where}: slug {body.slug!r} must be lower-case letters, digits and hyphens")
        if body.slug in bodies:
            raise BodiesError(f"{where}: slug {body.slug!r} is used twice")
        if not body.name or not body.contact:
            raise BodiesError(f"{where}: name and contact must not be empty")
        unknown = sorted(set(body.routes) - routes)
        if unknown:
            raise BodiesError(f"{where}: unknown route(s) {', '.join(unknown)} (known: {', '.join(sorted(routes))})")
        bodies[body.slug] = body
    if sum(body.independent for body in bodies.values()) > 1:
        raise BodiesError(f"{source}: at most one body can be the independent one")
    return bodies


def load_bodies(settings: Settings) -> dict[str, Body]:
    path = bodies_file(settings)
    return parse_bodies(path.read_text("utf-8"), str(path))


def independent_body(settings: Settings) -> Body | None:
    """The body that reports about senior officers go to (independent = true), if one is configured."""
    return next((body for body in load_bodies(settings).values() if body.independent), None)


def bodies_for_route(settings: Settings, route: str) -> list[Body]:
    return [body for body in load_bodies(settings).values() if route in body.routes]


def body_key(db: Session, slug: str) -> BodyKey | None:
    """The body's active registered key, or None when none is registered."""
    row = db.execute(select(ReceivingBodyKey.fingerprint, ReceivingBodyKey.public_key)
                     .where(ReceivingBodyKey.slug == slug, ReceivingBodyKey.active.is_(True))
                     .order_by(ReceivingBodyKey.id.desc()).limit(1)).first()
    return None if row is None else BodyKey(slug, row[0], bytes(row[1]))


def register_body_key(db: Session, slug: str, public: RecipientPublicKey, added_by: str) -> ReceivingBodyKey:
    """Store `public` as the body's active key; an older key of the body stops being active.

    Raises BodiesError when the key is already registered (to this body or another)."""
    fingerprint = public.fingerprint
    if db.scalar(select(ReceivingBodyKey.id).where(ReceivingBodyKey.fingerprint == fingerprint)) is not None:
        raise BodiesError(f"key {fingerprint} is already registered")
    db.execute(update(ReceivingBodyKey).where(ReceivingBodyKey.slug == slug).values(active=False))
    key = ReceivingBodyKey(slug=slug, fingerprint=fingerprint, public_key=public.to_bytes(), added_by=added_by, active=True)
    db.add(key)
    db.flush()
    return key
