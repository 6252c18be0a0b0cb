"""Ciphertext blob store: attachment ciphertext in the database (default) or in a directory.

* models.py: the `blobs` rows (every blob's size, ownership and day) and `blob_chunks`;
* stores.py: where content lives (DatabaseBlobStore, FilesystemBlobStore) and choosing one;
* io.py: what callers use (BlobWriter, BlobReader, delete_blob, purge_abandoned_drafts).

The names below are re-exported for callers that need only one or two of them.
"""

from portal.blobs.io import BlobReader, BlobWriter, blob_size, delete_blob, mark_attached, purge_abandoned_drafts
from portal.blobs.models import CHUNK_BYTES, Blob, BlobChunk
from portal.blobs.stores import BlobStore, DatabaseBlobStore, FilesystemBlobStore, blob_store_from_settings

__all__ = [
    "CHUNK_BYTES",
    "Blob",
    "BlobChunk",
    "BlobReader",
    "BlobStore",
    "BlobWriter",
    "DatabaseBlobStore",
    "FilesystemBlobStore",
    "blob_size",
    "blob_store_from_settings",
    "delete_blob",
    "mark_attached",
    "purge_abandoned_drafts",
]
