"""ops tables for rezen (reserved slot in the migration chain; empty until that area needs one).

Revision ID: 0003_rezen
Revises: 0002_fub
"""

revision = "0003_rezen"
down_revision = "0002_fub"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
