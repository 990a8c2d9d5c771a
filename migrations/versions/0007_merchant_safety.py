"""Merchant safety: restricted goods switches, fields VK decides, VK's moderation verdict in the mirror

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 05:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sync_configs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('publish_alcohol', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('publish_tobacco', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('vk_owned_fields', sa.String(length=128), server_default='', nullable=False))
    with op.batch_alter_table('vk_cached_products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reject_reason', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('vk_cached_products', schema=None) as batch_op:
        batch_op.drop_column('reject_reason')
    with op.batch_alter_table('sync_configs', schema=None) as batch_op:
        batch_op.drop_column('vk_owned_fields')
        batch_op.drop_column('publish_tobacco')
        batch_op.drop_column('publish_alcohol')
