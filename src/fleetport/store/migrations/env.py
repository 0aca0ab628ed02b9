"""Alembic environment: migrations run on the engine the Store hands over."""

from __future__ import annotations

from alembic import context

from fleetport.store.tables import metadata

engine = context.config.attributes["connection_engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
