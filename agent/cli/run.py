"""``anpr-agent run`` (the daemon) and ``anpr-agent status`` (its health, for a person).

``status`` reads the running agent's Prometheus endpoint on the loopback
``service.metrics_address`` (the figures the agent itself holds: frames, fps,
uplinks, alarms). When the agent does not answer it says so and prints what
the journal alone tells (read-only: it never writes to a running agent's
journal). Exit 0: running without alarms; 1: not running, or alarms; 2: bad
config.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client.parser import text_string_to_metric_families

from agent.config.load import ConfigError, LoadedConfig, load_config
from agent.journal.db import JournalError, open_readonly
from agent.service import ServiceOptions, run_service

if TYPE_CHECKING:
    import argparse

    from agent.config.schema import AgentConfig

__all__ = ["add_parsers", "fetch_metrics"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_MIB = 1024 * 1024


def _err(line: str) -> None:
    print(f"anpr-agent: {line}", file=sys.stderr)


def _load(path: Path) -> LoadedConfig | None:
    try:
        return load_config(path, os.environ)
    except ConfigError as exc:
        for problem in exc.problems:
            _err(f"{path}: {problem}")
        return None


def _cmd_run(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    if loaded is None:
        return EXIT_USAGE
    return run_service(loaded, options=ServiceOptions(drain_only=args.drain_only))


Samples = dict[str, list[tuple[dict[str, str], float]]]


def fetch_metrics(address: str, timeout: float = 3.0) -> Samples:
    """Scrape the agent's endpoint; samples by name (OSError when it does not answer)."""
    url = f"http://{address}/metrics"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        text = response.read().decode("utf-8")
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def _one(samples: Samples, name: str, **labels: str) -> float:
    for got, value in samples.get(name, []):
        if all(got.get(k) == v for k, v in labels.items()):
            return value
    return 0.0


def _clock(samples: Samples) -> str:
    """The clock's state in words (the kernel's, as the agent last read it)."""
    if "anpr_clock_synced" not in samples:
        return "state unknown (the kernel's clock state could not be read)"
    maxerror_ms = _one(samples, "anpr_clock_maxerror_seconds") * 1000
    synced = "synchronised" if _one(samples, "anpr_clock_synced") else "NOT synchronised"
    steps = int(_one(samples, "anpr_clock_steps_total"))
    return f"{synced}, kernel max error {maxerror_ms:g} ms, {steps} step(s) since start"


def _from_metrics(samples: Samples) -> dict[str, object]:
    streams = sorted({lab["stream"] for lab, _ in samples.get("anpr_journal_head_seq", [])})
    return {
        "running": True,
        "uptime_s": int(_one(samples, "anpr_uptime_seconds")),
        "frames": int(_one(samples, "anpr_frames_total")),
        "frames_dropped": int(_one(samples, "anpr_frames_dropped_total")),
        "frames_corrupt": int(_one(samples, "anpr_frames_corrupt_total")),
        "camera_frame_age_s": (
            int(_one(samples, "anpr_camera_frame_age_seconds"))
            if "anpr_camera_frame_age_seconds" in samples
            else None
        ),
        "fps": round(_one(samples, "anpr_fps"), 1),
        "reads": int(_one(samples, "anpr_reads_total")),
        "reads_refused": int(_one(samples, "anpr_reads_refused_total")),
        "journal": {
            s: {
                "head_seq": int(_one(samples, "anpr_journal_head_seq", stream=s)),
                **{
                    state: int(_one(samples, "anpr_journal_records", stream=s, state=state))
                    for state in ("pending", "published", "confirmed")
                },
                "oldest_pending_age_s": int(
                    _one(samples, "anpr_journal_oldest_pending_age_seconds", stream=s)
                ),
            }
            for s in streams
        },
        "journal_bytes": int(_one(samples, "anpr_journal_bytes")),
        "quota_bytes": int(_one(samples, "anpr_journal_quota_bytes")),
        "disk_free_bytes": int(_one(samples, "anpr_disk_free_bytes")),
        "uplinks": {
            u: {
                "connected": bool(_one(samples, "anpr_uplink_connected", uplink=u)),
                "connects": int(_one(samples, "anpr_uplink_connects_total", uplink=u)),
                "connect_failures": int(
                    _one(samples, "anpr_uplink_connect_failures_total", uplink=u)
                ),
                "puback_failures": int(
                    _one(samples, "anpr_uplink_puback_failures_total", uplink=u)
                ),
                "cert_expiry_days": int(_one(samples, "anpr_cert_expiry_days", uplink=u)),
            }
            for u in ("police", "civil")
        },
        "alarms": [lab["line"] for lab, _ in samples.get("anpr_alarm", [])],
        "rss_bytes": int(_one(samples, "anpr_process_rss_bytes")),
        "open_fds": int(_one(samples, "anpr_process_open_fds")),
        "threads": int(_one(samples, "anpr_threads")),
        "clock": _clock(samples),
    }


def _from_journal(cfg: AgentConfig) -> dict[str, object]:
    with open_readonly(cfg.journal.path, cfg.camera.id) as store:
        stats = store.stats(())
    return {
        "running": False,
        "journal": {
            s.stream: {
                "head_seq": s.head_seq,
                "pending": s.pending,
                "published": s.published,
                "confirmed": s.confirmed,
            }
            for s in stats.streams
        },
        "journal_bytes": stats.file_bytes,
        "quota_bytes": cfg.journal.quota_bytes,
        "alarms": [],
    }


def _mapping(value: object) -> dict[str, Any]:
    """Narrow a status section to a dict (a real check: ``python -O`` strips asserts)."""
    if not isinstance(value, dict):
        raise TypeError(f"status section is {type(value).__name__}, not a mapping")
    return value


def _print(status: dict[str, object], cfg: AgentConfig, where: str) -> None:
    print(f"anpr-agent {cfg.camera.id}: {where}")
    if status["running"]:
        print(
            f"  camera   {status['frames']} frames ({status['frames_dropped']} dropped), "
            f"{status['fps']} fps, {status['reads']} reads ({status['reads_refused']} refused), "
            f"up {status['uptime_s']} s"
        )
        age = status.get("camera_frame_age_s")
        if age is not None:
            print(
                f"           last frame {age} s ago, {status['frames_corrupt']} corrupt frame(s) "
                "skipped"
            )
    for stream, s in _mapping(status["journal"]).items():
        age = f" (oldest {s['oldest_pending_age_s']} s)" if "oldest_pending_age_s" in s else ""
        print(
            f"  {stream:<8} head seq {s['head_seq']}, pending {s['pending']}{age}, "
            f"published {s['published']}, confirmed {s['confirmed']}"
        )
    used, quota = int(str(status["journal_bytes"])), int(str(status["quota_bytes"]))
    line = f"  disk     journal {used / _MIB:.1f} MiB of {quota / _MIB:.0f} MiB quota"
    if status["running"]:
        line += f", {int(str(status['disk_free_bytes'])) / _MIB:.0f} MiB free"
    print(line)
    if status["running"]:
        print(
            f"  process  {int(str(status['rss_bytes'])) / _MIB:.0f} MiB resident, "
            f"{status['open_fds']} open files, {status['threads']} threads"
        )
        print(f"  clock    {status['clock']}")
    for name, u in _mapping(status.get("uplinks", {})).items():
        print(
            f"  {name:<8} {'connected' if u['connected'] else 'NOT CONNECTED'}, "
            f"{u['connects']} connect(s), {u['connect_failures']} failure(s), "
            f"{u['puback_failures']} PUBACK failure(s), "
            f"client cert expires in {u['cert_expiry_days']} day(s)"
        )
    alarms = status["alarms"]
    if not isinstance(alarms, list):
        raise TypeError("status: alarms is not a list")
    print(f"  alarms   {len(alarms) or 'none'}")
    for alarm in alarms:
        print(f"    - {alarm}")


def _cmd_status(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    if loaded is None:
        return EXIT_USAGE
    cfg = loaded.config
    address = cfg.service.metrics_address
    try:
        status = _from_metrics(fetch_metrics(address, args.timeout))
        where = f"running (metrics on {address})"
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", None) or exc
        try:
            status = _from_journal(cfg)
        except JournalError as jexc:
            _err(f"not answering on {address} ({reason}); {jexc}")
            return EXIT_FAILED
        where = f"NOT RUNNING (nothing answers on {address}: {reason}); from the journal"
    if args.json:
        print(json.dumps(status, sort_keys=True))
    else:
        _print(status, cfg, where)
    return EXIT_OK if status["running"] and not status["alarms"] else EXIT_FAILED


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run`` and ``status``."""
    run = sub.add_parser("run", help="run the agent (systemd Type=notify service)")
    run.add_argument("--config", type=Path, required=True, metavar="FILE")
    run.add_argument(
        "--drain-only",
        action="store_true",
        help="no camera: deliver the journal backlog and publish counts windows only",
    )
    run.set_defaults(func=_cmd_run)
    status = sub.add_parser("status", help="the running agent's health, for a person")
    status.add_argument("--config", type=Path, required=True, metavar="FILE")
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the agent")
    status.set_defaults(func=_cmd_status)
