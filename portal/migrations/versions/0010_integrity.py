"""integrity: key commitments, signed reports and messages, bound notes, message positions

Revision ID: 0010
Revises: 0009

`reports.key_commitment` and `reports.signature`: the commitment to the report's data key and the
reporter host's Ed25519 signature of the report's statement; `messages.seq` (the message's position
in its report), `messages.signature` (the reporter host's signature of a reporter's message, or the
triage host's HMAC binding of a reviewer's), `internal_notes.binding` (the triage host's binding of
a note). Rows stored before this revision keep NULL and are shown as "received before signatures"
(docs/crypto.md, "Integrity"). Existing messages are numbered in the order they were stored, so new
messages continue the sequence.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("key_commitment", sa.LargeBinary(), nullable=True))
    op.add_column("reports", sa.Column("signature", sa.LargeBinary(), nullable=True))
    op.add_column("messages", sa.Column("seq", sa.Integer(), nullable=True))
    op.add_column("messages", sa.Column("signature", sa.LargeBinary(), nullable=True))
    op.add_column("internal_notes", sa.Column("binding", sa.LargeBinary(), nullable=True))
    op.execute("UPDATE messages SET seq = (SELECT COUNT(*) FROM messages AS earlier "
               "WHERE earlier.report_id = messages.report_id AND earlier.id <= messages.id)")
    op.create_index("ix_messages_report_seq", "messages", ["report_id", "seq"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_messages_report_seq", table_name="messages")
    op.drop_column("internal_notes", "binding")
    op.drop_column("messages", "signature")
    op.drop_column("messages", "seq")
    op.drop_column("reports", "signature")
    op.drop_column("reports", "key_commitment")
