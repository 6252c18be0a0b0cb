"""reports: sticky high-risk flag, the proposed closure; messages: the unread and
new-information signals; reviewers: UTS #39 skeletons of login and display name

Revision ID: 0007
Revises: 0004

`ever_high_risk` is backfilled from everything the database already knows: the reporter's "someone
is at risk now" (`reporter_urgent`), the current category and risk flags, and every categorisation
in the audit log (so a report recategorised to "other" before this release stays high-risk). What
only the sealed answers know (the reporter's own category, "vulnerable person involved") is added
when a reviewer's session next opens or closes the report. A pending closure's proposer is taken
from the audit log. Skeletons are computed for existing accounts; look-alikes that already exist
are kept (compare the Admin -> Reviewers list), new ones are refused. Every column is added with a
plain ADD COLUMN: a batch rebuild of `reports` on SQLite would drop the old table, and with foreign
keys on that deletes every message, key wrap, attachment and note.
"""

import json

import sqlalchemy as sa
from alembic import op

from portal.config import load_taxonomy
from portal.triage.identities import comparable

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch "move and copy": on SQLite, rebuilding `reports` drops the old
    # table, and with foreign keys on that cascades to every message, key wrap, attachment and note.
    op.add_column("reports", sa.Column("ever_high_risk", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("reports", sa.Column("closure_proposer_id", sa.Integer(), nullable=True))
    op.add_column("reports", sa.Column("closure_basis", sa.String(length=32), nullable=True))
    # Messages already received count as read and decided on: the signals start after the upgrade.
    op.add_column("messages", sa.Column("unread", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("messages", sa.Column("after_closure", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_messages_unread", "messages", ["report_id"], unique=False,
                    postgresql_where=sa.text("unread"), sqlite_where=sa.text("unread"))
    op.create_index("ix_messages_after_closure", "messages", ["report_id"], unique=False,
                    postgresql_where=sa.text("after_closure"), sqlite_where=sa.text("after_closure"))
    op.add_column("reviewers", sa.Column("login_skeleton", sa.String(length=255), nullable=False, server_default=""))
    op.add_column("reviewers", sa.Column("name_skeleton", sa.String(length=255), nullable=False, server_default=""))
    op.create_index("ix_reviewers_login_skeleton", "reviewers", ["login_skeleton"], unique=False)
    op.create_index("ix_reviewers_name_skeleton", "reviewers", ["name_skeleton"], unique=False)
    _backfill(op.get_bind())


def _backfill(connection) -> None:
    taxonomy = load_taxonomy()
    categories, flags = taxonomy.high_risk_categories, taxonomy.high_risk_flags
    reports = sa.table("reports", sa.column("id"), sa.column("reference"), sa.column("category"), sa.column("risk_flags"),
                       sa.column("reporter_urgent"), sa.column("stage"), sa.column("ever_high_risk"),
                       sa.column("closure_proposer_id"))
    audit = sa.table("audit_log", sa.column("seq"), sa.column("actor"), sa.column("action"), sa.column("report_ref"),
                     sa.column("detail"))
    reviewers = sa.table("reviewers", sa.column("id"), sa.column("login"), sa.column("display_name"),
                         sa.column("login_skeleton"), sa.column("name_skeleton"))
    high = set()
    for row in connection.execute(sa.select(reports.c.reference, reports.c.category, reports.c.risk_flags, reports.c.reporter_urgent)):
        if row.reporter_urgent or row.category in categories or flags & set((row.risk_flags or "").split(",")):
            high.add(row.reference)
    categorised = sa.select(audit.c.report_ref, audit.c.detail).where(audit.c.action == "report.categorised")
    for reference, detail in connection.execute(categorised):
        data = json.loads(detail or "{}")
        if data.get("category") in categories or flags & set(data.get("flags") or []):
            high.add(reference)
    for reference in high:
        connection.execute(reports.update().where(reports.c.reference == reference).values(ever_high_risk=True))
    logins = dict(connection.execute(sa.select(reviewers.c.login, reviewers.c.id)).all())
    requested = (sa.select(audit.c.report_ref, audit.c.actor).where(audit.c.action == "report.closure-requested")
                 .order_by(audit.c.seq))
    proposers = dict(connection.execute(requested).all())  # the latest request per report wins
    pending = sa.select(reports.c.reference).where(reports.c.stage == "closure-pending")
    for (reference,) in connection.execute(pending).all():
        if proposers.get(reference) in logins:
            connection.execute(reports.update().where(reports.c.reference == reference)
                               .values(closure_proposer_id=logins[proposers[reference]]))
    for row in connection.execute(sa.select(reviewers.c.id, reviewers.c.login, reviewers.c.display_name)).all():
        connection.execute(reviewers.update().where(reviewers.c.id == row.id).values(
            login_skeleton=comparable(row.login), name_skeleton=comparable(row.display_name)))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+), for the reason given in upgrade().
    op.drop_index("ix_reviewers_name_skeleton", table_name="reviewers")
    op.drop_index("ix_reviewers_login_skeleton", table_name="reviewers")
    for column in ("name_skeleton", "login_skeleton"):
        op.drop_column("reviewers", column)
    op.drop_index("ix_messages_after_closure", table_name="messages")
    op.drop_index("ix_messages_unread", table_name="messages")
    for column in ("after_closure", "unread"):
        op.drop_column("messages", column)
    for column in ("closure_basis", "closure_proposer_id", "ever_high_risk"):
        op.drop_column("reports", column)
