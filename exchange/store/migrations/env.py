"""Alembic environment: migrations run on the connection exchange.store.revision hands over (no alembic.ini, no URL here)."""

from __future__ import annotations

from alembic import context

from exchange.store.revision import include_name
from exchange.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    include_name=include_name,  # type: ignore[arg-type]  # Alembic's literal type for the object kind
    compare_type=True,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
