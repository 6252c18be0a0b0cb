"""reviewer_sessions: reviewers' sessions in a table of their own (issue 19)

Revision ID: 0011
Revises: 0009

Reviewer and reporter sessions shared `server_sessions`, on which the reporter host's role
needs every right: a compromised public host could read, extend or end a reviewer's session.
Reviewers' sessions now live in `reviewer_sessions`, which the reporter role is granted nothing
on (docs/operations.md, PostgreSQL). Sessions are not moved: the reviewer sessions in the old
table end and reviewers sign in again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reviewer_sessions",
        sa.Column("id_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sealed_payload", sa.LargeBinary(), nullable=False),
        sa.Column("idle_expires_at", sa.DateTime(), nullable=False),
        sa.Column("absolute_expires_at", sa.DateTime(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_reviewer_sessions_absolute_expires_at", "reviewer_sessions", ["absolute_expires_at"])
    op.create_index("ix_reviewer_sessions_reviewer_id", "reviewer_sessions", ["reviewer_id"])
    op.execute("DELETE FROM server_sessions WHERE kind <> 'reporter'")


def downgrade() -> None:
    op.drop_index("ix_reviewer_sessions_reviewer_id", table_name="reviewer_sessions")
    op.drop_index("ix_reviewer_sessions_absolute_expires_at", table_name="reviewer_sessions")
    op.drop_table("reviewer_sessions")
