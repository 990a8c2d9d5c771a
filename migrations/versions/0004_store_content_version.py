"""cached_stores.content_version: the token the products page is cached under

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 01:10:00

"""
import uuid

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cached_stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_version', sa.String(length=32), server_default='', nullable=False))
    bind = op.get_bind()
    for (store_id,) in bind.execute(sa.text("SELECT id FROM cached_stores")).all():
        bind.execute(
            sa.text("UPDATE cached_stores SET content_version = :token WHERE id = :id"),
            {"token": uuid.uuid4().hex, "id": store_id},
        )


def downgrade():
    with op.batch_alter_table('cached_stores', schema=None) as batch_op:
        batch_op.drop_column('content_version')
