"""vk_orders, vk_order_items (lines that hold stock), vk_order_events (VK Callback API queue), vk_order_settings

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 07:14:52.573745

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('vk_order_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.BigInteger(), nullable=False),
    sa.Column('event_type', sa.String(length=32), nullable=False),
    sa.Column('vk_order_id', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('processed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_vk_order_events_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vk_order_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_vk_order_events_event_id')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('vk_order_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vk_order_events_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_vk_order_events_user_id'), ['user_id'], unique=False)

    op.create_table('vk_order_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('open_statuses', sa.String(length=64), nullable=False),
    sa.Column('callback_secret', sa.Text(), nullable=True),
    sa.Column('confirmation_code', sa.String(length=64), nullable=False),
    sa.Column('last_poll_at', sa.DateTime(), nullable=True),
    sa.Column('last_poll_ok_at', sa.DateTime(), nullable=True),
    sa.Column('last_poll_error', sa.Text(), nullable=True),
    sa.Column('last_callback_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_vk_order_settings_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vk_order_settings')),
    sa.UniqueConstraint('user_id', name=op.f('uq_vk_order_settings_user_id')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_table('vk_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.BigInteger(), nullable=False),
    sa.Column('vk_order_id', sa.BigInteger(), nullable=False),
    sa.Column('vk_user_id', sa.BigInteger(), nullable=True),
    sa.Column('display_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('ordered_at', sa.DateTime(), nullable=True),
    sa.Column('items_count', sa.Integer(), nullable=False),
    sa.Column('total_kopecks', sa.BigInteger(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('merchant_comment', sa.Text(), nullable=False),
    sa.Column('first_seen_via', sa.String(length=16), nullable=False),
    sa.Column('items_complete', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('alerted_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_vk_orders_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vk_orders')),
    sa.UniqueConstraint('user_id', 'group_id', 'vk_order_id', name='uq_vk_orders_user_group_order'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('vk_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vk_orders_user_id'), ['user_id'], unique=False)

    op.create_table('vk_order_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('vk_item_id', sa.BigInteger(), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('price_kopecks', sa.BigInteger(), nullable=True),
    sa.Column('store_evotor_id', sa.String(length=64), nullable=True),
    sa.Column('evotor_product_id', sa.String(length=64), nullable=True),
    sa.Column('till_settled', sa.Integer(), nullable=False),
    sa.Column('evotor_seen', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['vk_orders.id'], name=op.f('fk_vk_order_items_order_id_vk_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_vk_order_items_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vk_order_items')),
    sa.UniqueConstraint('order_id', 'vk_item_id', name='uq_vk_order_items_order_item'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('vk_order_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vk_order_items_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vk_order_items_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('vk_order_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vk_order_items_user_id'))
        batch_op.drop_index(batch_op.f('ix_vk_order_items_order_id'))

    op.drop_table('vk_order_items')
    with op.batch_alter_table('vk_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vk_orders_user_id'))

    op.drop_table('vk_orders')
    op.drop_table('vk_order_settings')
    with op.batch_alter_table('vk_order_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vk_order_events_user_id'))
        batch_op.drop_index(batch_op.f('ix_vk_order_events_status'))

    op.drop_table('vk_order_events')
