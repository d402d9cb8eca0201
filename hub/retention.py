"""Retention: the hub keeps count windows ``store.retention_days``; the purge is audited."""

from __future__ import annotations

from sqlalchemy import and_, delete, select

from hub.grants import audit
from hub.store.models import Bucket, BucketLabel, Record, Window

__all__ = ["purge"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def purge(
    engine: Engine, *, retention_days: int, now_s: int, base_s: int, actor: str
) -> dict[str, int]:
    """Delete windows (their records) and base buckets older than the retention; audit it."""
    cutoff = now_s - retention_days * 86400
    cutoff -= cutoff % base_s  # whole base steps only: a bucket is never half purged
    with engine.begin() as conn:
        old = select(Window.camera_id, Window.seq).where(Window.window_start < cutoff)
        gone_records = 0
        for camera, seq in conn.execute(old).all():
            gone_records += conn.execute(
                delete(Record).where(and_(Record.camera_id == camera, Record.seq == seq))
            ).rowcount
        done = {
            "windows": conn.execute(delete(Window).where(Window.window_start < cutoff)).rowcount,
            "records": gone_records,
            "buckets": conn.execute(delete(Bucket).where(Bucket.start < cutoff)).rowcount,
            "bucket_labels": conn.execute(
                delete(BucketLabel).where(BucketLabel.start < cutoff)
            ).rowcount,
            "cutoff": cutoff,
        }
        audit(
            conn,
            actor=actor,
            action="purge",
            outcome="ok",
            rows=done["windows"],
            detail={**done, "retention_days": retention_days},
        )
    return done
