"""ops tables for quality (reserved slot in the migration chain; empty until that area needs one).

Revision ID: 0006_quality
Revises: 0005_orchestration
"""

revision = "0006_quality"
down_revision = "0005_orchestration"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
