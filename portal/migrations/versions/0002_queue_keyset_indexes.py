"""queue: stored deadline and priority rank, one index per queue order; reviewers: must_change_passphrase

Revision ID: 0002
Revises: 0001

The triage queue pages by keyset over (received_on, id), (due_on, id) and
(priority_rank, received_on, id), so each order needs its columns stored and indexed;
the stage, category and assignee filters get (column, received_on, id) indexes in place
of their single-column ones, so a filtered page also reads one index range.
Reviewers get `must_change_passphrase` (a passphrase chosen by someone else must be replaced
at first sign-in, with a new key pair).
Existing rows get their rank from `priority` and their deadline from the default
deadline days (7 to acknowledge, 90 for feedback); `portal db upgrade` then recomputes
deadlines with the configured days (portal.deadlines.Deadlines.refresh_all).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reviewers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("must_change_passphrase", sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority_rank", sa.SmallInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("due_on", sa.Date(), nullable=True))
        batch_op.drop_index("ix_reports_received_on")
        batch_op.create_index("ix_reports_queue_received", ["received_on", "id"], unique=False)
        batch_op.create_index("ix_reports_queue_due", ["due_on", "id"], unique=False)
        batch_op.create_index("ix_reports_queue_priority", ["priority_rank", "received_on", "id"], unique=False)
        # Filter + newest first from one index; these replace the single-column indexes.
        for column in ("stage", "category", "assignee_id"):
            batch_op.drop_index(f"ix_reports_{column}")
        batch_op.create_index("ix_reports_queue_stage", ["stage", "received_on", "id"], unique=False)
        batch_op.create_index("ix_reports_queue_category", ["category", "received_on", "id"], unique=False)
        batch_op.create_index("ix_reports_queue_assignee", ["assignee_id", "received_on", "id"], unique=False)

    op.execute("UPDATE reports SET priority_rank = CASE priority WHEN 'urgent' THEN 2 WHEN 'high' THEN 1 ELSE 0 END")
    if op.get_bind().dialect.name == "sqlite":
        plus = "date(received_on, '+{} days')"
    else:
        plus = "(received_on + {})"
    due = f"CASE WHEN stage = 'closed' THEN NULL WHEN acknowledged_on IS NULL THEN {plus.format(7)} ELSE {plus.format(90)} END"
    op.execute("UPDATE reports SET due_on = " + due)  # noqa: S608 (constant SQL: nothing from outside this file)


def downgrade() -> None:
    with op.batch_alter_table("reviewers", schema=None) as batch_op:
        batch_op.drop_column("must_change_passphrase")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        for name, column in (("stage", "stage"), ("category", "category"), ("assignee", "assignee_id")):
            batch_op.drop_index(f"ix_reports_queue_{name}")
            batch_op.create_index(f"ix_reports_{column}", [column], unique=False)
        batch_op.drop_index("ix_reports_queue_priority")
        batch_op.drop_index("ix_reports_queue_due")
        batch_op.drop_index("ix_reports_queue_received")
        batch_op.create_index("ix_reports_received_on", ["received_on"], unique=False)
        batch_op.drop_column("due_on")
        batch_op.drop_column("priority_rank")
