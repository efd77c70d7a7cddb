"""Alembic migrations of the project's database, shipped in the package (driven by exchange.store.revision)."""
