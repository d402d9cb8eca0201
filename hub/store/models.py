"""The hub's tables (SQLAlchemy 2 declarative). Migrations live in ``hub/migrations``.

Times are integers: window and bucket bounds in epoch seconds, event times
(``*_ms``) in epoch milliseconds. JSON columns hold canonical-JSON text.
Nothing here can hold a plate: count windows carry only closed-vocabulary
labels and counts (docs/PROTOCOL.md, civil counts).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Audit",
    "Base",
    "Bucket",
    "BucketLabel",
    "Camera",
    "CameraKey",
    "Chain",
    "Grant",
    "ProblemRow",
    "Record",
    "Window",
]

_ID = String(64)


class Base(DeclarativeBase):
    """Declarative base of the hub's schema."""


class Camera(Base):
    """One camera of the inventory, from its latest verified descriptor."""

    __tablename__ = "cameras"
    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    site: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(Text)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    owner: Mapped[str | None] = mapped_column(Text)
    operator: Mapped[str | None] = mapped_column(Text)
    vendor: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    lanes: Mapped[int | None] = mapped_column(Integer)
    purpose: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    software: Mapped[str | None] = mapped_column(Text)
    counts_purpose: Mapped[str | None] = mapped_column(Text)
    counts_legal_basis: Mapped[str | None] = mapped_column(Text)
    window_s: Mapped[int | None] = mapped_column(Integer)
    k: Mapped[int | None] = mapped_column(Integer)
    dimensions: Mapped[str | None] = mapped_column(Text)  # JSON list
    descriptor: Mapped[bytes | None] = mapped_column(LargeBinary)  # signed wire bytes
    descriptor_ts: Mapped[int | None] = mapped_column(BigInteger)
    first_seen_ms: Mapped[int] = mapped_column(BigInteger)
    last_seen_ms: Mapped[int] = mapped_column(BigInteger)


class CameraKey(Base):
    """Key history: keys registered by an operator and keys announced by rotation records."""

    __tablename__ = "camera_keys"
    camera_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    kid: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key: Mapped[str] = mapped_column(Text)  # raw Ed25519, base64
    source: Mapped[str] = mapped_column(String(16))  # registered | rotation
    valid_from_seq: Mapped[int | None] = mapped_column(BigInteger)
    retired_after_seq: Mapped[int | None] = mapped_column(BigInteger)
    added_ms: Mapped[int] = mapped_column(BigInteger)


class Chain(Base):
    """Delivery state of one camera's counts stream."""

    __tablename__ = "chains"
    camera_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    base: Mapped[int] = mapped_column(BigInteger, default=1)  # first seq expected
    confirmed_through: Mapped[int] = mapped_column(BigInteger, default=0)  # acked
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    problems: Mapped[int] = mapped_column(Integer, default=0)


class Record(Base):
    """Every verified record of a counts stream, as received (the audit trail of ingest)."""

    __tablename__ = "records"
    camera_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64))
    prev: Mapped[str] = mapped_column(String(64))
    wire: Mapped[bytes] = mapped_column(LargeBinary)
    received_ms: Mapped[int] = mapped_column(BigInteger)


class Window(Base):
    """One count window, deduplicated on its id (camera, window_start)."""

    __tablename__ = "windows"
    camera_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    window_end: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    coverage: Mapped[str] = mapped_column(String(8))
    k: Mapped[int] = mapped_column(Integer)
    total: Mapped[int | None] = mapped_column(Integer)  # None: withheld (1..k-1)
    late: Mapped[int | None] = mapped_column(Integer)  # None: withheld
    data: Mapped[str] = mapped_column(Text)  # the civil message, canonical JSON
    received_ms: Mapped[int] = mapped_column(BigInteger)


class Bucket(Base):
    """Per camera and base time step (``disclosure.base_s``): sums of its windows."""

    __tablename__ = "buckets"
    camera_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)  # sum of published totals
    late: Mapped[int] = mapped_column(BigInteger, default=0)
    withheld: Mapped[int] = mapped_column(BigInteger, default=0)  # windows with total withheld
    late_withheld: Mapped[int] = mapped_column(BigInteger, default=0)
    windows: Mapped[int] = mapped_column(BigInteger, default=0)
    full: Mapped[int] = mapped_column(BigInteger, default=0)  # windows with coverage full
    __table_args__ = (Index("ix_buckets_start", "start"),)


class BucketLabel(Base):
    """Per camera, base time step, dimension and label: the sum of the windows' marginals."""

    __tablename__ = "bucket_labels"
    camera_id: Mapped[str] = mapped_column(_ID, primary_key=True)
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dim: Mapped[str] = mapped_column(String(16), primary_key=True)
    label: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ProblemRow(Base):
    """A verification problem of a camera's stream or descriptor."""

    __tablename__ = "problems"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(_ID, index=True)
    seq: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    at_ms: Mapped[int] = mapped_column(BigInteger)


class Grant(Base):
    """What one recipient may receive, why, for how long."""

    __tablename__ = "grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(_ID, index=True)  # its client certificate's CN
    purpose: Mapped[str] = mapped_column(Text)
    cameras: Mapped[str | None] = mapped_column(Text)  # JSON list of camera ids
    area: Mapped[str | None] = mapped_column(Text)  # JSON [min_lat, min_lon, max_lat, max_lon]
    dimensions: Mapped[str] = mapped_column(Text)  # JSON list
    granularity_s: Mapped[int] = mapped_column(Integer)  # finest time step it may ask for
    per_camera: Mapped[bool] = mapped_column(Boolean, default=False)
    retention_days: Mapped[int] = mapped_column(Integer)
    onward_sharing: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_from: Mapped[int] = mapped_column(BigInteger)  # epoch s
    valid_until: Mapped[int] = mapped_column(BigInteger)  # epoch s, exclusive
    state: Mapped[str] = mapped_column(String(16))  # requested | approved | revoked
    created_ms: Mapped[int] = mapped_column(BigInteger)
    decided_by: Mapped[str | None] = mapped_column(Text)


class Audit(Base):
    """Every grant change, every access (granted or refused), every purge."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    grant_id: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(Text)
    rows: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str] = mapped_column(Text)  # JSON
