"""ops tables for skyslope_qualia (reserved slot in the migration chain; empty until that area needs one).

Revision ID: 0004_skyslope_qualia
Revises: 0003_rezen
"""

revision = "0004_skyslope_qualia"
down_revision = "0003_rezen"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
