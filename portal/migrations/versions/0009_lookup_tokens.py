"""receipt format v2 (lookup tokens)

Revision ID: 0009
Revises: 0004

`reports.receipt_format` records which derivation a report's lookup id and reporter wrap
use (docs/crypto.md, "Receipt format v2"): every report stored so far is format 1 and is
upgraded to 2 at its next follow-up sign-in, where the receipt secret is at hand.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("receipt_format", sa.SmallInteger(), nullable=False, server_default="1"))
    op.create_index("ix_reports_receipt_format", "reports", ["receipt_format"])


def downgrade() -> None:
    op.drop_index("ix_reports_receipt_format", table_name="reports")
    op.drop_column("reports", "receipt_format")
