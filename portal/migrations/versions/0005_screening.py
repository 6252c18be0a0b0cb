"""screening: every new report is screened by the triage host before any reviewer holds its key

Revision ID: 0005
Revises: 0004

New reports carry their subject list sealed to the triage host's screening key
(reports.sealed_subjects) and their reviewers' key wraps held, sealed to the same key
(held_wraps), until the screening worker (`portal screen`) has indexed the subjects and
released the wraps to the reviewers without a conflict. The screening key's public half is
published in screening_keys.

Existing reports were wrapped to reviewers when they arrived, before screening existed: they
become "screened" as they are (their wraps, and the recovery key's, unchanged). Those whose
subjects were never indexed are indexed when a reviewer first opens them, as before
(docs/operations.md, "Upgrading to 0.4.0").
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("screening", sa.String(length=12), nullable=False, server_default="pending"))
        batch_op.add_column(sa.Column("screening_problem", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("sealed_subjects", sa.LargeBinary(), nullable=True))
        batch_op.create_index("ix_reports_screening", ["screening", "id"], unique=False)
    op.execute("UPDATE reports SET screening = 'screened'")
    op.create_table(
        "held_wraps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("recipient_fingerprint", sa.String(length=32), nullable=False),
        sa.Column("held", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("report_id", "recipient_fingerprint"),
    )
    op.create_index("ix_held_wraps_report_id", "held_wraps", ["report_id"], unique=False)
    op.create_table(
        "screening_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fingerprint"),
    )


def downgrade() -> None:
    op.drop_table("screening_keys")
    op.drop_index("ix_held_wraps_report_id", table_name="held_wraps")
    op.drop_table("held_wraps")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_screening")
        batch_op.drop_column("sealed_subjects")
        batch_op.drop_column("screening_problem")
        batch_op.drop_column("screening")
