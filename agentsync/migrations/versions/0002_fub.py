"""ops tables for fub (reserved slot in the migration chain; empty until that area needs one).

Revision ID: 0002_fub
Revises: 0001_ops_foundation
"""

revision = "0002_fub"
down_revision = "0001_ops_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
