"""receiving bodies' public keys

Revision ID: 0012
Revises: 0009

`receiving_body_keys` holds the public half of each receiving body's key pair (config/bodies.toml,
`portal bodies add`): the key a referral's case bundle is sealed to, and a recipient of key_wraps
for a report routed to the body. The private halves never reach the portal.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "receiving_body_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False, unique=True),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("added_on", sa.Date(), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_receiving_body_keys_slug", "receiving_body_keys", ["slug"])


def downgrade() -> None:
    op.drop_index("ix_receiving_body_keys_slug", table_name="receiving_body_keys")
    op.drop_table("receiving_body_keys")
