"""safe_copies: a reviewer-made safe copy of an attachment (portal.evidence), one per attachment

Revision ID: 0004
Revises: 0003

The copy's ciphertext lives in the blob store like an attachment's; this table holds its
sealed metadata and size. Only the triage role needs it (docs/operations.md, grants).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "safe_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attachment_id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("sealed_meta", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext_bytes", sa.Integer(), nullable=False),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["attachment_id"], ["attachments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("attachment_id"),
        sa.UniqueConstraint("public_id"),
    )


def downgrade() -> None:
    op.drop_table("safe_copies")
