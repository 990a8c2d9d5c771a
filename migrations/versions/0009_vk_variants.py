"""VK variants: vk_cached_properties (the community's properties and their variant ids),
vk_cached_products.grouping_id (the card an item belongs to), vk_connections.variants_mode (extended mode on/off), sync_configs.group_by_name

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 07:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('vk_cached_properties',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.BigInteger(), nullable=False),
    sa.Column('vk_property_id', sa.BigInteger(), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('variants', sa.JSON(), nullable=True),
    sa.Column('refreshed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_vk_cached_properties_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vk_cached_properties')),
    sa.UniqueConstraint('user_id', 'vk_property_id', name=op.f('uq_vk_cached_properties_user_id_vk_property_id')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('vk_cached_properties', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vk_cached_properties_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('vk_cached_products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grouping_id', sa.BigInteger(), nullable=True))

    with op.batch_alter_table('vk_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variants_mode', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('variants_mode_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('sync_configs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_by_name', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('sync_configs', schema=None) as batch_op:
        batch_op.drop_column('group_by_name')

    with op.batch_alter_table('vk_connections', schema=None) as batch_op:
        batch_op.drop_column('variants_mode_at')
        batch_op.drop_column('variants_mode')

    with op.batch_alter_table('vk_cached_products', schema=None) as batch_op:
        batch_op.drop_column('grouping_id')

    with op.batch_alter_table('vk_cached_properties', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vk_cached_properties_user_id'))

    op.drop_table('vk_cached_properties')
