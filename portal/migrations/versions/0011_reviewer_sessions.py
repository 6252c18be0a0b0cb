"""reviewer_sessions, reports.reporter_status: what the reporter host's role may not reach (issue 19)

Revision ID: 0011
Revises: 0009

Reviewer and reporter sessions shared `server_sessions`, on which the reporter host's role
needs every right: a compromised public host could read, extend or end a reviewer's session.
Reviewers' sessions now live in `reviewer_sessions`, which the reporter role is granted nothing
on (docs/operations.md, PostgreSQL). Sessions are not moved: the reviewer sessions in the old
table end and reviewers sign in again.

`reports.reporter_status` is the status the reporter is shown, computed by the database from
`stage` and `escalation_route` (a generated column: nothing can let it drift), so that the
reporter role can be refused every triage column of `reports` and still show the status.
STORED on PostgreSQL; VIRTUAL on SQLite, which cannot add a stored column to a table.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


# A copy of portal.reports.models._reporter_status_sql() as it was at this revision.
REPORTER_STATUS = ("CASE WHEN stage = 'closed' THEN 'closed' WHEN stage = 'escalated' AND escalation_route IN "
                   "('anti-corruption', 'external-oversight', 'professional-standards', 'safeguarding') THEN 'referred' "
                   "WHEN stage = 'new' THEN 'received' ELSE 'assessing' END")


def upgrade() -> None:
    stored = op.get_bind().dialect.name != "sqlite"
    op.add_column("reports", sa.Column("reporter_status", sa.String(length=12), sa.Computed(REPORTER_STATUS, persisted=stored)))
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


# The row security of docs/operations.md's grants block (made after this revision): an older schema's
# downgrades cannot drop a column a policy uses, and an older release's grants block does not know them.
POLICIES = {"reports": ("triage_all", "reporter_reads", "reporter_adds", "reporter_upgrades_receipt"),
            "blobs": ("triage_all", "reporter_reads", "reporter_adds", "reporter_attaches_draft", "reporter_deletes_draft"),
            "blob_chunks": ("triage_all", "reporter_reads", "reporter_writes_draft")}


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, names in POLICIES.items():
            for name in names:
                op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.drop_index("ix_reviewer_sessions_reviewer_id", table_name="reviewer_sessions")
    op.drop_index("ix_reviewer_sessions_absolute_expires_at", table_name="reviewer_sessions")
    op.drop_table("reviewer_sessions")
    op.drop_column("reports", "reporter_status")
