"""receipt format v2 (lookup tokens)

Revision ID: 0009
Revises: 0004

`reports.receipt_format` records which derivation a report's lookup id and reporter wrap
use (docs/crypto.md, "Receipt format v2"): every report stored so far is format 1 and is
upgraded to 2 at its next follow-up sign-in, where the receipt secret is at hand.

`key_wraps.internal_wrap` holds each recipient's wrap of the report's internal key (internal
notes, reviewer-added subject labels: portal.triage.internal). It stays NULL until a reviewer's
session, or `portal keys upgrade-internal` with the recovery key, makes the key and moves the
older items under it: only there are the keys that open them at hand.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("receipt_format", sa.SmallInteger(), nullable=False, server_default="1"))
    op.create_index("ix_reports_receipt_format", "reports", ["receipt_format"])
    op.add_column("key_wraps", sa.Column("internal_wrap", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("key_wraps", "internal_wrap")
    op.drop_index("ix_reports_receipt_format", table_name="reports")
    op.drop_column("reports", "receipt_format")
