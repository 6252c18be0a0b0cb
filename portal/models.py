"""Imports every model module so that Base.metadata knows all tables."""

from portal.blobs import Blob, BlobChunk  # noqa: F401
from portal.reports.models import Attachment, InternalNote, KeyWrap, Message, Report, SubjectIndex  # noqa: F401
from portal.sessions import ServerSession  # noqa: F401
from portal.triage.audit import AuditEntry  # noqa: F401
from portal.triage.models import Conflict, RecoveryKey, Reviewer  # noqa: F401
