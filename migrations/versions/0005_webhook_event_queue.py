"""webhook_events: status, body, processed_at, error (the catalog event queue)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 00:40:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='applied', nullable=False))
        batch_op.add_column(sa.Column('body', sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql'), nullable=True))
        batch_op.add_column(sa.Column('processed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('error', sa.String(length=500), nullable=True))
        batch_op.create_index(batch_op.f('ix_webhook_events_status'), ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_events_status'))
        batch_op.drop_column('error')
        batch_op.drop_column('processed_at')
        batch_op.drop_column('body')
        batch_op.drop_column('status')
