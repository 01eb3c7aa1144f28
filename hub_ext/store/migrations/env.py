"""Alembic environment for the portal database (online mode only)."""

from alembic import context

from hub_ext.store.engine import get_engine
from hub_ext.store.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")

with get_engine(url).connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
