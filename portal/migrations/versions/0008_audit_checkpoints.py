"""server_sessions.reviewer_id: which reviewer a triage session belongs to, so that a passphrase
change, a reset, "sign out everywhere" or a lead can end every session of that reviewer

Revision ID: 0008
Revises: 0004

Reporter sessions keep NULL (nothing links a follow-up session to anyone). Reviewer sessions
opened before this revision cannot be attributed, so they are ended: reviewers sign in again.
The audit checkpoints of the same release live outside the database and need no table.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM server_sessions WHERE kind = 'reviewer'")
    with op.batch_alter_table("server_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reviewer_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_server_sessions_reviewer_id"), ["reviewer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("server_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_server_sessions_reviewer_id"))
        batch_op.drop_column("reviewer_id")
