"""vk_cached_products: the item's main photo id, and what EvoSync knows of its removal

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 05:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('vk_cached_products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('main_photo_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('removal', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('vk_cached_products', schema=None) as batch_op:
        batch_op.drop_column('removal')
        batch_op.drop_column('main_photo_id')
