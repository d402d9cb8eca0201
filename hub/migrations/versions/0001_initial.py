"""The hub's first schema: inventory, key history, chains, records, windows, buckets, grants, audit.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.String(64)


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "cameras",
        sa.Column("id", _ID, primary_key=True),
        *(
            sa.Column(name, sa.Text)
            for name in (
                "site",
                "location",
                "owner",
                "operator",
                "vendor",
                "model",
                "purpose",
                "legal_basis",
                "software",
                "counts_purpose",
                "counts_legal_basis",
                "dimensions",
            )
        ),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("lanes", sa.Integer),
        sa.Column("window_s", sa.Integer),
        sa.Column("k", sa.Integer),
        sa.Column("descriptor", sa.LargeBinary),
        sa.Column("descriptor_ts", sa.BigInteger),
        sa.Column("first_seen_ms", sa.BigInteger, nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "camera_keys",
        sa.Column("camera_id", _ID, primary_key=True),
        sa.Column("kid", sa.String(16), primary_key=True),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("valid_from_seq", sa.BigInteger),
        sa.Column("retired_after_seq", sa.BigInteger),
        sa.Column("added_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "chains",
        sa.Column("camera_id", _ID, primary_key=True),
        sa.Column("base", sa.BigInteger, nullable=False),
        sa.Column("confirmed_through", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("problems", sa.Integer, nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("camera_id", _ID, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("wire", sa.LargeBinary, nullable=False),
        sa.Column("received_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "windows",
        sa.Column("camera_id", _ID, primary_key=True),
        sa.Column("window_start", sa.BigInteger, primary_key=True),
        sa.Column("window_end", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("coverage", sa.String(8), nullable=False),
        sa.Column("k", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer),
        sa.Column("late", sa.Integer),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("received_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "buckets",
        sa.Column("camera_id", _ID, primary_key=True),
        sa.Column("start", sa.BigInteger, primary_key=True),
        *(
            sa.Column(name, sa.BigInteger, nullable=False)
            for name in ("total", "late", "withheld", "late_withheld", "windows", "full")
        ),
    )
    op.create_index("ix_buckets_start", "buckets", ["start"])
    op.create_table(
        "bucket_labels",
        sa.Column("camera_id", _ID, primary_key=True),
        sa.Column("start", sa.BigInteger, primary_key=True),
        sa.Column("dim", sa.String(16), primary_key=True),
        sa.Column("label", sa.String(16), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "problems",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("camera_id", _ID, nullable=False),
        sa.Column("seq", sa.BigInteger),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("recipient", _ID, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("cameras", sa.Text),
        sa.Column("area", sa.Text),
        sa.Column("dimensions", sa.Text, nullable=False),
        sa.Column("granularity_s", sa.Integer, nullable=False),
        sa.Column("per_camera", sa.Boolean, nullable=False),
        sa.Column("retention_days", sa.Integer, nullable=False),
        sa.Column("onward_sharing", sa.Boolean, nullable=False),
        sa.Column("valid_from", sa.BigInteger, nullable=False),
        sa.Column("valid_until", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("decided_by", sa.Text),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("grant_id", sa.Integer),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("rows", sa.BigInteger),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_problems_camera_id", "problems", ["camera_id"])
    op.create_index("ix_grants_recipient", "grants", ["recipient"])
    op.create_index("ix_audit_at_ms", "audit", ["at_ms"])


def downgrade() -> None:
    """Drop every table."""
    for table in (
        "audit",
        "grants",
        "problems",
        "bucket_labels",
        "buckets",
        "windows",
        "records",
        "chains",
        "camera_keys",
        "cameras",
    ):
        op.drop_table(table)
