"""link_decisions: decisions on "possible" links; an index for mine + overdue by deadline; one key_wraps index less

Revision ID: 0006
Revises: 0004

Blind-index values now come in several kinds per person (portal.triage.subjects.KIND_STRENGTH);
`subject_index.kind` already holds any of them (String(16)). Existing rows keep their kinds
("name", "identifier"), which are still computed the same way, so links and declared conflicts
keep matching; the new kinds are added as reports are indexed again.

A possible link that a reviewer confirms or rejects is stored per pair of reports, so it stays
decided whatever is re-indexed. The queue's "mine + overdue, by deadline" view reads one range
of (junk, assignee_id, due_on, id) instead of filtering the whole deadline index. The single-column
index on key_wraps.report_id goes: the unique (report_id, recipient_fingerprint) index answers "is
this report wrapped to me" from the index alone, where the old one made PostgreSQL read each 1.2 kB
wrap row to check the fingerprint (every queue count does this once per report counted).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_report_id", sa.Integer(), nullable=False),
        sa.Column("second_report_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["first_report_id"], ["reports.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["second_report_id"], ["reports.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by"], ["reviewers.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("first_report_id", "second_report_id"),
    )
    with op.batch_alter_table("link_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_link_decisions_second_report_id", ["second_report_id"], unique=False)
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_queue_assignee_due", ["junk", "assignee_id", "due_on", "id"], unique=False)
    with op.batch_alter_table("key_wraps", schema=None) as batch_op:
        batch_op.drop_index("ix_key_wraps_report_id")  # the unique (report_id, recipient_fingerprint) index serves


def downgrade() -> None:
    with op.batch_alter_table("key_wraps", schema=None) as batch_op:
        batch_op.create_index("ix_key_wraps_report_id", ["report_id"], unique=False)
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_queue_assignee_due")
    op.drop_table("link_decisions")
