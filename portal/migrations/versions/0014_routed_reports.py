"""reports routed to the independent body

Revision ID: 0014
Revises: 0013

`reports.routed_to` holds the slug of the independent body a report was routed to at screening
(portal.triage.routing): the accused is senior to the handlers, or the reporter asked for it.
NULL for every report stored so far.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("routed_to", sa.String(length=64), nullable=True))
    op.create_index("ix_reports_routed_to", "reports", ["routed_to"])


def downgrade() -> None:
    op.drop_index("ix_reports_routed_to", table_name="reports")
    op.drop_column("reports", "routed_to")
