"""Opening the configured database together with the blob store its sessions use.

Above portal/db.py (which knows nothing of the portal) and portal/blobs: the app
factory and the `portal` command both call `open_database(settings)`.
"""

from __future__ import annotations

from portal.blobs.stores import blob_store_from_settings
from portal.config import Settings
from portal.db import Database


def open_database(settings: Settings) -> Database:
    """The configured database (`database_url`) with the configured blob store (`blob_store`, `blob_dir`)."""
    return Database(settings.database_url, blob_store_from_settings(settings))
