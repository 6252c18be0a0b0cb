"""referrals to receiving bodies, and mandatory-referral deadlines

Revision ID: 0013
Revises: 0012

`referrals`: one row per case bundle a lead sent to a receiving body (portal.triage.referrals):
the body, the key it was sealed to, the bundle's SHA-256 and blob, and the body's acknowledgement
and outcome (the outcome's text sealed under the report's internal key).

`reports.referral_required` / `referral_due_on` / `referral_status` / `referred_to_independent`: the
mandatory-referral requirement (sticky), its deadline, the newest referral's status for the queue,
and whether any referral went to a body independent of the force (the reporter's coarse status). Existing reports start with no requirement:
the clock starts at their next categorisation, as it would have on the day the criteria were
configured.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("referral_required", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("reports", sa.Column("referral_due_on", sa.Date(), nullable=True))
    op.add_column("reports", sa.Column("referral_status", sa.String(length=16), nullable=True))
    op.add_column("reports", sa.Column("referred_to_independent", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_reports_referral_due_on", "reports", ["referral_due_on"])
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("body_slug", sa.String(length=64), nullable=False),
        sa.Column("body_fingerprint", sa.String(length=32), nullable=False),
        sa.Column("referred_by", sa.Integer(), sa.ForeignKey("reviewers.id", ondelete="SET NULL"), nullable=True),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.Column("bundle_blob_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=False),
        sa.Column("bundle_bytes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("acknowledged_on", sa.Date(), nullable=True),
        sa.Column("outcome_on", sa.Date(), nullable=True),
        sa.Column("public_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("sealed_outcome", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_referrals_report_id", "referrals", ["report_id"])


def downgrade() -> None:
    op.drop_index("ix_referrals_report_id", table_name="referrals")
    op.drop_table("referrals")
    op.drop_index("ix_reports_referral_due_on", table_name="reports")
    op.drop_column("reports", "referred_to_independent")
    op.drop_column("reports", "referral_status")
    op.drop_column("reports", "referral_due_on")
    op.drop_column("reports", "referral_required")
