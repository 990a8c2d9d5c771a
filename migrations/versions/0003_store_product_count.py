"""cached_stores.product_count and groups_version: the products page without a COUNT or a group query

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 21:40:00

"""
import uuid

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cached_stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('product_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('groups_version', sa.String(length=32), server_default='', nullable=False))
    # Stores mirrored before this revision: their count now (the next refresh recounts anyway).
    op.execute(
        "UPDATE cached_stores SET product_count = (SELECT COUNT(*) FROM cached_products"
        " WHERE cached_products.user_id = cached_stores.user_id"
        " AND cached_products.store_evotor_id = cached_stores.evotor_id)"
    )
    bind = op.get_bind()
    for (store_id,) in bind.execute(sa.text("SELECT id FROM cached_stores")).all():
        bind.execute(
            sa.text("UPDATE cached_stores SET groups_version = :token WHERE id = :id"),
            {"token": uuid.uuid4().hex, "id": store_id},
        )


def downgrade():
    with op.batch_alter_table('cached_stores', schema=None) as batch_op:
        batch_op.drop_column('groups_version')
        batch_op.drop_column('product_count')
