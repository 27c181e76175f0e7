"""ops tables for orchestration (reserved slot in the migration chain; empty until that area needs one).

Revision ID: 0005_orchestration
Revises: 0004_skyslope_qualia
"""

revision = "0005_orchestration"
down_revision = "0004_skyslope_qualia"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
