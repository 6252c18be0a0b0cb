"""reports.reporter_status knows referrals, routing and outcomes

Revision ID: 0015
Revises: 0014

The status the reporter host reads (it may not read stage, route, outcome, referral or routing
columns) is re-computed by the database with what 0013 (referrals) and 0014 (routing) added:
"routed" for a report sent at screening only to the independent body, "referred-to-body" /
"referred" for a referral, and "closed:<outcome>" so that the reporter is told how a report ended.
Re-run the grants block of docs/operations.md afterwards: a dropped column loses its grant.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# A copy of portal.reports.models._reporter_status_sql() as it was at this revision.
REPORTER_STATUS = (
    "CASE WHEN stage = 'closed' THEN CASE WHEN outcome IN ('action-taken', 'referred-elsewhere', 'no-further-action') "
    "THEN 'closed:' || outcome ELSE 'closed' END WHEN routed_to IS NOT NULL THEN 'routed' "
    "WHEN referral_status IS NOT NULL THEN CASE WHEN referred_to_independent THEN 'referred-to-body' ELSE 'referred' END "
    "WHEN stage = 'escalated' AND escalation_route IN ('anti-corruption', 'criminal-investigation', 'external-oversight', "
    "'professional-standards', 'safeguarding') THEN 'referred' WHEN stage = 'new' THEN 'received' ELSE 'assessing' END")

# 0011's expression, for the downgrade.
PREVIOUS = ("CASE WHEN stage = 'closed' THEN 'closed' WHEN stage = 'escalated' AND escalation_route IN "
            "('anti-corruption', 'external-oversight', 'professional-standards', 'safeguarding') THEN 'referred' "
            "WHEN stage = 'new' THEN 'received' ELSE 'assessing' END")


def _replace(expression: str, length: int) -> None:
    stored = op.get_bind().dialect.name != "sqlite"  # SQLite adds only VIRTUAL generated columns
    op.drop_column("reports", "reporter_status")
    op.add_column("reports", sa.Column("reporter_status", sa.String(length=length), sa.Computed(expression, persisted=stored)))


def upgrade() -> None:
    _replace(REPORTER_STATUS, 40)


def downgrade() -> None:
    _replace(PREVIOUS, 12)
