"""Every model module, imported so that Base.metadata knows all tables; and creating them."""

from sqlalchemy.engine import Connection, Engine

from portal.blobs.models import Blob, BlobChunk  # noqa: F401
from portal.db import Base
from portal.referrals.models import ReceivingBodyKey  # noqa: F401
from portal.reports.models import Attachment, InternalNote, KeyWrap, Message, Report, SubjectIndex  # noqa: F401
from portal.sessions import ReviewerSession, ServerSession  # noqa: F401
from portal.triage.audit import AuditEntry  # noqa: F401
from portal.triage.models import Conflict, RecoveryKey, Reviewer  # noqa: F401
from portal.triage.referral_records import Referral  # noqa: F401


def create_all(bind: Engine | Connection) -> None:
    """Create every table that does not exist yet (tests and development; deployments migrate)."""
    Base.metadata.create_all(bind)
