"""Health figures: one snapshot feeds the Prometheus endpoint, the MQTT status and ``status``.

Nothing here can carry a plate: the snapshot holds counters, delivery states,
sizes, days and alarm lines (which name streams and seqs, never content).
The civil heartbeat gets a narrower view than the police one: a read or frame
counter refreshed every heartbeat would be a traffic count below k, which the
civil side must only ever get through disclosure control; so would the disk
figures (the journal grows with every read), and the uptime would date the
boot the police records name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from prometheus_client import Metric

    from agent.journal.db import JournalStats

__all__ = ["HealthCollector", "Snapshot", "UplinkFigures", "own_resources", "status_fields"]


@dataclass(frozen=True, slots=True)
class UplinkFigures:
    """One uplink's figures."""

    name: str
    stream: str
    connected: bool
    connects: int
    connect_failures: int
    published: int
    refused: int
    cert_expiry_days: int | None
    resent: int = 0  # records sent again: in flight when a connection died
    replayed: int = 0  # records sent again because the back office asked (replay)
    bad_messages: int = 0  # back-office messages ignored (malformed, too large, bogus)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The agent's health at one moment."""

    camera: str
    software: str
    uptime_s: int
    frames: int
    frames_dropped: int
    fps: float
    reads: int
    reads_refused: int
    journal: JournalStats
    oldest_pending_age_s: dict[str, int]
    uplinks: tuple[UplinkFigures, ...]
    disk_free_bytes: int
    alarms: tuple[str, ...]
    stalled: str | None
    threads: int
    rss_bytes: int
    open_fds: int
    frames_corrupt: int = 0  # undecodable frames the camera sent (skipped)
    camera_frame_age_s: float | None = None  # since the last frame; None: no camera running
    clock_synced: bool | None = None  # None: the kernel's clock state could not be read
    clock_maxerror_us: int | None = None
    clock_steps: int = 0  # wall-clock steps above the bound since start


def own_resources() -> tuple[int, int]:
    """Resident memory (bytes) and open file descriptors of the agent, from ``/proc/self``.

    Read directly rather than through prometheus-client's process collector,
    which also needs ``/proc/stat`` — hidden by the unit's ``ProcSubset=pid``.
    """
    rss = 0
    try:
        with open("/proc/self/status", encoding="ascii") as status:  # noqa: PTH123
            for line in status:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                    break
        fds = len(os.listdir("/proc/self/fd"))  # noqa: PTH208
    except OSError:
        return rss, 0
    return rss, fds


def status_fields(snap: Snapshot, uplink: str) -> dict[str, object]:
    """Health fields for one uplink's retained status heartbeat (integers and strings only)."""
    mine = next(u for u in snap.uplinks if u.name == uplink)
    stream = next(s for s in snap.journal.streams if s.stream == mine.stream)
    fields: dict[str, object] = {
        "oldest_pending_age_s": snap.oldest_pending_age_s.get(mine.stream, 0),
        "pending": stream.pending,
        "reconnects": max(0, mine.connects - 1),
        "puback_refused": mine.refused,
        "cert_expiry_days": mine.cert_expiry_days,
    }
    if uplink == "police":
        fields.update(
            {
                # Disk figures move with every read (traffic below the window and below
                # k) and the uptime dates the boot the police records name: police only.
                "disk_free_bytes": snap.disk_free_bytes,
                "quota_used_permille": _permille(snap.journal.file_bytes, snap.journal.quota_bytes),
                "uptime_s": snap.uptime_s,
                "frames": snap.frames,
                "frames_dropped": snap.frames_dropped,
                "frames_corrupt": snap.frames_corrupt,
                "camera_frame_age_s": None
                if snap.camera_frame_age_s is None
                else int(snap.camera_frame_age_s),
                "fps": round(snap.fps),
                "reads": snap.reads,
                "alarms": list(snap.alarms),
                "stalled": snap.stalled,
                "rss_bytes": snap.rss_bytes,
                "open_fds": snap.open_fds,
                "threads": snap.threads,
                "clock_synced": snap.clock_synced,
                "clock_maxerror_us": snap.clock_maxerror_us,
                "clock_steps": snap.clock_steps,
            }
        )
    else:
        fields["alarms"] = [a for a in snap.alarms if a.startswith("civil")]
    return fields


def _permille(used: int, total: int) -> int:
    return round(1000 * used / total) if total else 0


class HealthCollector(Collector):
    """Prometheus collector that reads a fresh :class:`Snapshot` at every scrape."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """The agent's metrics (names start with ``anpr_``)."""
        snap = self._snapshot()
        info = GaugeMetricFamily(
            "anpr_agent_info", "Agent identity (value 1).", labels=["camera", "software"]
        )
        info.add_metric([snap.camera, snap.software], 1)
        yield info
        yield GaugeMetricFamily("anpr_uptime_seconds", "Seconds since start.", value=snap.uptime_s)
        yield CounterMetricFamily("anpr_frames", "Frames taken from the camera.", snap.frames)
        yield CounterMetricFamily(
            "anpr_frames_dropped", "Frames dropped: inference fell behind.", snap.frames_dropped
        )
        yield CounterMetricFamily(
            "anpr_frames_corrupt",
            "Undecodable frames from the camera, skipped.",
            snap.frames_corrupt,
        )
        if snap.camera_frame_age_s is not None:
            yield GaugeMetricFamily(
                "anpr_camera_frame_age_seconds",
                "Seconds since the camera's last frame (idle beats do not reset it).",
                value=snap.camera_frame_age_s,
            )
        yield GaugeMetricFamily("anpr_fps", "Frames per second, recent.", value=snap.fps)
        yield CounterMetricFamily("anpr_reads", "Vehicle passes handed to the journal.", snap.reads)
        yield CounterMetricFamily(
            "anpr_reads_refused", "Reads the journal refused (full).", snap.reads_refused
        )
        yield from self._journal(snap)
        yield from self._uplinks(snap)
        yield GaugeMetricFamily(
            "anpr_disk_free_bytes",
            "Free bytes on the journal's file system.",
            value=snap.disk_free_bytes,
        )
        yield GaugeMetricFamily("anpr_threads", "Python threads alive.", value=snap.threads)
        yield GaugeMetricFamily(
            "anpr_process_rss_bytes", "Resident memory of the agent.", value=snap.rss_bytes
        )
        yield GaugeMetricFamily(
            "anpr_process_open_fds", "Open file descriptors of the agent.", value=snap.open_fds
        )
        yield GaugeMetricFamily("anpr_alarms", "Active alarms.", value=len(snap.alarms))
        alarm = GaugeMetricFamily("anpr_alarm", "One per active alarm (its line).", labels=["line"])
        for line in snap.alarms:
            alarm.add_metric([line], 1)
        yield alarm
        yield GaugeMetricFamily(
            "anpr_pipeline_stalled",
            "1 while a stage makes no progress.",
            value=int(snap.stalled is not None),
        )
        yield from self._clock(snap)

    @staticmethod
    def _clock(snap: Snapshot) -> Iterator[Metric]:
        if snap.clock_synced is not None:
            yield GaugeMetricFamily(
                "anpr_clock_synced",
                "1 while the kernel says the clock is synchronised (adjtimex).",
                value=int(snap.clock_synced),
            )
        if snap.clock_maxerror_us is not None:
            yield GaugeMetricFamily(
                "anpr_clock_maxerror_seconds",
                "The kernel's bound on the wall clock's error (adjtimex maxerror).",
                value=snap.clock_maxerror_us / 1e6,
            )
        yield CounterMetricFamily(
            "anpr_clock_steps", "Wall-clock steps above service.clock_step_ms.", snap.clock_steps
        )

    @staticmethod
    def _journal(snap: Snapshot) -> Iterator[Metric]:
        records = GaugeMetricFamily(
            "anpr_journal_records",
            "Records kept, per stream and state.",
            labels=["stream", "state"],
        )
        head = GaugeMetricFamily("anpr_journal_head_seq", "Chain head seq.", labels=["stream"])
        age = GaugeMetricFamily(
            "anpr_journal_oldest_pending_age_seconds",
            "Age of the oldest record not yet PUBACKed (0 when none).",
            labels=["stream"],
        )
        for s in snap.journal.streams:
            for state, value in (
                ("pending", s.pending),
                ("published", s.published),
                ("confirmed", s.confirmed),
            ):
                records.add_metric([s.stream, state], value)
            head.add_metric([s.stream], s.head_seq)
            age.add_metric([s.stream], snap.oldest_pending_age_s.get(s.stream, 0))
        yield records
        yield head
        yield age
        yield GaugeMetricFamily(
            "anpr_journal_bytes", "Journal file size.", value=snap.journal.file_bytes
        )
        yield GaugeMetricFamily(
            "anpr_journal_quota_bytes", "Journal quota.", value=snap.journal.quota_bytes
        )
        yield GaugeMetricFamily(
            "anpr_journal_quota_used_ratio",
            "Journal size / quota.",
            value=snap.journal.file_bytes / snap.journal.quota_bytes
            if snap.journal.quota_bytes
            else 0.0,
        )

    @staticmethod
    def _uplinks(snap: Snapshot) -> Iterator[Metric]:
        label = ["uplink"]
        connected = GaugeMetricFamily("anpr_uplink_connected", "1 when connected.", labels=label)
        connects = CounterMetricFamily("anpr_uplink_connects", "Successful connects.", labels=label)
        failures = CounterMetricFamily(
            "anpr_uplink_connect_failures", "Failed connection attempts.", labels=label
        )
        published = CounterMetricFamily(
            "anpr_uplink_published", "Records PUBACKed (reason < 0x80).", labels=label
        )
        refused = CounterMetricFamily(
            "anpr_uplink_puback_failures", "PUBACKs with a failure reason.", labels=label
        )
        expiry = GaugeMetricFamily(
            "anpr_cert_expiry_days", "Days until the client certificate expires.", labels=label
        )
        resent = CounterMetricFamily(
            "anpr_uplink_resent",
            "Records sent again: in flight when a connection died (the agent's duplicates).",
            labels=label,
        )
        replayed = CounterMetricFamily(
            "anpr_uplink_replayed", "Records sent again on the back office's replay.", labels=label
        )
        bad = CounterMetricFamily(
            "anpr_uplink_bad_messages", "Back-office messages ignored as invalid.", labels=label
        )
        for u in snap.uplinks:
            resent.add_metric([u.name], u.resent)
            replayed.add_metric([u.name], u.replayed)
            bad.add_metric([u.name], u.bad_messages)
            connected.add_metric([u.name], int(u.connected))
            connects.add_metric([u.name], u.connects)
            failures.add_metric([u.name], u.connect_failures)
            published.add_metric([u.name], u.published)
            refused.add_metric([u.name], u.refused)
            if u.cert_expiry_days is not None:
                expiry.add_metric([u.name], u.cert_expiry_days)
        yield from (connected, connects, failures, published, refused, expiry)
        yield from (resent, replayed, bad)
