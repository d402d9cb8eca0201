"""``anpr-sim bench soak``: the agent as a real process for M minutes, watched for growth.

A child process runs ``anpr-agent run`` (the same ``run_service``) with a
fake read source that hands over plates at a steady rate, against a real
police and civil mosquitto (mTLS) and the reference back offices. The parent
samples the child's resident memory, open files and threads from ``/proc``
(after a warm-up) and, once the source has stopped and the journal drained,
stops the child with SIGTERM and counts what the back office verified and
opened. ``lost`` = reads the child handed over - distinct reads received.

A benchmark, never a timed test: it prints one JSON object.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from cryptography.hazmat.primitives import serialization

from agent.config.load import load_config
from agent.core.events import PlateRead
from agent.security.crypto import key_id
from agent.security.keyfiles import load_signing_key
from agent.service import run_service
from simulator.backoffice import CivilBackOffice, PoliceBackOffice
from simulator.broker import free_port
from simulator.demo import civil_broker, police_broker
from simulator.fakes import FakeReadSource, synthetic_crop
from simulator.mqttc import client_context
from simulator.pki import DevPki, agent_config_toml, init_pki

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

__all__ = ["add_parser", "bench_soak"]

_SAMPLE_S = 5.0


def _config(work: Path, pki: DevPki, police: str, civil: str) -> Path:
    text = agent_config_toml(
        pki,
        journal=work / "journal.sqlite",
        police_url=police,
        civil_url=civil,
        site="soak",
        legal_basis="soak",
        counts_extra=f"""window_s = 60
grace_s = 2

[service]
log_level = "WARNING"
metrics_address = "127.0.0.1:{free_port()}"
heartbeat_s = 10
""",
    )
    path = work / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _reads(seconds: float, seed: int = 7) -> Iterator[PlateRead]:
    """Distinct plausible reads with a realistic crop, for ``seconds``."""
    rng = random.Random(seed)  # noqa: S311 - test data, not crypto
    crop = synthetic_crop(np.random.default_rng(seed))
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
        letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTVWXYZ") for _ in range(3))
        yield PlateRead(
            text=f"{1 + n // 1_000_000}{letters}{n % 1000:03d}",
            char_conf=(950,) * 7,
            country=rng.choice(("B", "B", "NL", "F", "D")),
            lane=rng.choice((1, 2)),
            direction=rng.choice(("approaching", "receding")),
            vehicle_class=None,
            wall_ms=int(time.time() * 1000),
            frames=5,
            crop_jpeg=crop,
        )


def _child(config: Path, rate: float, seconds: float) -> int:
    """The agent under test (runs in the child process)."""
    source = FakeReadSource(_reads(seconds), rate=rate)
    code = run_service(load_config(config, os.environ), source)
    print(f"emitted {source.emitted}", flush=True)
    return code


def _proc(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_kb": int(fields["VmRSS"].split()[0]),
        "threads": int(fields["Threads"]),
        "fds": sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir()),
    }


def _back_offices(
    pki: DevPki, police_url: str, civil_url: str
) -> tuple[PoliceBackOffice, CivilBackOffice]:
    """The police back office and the city, started, both trusting the camera's key."""
    sign = load_signing_key(pki.path("device-sign.key")).public_key()
    trusted = {"cam-01": {key_id(sign): sign}}
    seal = serialization.load_pem_private_key(pki.path("backoffice-seal.key").read_bytes(), None)
    office = PoliceBackOffice(
        police_url,
        client_context(
            pki.path("police-ca.crt"), pki.path("backoffice.crt"), pki.path("backoffice.key")
        ),
        seal_key=seal,  # type: ignore[arg-type]
        trusted=trusted,
    )
    city = CivilBackOffice(
        civil_url,
        client_context(pki.path("civil-ca.crt"), pki.path("city.crt"), pki.path("city.key")),
        trusted=trusted,
    )
    office.start()
    city.start()
    return office, city


@dataclass
class _Agent:
    """The agent under test in a child process, its output collected line by line."""

    child: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @classmethod
    def spawn(cls, config: Path, rate: float, seconds: float) -> _Agent:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANPR_", "NOTIFY_"))}
        child = subprocess.Popen(
            [sys.executable, "-m", "simulator.soak", str(config), str(rate), str(seconds)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        agent = cls(child)
        agent.reader = threading.Thread(
            target=lambda: agent.output.extend(line.rstrip() for line in child.stdout or ()),
            daemon=True,
        )
        agent.reader.start()
        return agent

    def stop(self) -> int:
        """SIGTERM, wait; the exit code."""
        self.child.send_signal(signal.SIGTERM)
        code = self.child.wait(120)
        if self.reader is not None:
            self.reader.join(10)
        if self.child.stdout is not None:
            self.child.stdout.close()
        return code

    def emitted(self) -> int:
        """How many reads the agent's source handed over (its last words), -1 if unknown."""
        lines = (x for x in reversed(self.output) if x.startswith("emitted "))
        return next((int(x.removeprefix("emitted ")) for x in lines), -1)


def _sample(agent: _Agent, seconds: float, warmup: float) -> list[dict[str, int]]:
    """Sample the agent's memory, threads and fds every few seconds after the warm-up."""
    started = time.monotonic()
    samples: list[dict[str, int]] = []
    while time.monotonic() - started < seconds and agent.child.poll() is None:
        time.sleep(_SAMPLE_S)
        if time.monotonic() - started >= warmup:
            samples.append(_proc(agent.child.pid))
    return samples


def _wait_drained(agent: _Agent, office: PoliceBackOffice, timeout_s: float = 120) -> None:
    """Until the back office holds every record the agent journaled (or the agent ended)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and agent.child.poll() is None:
        feed = office.feed("cam-01")
        status = office.status.get("cam-01", {})
        if feed and status.get("pending") == 0 and feed.acked >= feed.max_seq > 0:
            return
        time.sleep(1)


def bench_soak(minutes: float, rate: float, work: Path) -> dict[str, object]:
    """Run the agent for ``minutes`` at ``rate`` reads/s; sample it; count what arrived.

    The story: brokers and back offices -> the agent in a child process -> samples
    while it runs -> drain -> stop -> figures.
    """
    pki = init_pki(work / "pki", "cam-01")
    seconds = minutes * 60
    with (
        police_broker(work / "police-broker", pki) as police,
        civil_broker(work / "civil-broker", pki) as civil,
    ):
        office, city = _back_offices(pki, police.url, civil.url)
        agent = _Agent.spawn(_config(work, pki, police.url, civil.url), rate, seconds)
        samples = _sample(agent, seconds, warmup=min(30.0, seconds * 0.1))
        # Source done: let the journal drain to the back office, then sample once more.
        _wait_drained(agent, office)
        if agent.child.poll() is None:
            samples.append(_proc(agent.child.pid))
        code = agent.stop()
        time.sleep(2)  # the last PUBACKed records reach the back office
        office.stop()
        city.stop()
    emitted = agent.emitted()
    feed = office.feed("cam-01")
    received = len(feed.opened) if feed else 0
    first, last = (samples[0], samples[-1]) if samples else ({}, {})
    return {
        "benchmark": "soak",
        "minutes": minutes,
        "rate_per_s": rate,
        "exit_code": code,
        "rss_start_kb": first.get("rss_kb"),
        "rss_end_kb": last.get("rss_kb"),
        "rss_max_kb": max((s["rss_kb"] for s in samples), default=None),
        "fds_start": first.get("fds"),
        "fds_end": last.get("fds"),
        "threads_start": first.get("threads"),
        "threads_end": last.get("threads"),
        "samples": len(samples),
        "reads": emitted,
        "received": received,
        "lost": emitted - received,
        "duplicates": office.duplicates,
        "problems": len(office.problems) + len(city.problems),
        "count_windows": len(city.windows),
        "journal_bytes": sum(p.stat().st_size for p in work.glob("journal.sqlite*")),
    }


def _cmd_soak(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="anpr-bench-soak-"))
    try:
        result = bench_soak(args.minutes, args.rate, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(result) if args.json else "\n".join(f"{k:>16}: {v}" for k, v in result.items())
    )
    return 0 if result["lost"] == 0 and result["exit_code"] == 0 else 1


def add_parser(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bench soak`` to the ``bench`` group."""
    soak = kinds.add_parser("soak", help="the agent process for M minutes: RSS, fds, threads, lost")
    soak.add_argument("--minutes", type=float, default=30.0)
    soak.add_argument("--rate", type=float, default=10.0, help="reads per second")
    soak.add_argument("--json", action="store_true", help="one JSON object")
    soak.set_defaults(func=_cmd_soak)


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])))
