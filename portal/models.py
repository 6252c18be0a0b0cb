"""Imports every model module so that Base.metadata knows all tables."""

from portal.reports.models import Attachment, KeyWrap, Message, Report  # noqa: F401
from portal.blobs import Blob, BlobChunk  # noqa: F401
from portal.sessions import ServerSession  # noqa: F401
from portal.triage.models import RecoveryKey, Reviewer  # noqa: F401
