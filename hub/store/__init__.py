"""The hub's store: SQLAlchemy 2 models, Alembic migrations, and the queries the hub needs."""

from hub.store.db import current_revision, head_revision, make_engine, now_ms, upgrade
from hub.store.models import Base

__all__ = ["Base", "current_revision", "head_revision", "make_engine", "now_ms", "upgrade"]
