"""reports: junk flag, day and reason code; `junk` leads every queue index

Revision ID: 0003
Revises: 0002

Reviewers can mark a report as junk (a flood of meaningless reports sent to silence intake).
A junk report leaves the queue, the overdue counts, the deadlines and the themes. So that
100,000 junk rows never slow the queue, `junk` becomes the first column of each queue index:
the queue reads the index range `junk = false` and never walks past a junk entry, on SQLite and
PostgreSQL alike. The subject-indexing backlog gets a (junk, subjects_indexed) index for the
same reason (junk cannot starve it). Existing rows are not junk; their deadlines are unchanged.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

QUEUE_INDEXES = {  # name -> columns after `junk`
    "ix_reports_queue_received": ["received_on", "id"],
    "ix_reports_queue_due": ["due_on", "id"],
    "ix_reports_queue_priority": ["priority_rank", "received_on", "id"],
    "ix_reports_queue_stage": ["stage", "received_on", "id"],
    "ix_reports_queue_category": ["category", "received_on", "id"],
    "ix_reports_queue_assignee": ["assignee_id", "received_on", "id"],
}


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("junk", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("junk_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("junk_reason", sa.String(length=16), nullable=True))
        for name, columns in QUEUE_INDEXES.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, ["junk", *columns], unique=False)
        batch_op.drop_index("ix_reports_subjects_indexed")
        batch_op.create_index("ix_reports_index_pending", ["junk", "subjects_indexed"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_index_pending")
        batch_op.create_index("ix_reports_subjects_indexed", ["subjects_indexed"], unique=False)
        for name, columns in QUEUE_INDEXES.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False)
        batch_op.drop_column("junk_reason")
        batch_op.drop_column("junk_on")
        batch_op.drop_column("junk")
