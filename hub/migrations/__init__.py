"""Alembic migrations of the hub's schema (shipped inside the package)."""
