"""``anpr-sim bench …``: benchmarks that print one JSON object (never timed tests).

``bench journal``: signed + sealed appends per second at the configured
durability (a record counts only once its transaction is committed), verify
throughput, and bytes per record on disk, with a realistic JPEG plate crop.

``bench uplink``: a real mosquitto with mTLS; a backlog of journaled records is
drained by the police uplink (records/s until every one is PUBACKed and
marked), against a bare paho QoS 1 publisher of the same payloads to the same
broker in the same run (the ceiling), in ``--rounds`` raw/drain pairs whose
median ratio is reported (a load that drifts on a shared machine weighs on
both sides of each pair); then a steady phase measures journal-commit →
PUBACK latency. A subscriber counts what arrived. ``--overview-bytes N``
gives every read an overview image of about N bytes; the figures then include
MB/s.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from paho.mqtt.enums import CallbackAPIVersion

from agent.config.schema import JournalConfig, UplinkConfig, broker_endpoint
from agent.core.clock import SystemClock
from agent.core.events import PlateRead
from agent.journal.db import open_readonly
from agent.journal.store import Journal
from agent.journal.verify import verify_records
from agent.recognition.overview import OverviewSettings, encode
from agent.security.crypto import Sealer, Signer
from agent.security.keyfiles import load_sealing_public_key, load_signing_key
from agent.security.tls import build_client_context
from agent.uplink.client import Uplink
from simulator.benchintake import add_parser as add_intake_bench
from simulator.demo import police_broker
from simulator.fakes import synthetic_crop
from simulator.hubbench import add_hub_bench
from simulator.mqttc import client_context, connect
from simulator.pki import init_pki
from simulator.soak import add_parser as add_soak

_SEQ = re.compile(rb'"seq":(\d+)')

if TYPE_CHECKING:
    import argparse
    import ssl
    from concurrent.futures import Future

    from simulator.pki import DevPki

__all__ = ["add_parsers", "bench_journal", "bench_uplink"]


def synthetic_overview(max_bytes: int, seed: int = 2) -> bytes:
    """An overview JPEG of a textured scene, as close under ``max_bytes`` as quality allows.

    Gradients, a car-sized block and sensor noise at 640 px: noise is what makes
    a camera JPEG big. The quality is the highest whose JPEG fits, so the bench
    measures images of the size asked for (the agent's own encoder,
    :func:`agent.recognition.overview.encode`, lands anywhere below its cap).
    """
    if max_bytes <= 0:
        return b""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:480, 0:640]
    image = np.stack([(xs * 0.2 + ys * 0.15) % 255, (ys * 0.3) % 255, (xs * 0.35) % 255], -1)
    image[120:420, 160:480] = (40, 40, 160)
    image = np.clip(image + rng.normal(0, 28, image.shape), 0, 255).astype(np.uint8)
    for quality in range(95, 9, -1):
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and len(data) <= max_bytes:
            return bytes(data.tobytes())
    return encode(image, OverviewSettings("frame", 640, 10, max_bytes))


def _bench_read(overview_bytes: int = 0) -> PlateRead:
    return PlateRead(
        text="1ABC123",
        char_conf=(991, 987, 970, 999, 993, 990, 985),
        country="B",
        lane=1,
        direction="approaching",
        vehicle_class=None,
        wall_ms=int(time.time() * 1000),
        frames=9,
        crop_jpeg=synthetic_crop(np.random.default_rng(1)),
        overview_jpeg=synthetic_overview(overview_bytes),
    )


def bench_journal(
    records: int, out: Path, synchronous: str, window: int = 2000, overview_bytes: int = 0
) -> dict[str, object]:
    """Append ``records`` sealed+signed reads with up to ``window`` in flight; verify them."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bench-journal.sqlite"
    for leftover in out.glob("bench-journal.sqlite*"):
        leftover.unlink()
    sign = ed25519.Ed25519PrivateKey.generate()
    signer = Signer(sign)
    config = JournalConfig(path=path, synchronous=synchronous, quota_bytes=2**40)
    journal = Journal(
        path,
        camera="bench-cam",
        signer=signer,
        sealer=Sealer(x25519.X25519PrivateKey.generate().public_key()),
        config=config,
        clock=SystemClock(),
    )
    read = _bench_read(overview_bytes)
    crop = read.crop_jpeg
    inflight: deque[Future[int]] = deque()
    started = time.perf_counter()
    for _ in range(records):
        if len(inflight) >= window:
            inflight.popleft().result()
        inflight.append(journal.submit_read(read))
    while inflight:
        inflight.popleft().result()
    append_s = time.perf_counter() - started
    journal.close()

    with open_readonly(path, "bench-cam") as store:
        wires = [r.wire for r in store.iter_records("reads")]
    started = time.perf_counter()
    verifier, problems = verify_records(
        "bench-cam", "reads", {signer.key_id: sign.public_key()}, wires
    )
    verify_s = time.perf_counter() - started
    size = sum(p.stat().st_size for p in out.glob("bench-journal.sqlite*"))
    return {
        "benchmark": "journal",
        "records": records,
        "synchronous": synchronous,
        "appends_per_s": round(records / append_s, 1),
        "verify_per_s": round(len(wires) / verify_s, 1),
        "verified": verifier.verified,
        "problems": len(problems),
        "bytes_per_record": round(size / max(1, len(wires)), 1),
        "crop_bytes": len(crop),
        "overview_bytes": len(read.overview_jpeg),
        "append_seconds": round(append_s, 3),
        "journal": str(path),
    }


class _Counter:
    """Subscriber that counts distinct and duplicate seqs on the reads topic."""

    def __init__(self, url: str, ctx: ssl.SSLContext, topic: str) -> None:
        self.seen: set[int] = set()
        self.duplicates = 0
        self._lock = threading.Lock()
        self.client = connect(url, ctx, "bench-counter")
        self.client.on_message = self._on_message
        done = threading.Event()
        self.client.on_subscribe = lambda *_: done.set()
        self.client.subscribe(topic, qos=1)
        done.wait(5)

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        found = _SEQ.search(message.payload)
        if found is None:
            return
        seq = int(found.group(1))
        with self._lock:
            if seq in self.seen:
                self.duplicates += 1
            self.seen.add(seq)

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()
            self.duplicates = 0

    def count(self) -> int:
        with self._lock:
            return len(self.seen)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _paho_raw(
    url: str, ctx: ssl.SSLContext, topic: str, payloads: list[bytes], inflight: int
) -> float:
    """Bare paho: publish every payload at QoS 1 and wait for all PUBACKs; messages/s."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cam-01-raw", protocol=mqtt.MQTTv5)
    client.tls_set_context(ctx)
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    done = threading.Event()
    acked = [0]

    def on_publish(*_: object) -> None:
        acked[0] += 1
        if acked[0] == len(payloads):
            done.set()

    client.on_publish = on_publish
    host, port = broker_endpoint(url)
    client.connect(host, port)
    client.loop_start()
    started = time.perf_counter()
    for payload in payloads:
        client.publish(topic, payload, qos=1)
    done.wait(600)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return len(payloads) / elapsed


def _timed_uplink(journal: Journal, cfg: UplinkConfig, acked_at: dict[int, float]) -> Uplink:
    """cam-01's police uplink (not started), noting when each seq was PUBACKed in ``acked_at``."""

    def published(seqs: list[int]) -> None:
        now = time.perf_counter()
        for seq in seqs:
            acked_at.setdefault(seq, now)

    return Uplink(
        "police",
        cfg,
        camera_id="cam-01",
        journal=journal,
        stream="reads",
        leaf="reads",
        context=lambda: build_client_context(cfg),
        clock=SystemClock(),
        on_published=published,
    )


def _drain_round(  # noqa: PLR0913 - one round's broker, journal and figures
    cfg: UplinkConfig,
    journal: Journal,
    counter: _Counter,
    *,
    ctx: ssl.SSLContext,
    wires: list[bytes],
    acked_at: dict[int, float],
) -> tuple[float, float, int, int]:
    """Bare paho on ``wires``, then the uplink draining them: both in records/s, + counts.

    Both are timed from their connection (CONNACK) to the last PUBACK.
    """
    counter.reset()
    raw = _paho_raw(cfg.brokers[0], ctx, "anpr/v1/cam-01/reads", wires, cfg.inflight)
    deadline = time.perf_counter() + 60
    while counter.count() < len(wires) and time.perf_counter() < deadline:
        time.sleep(0.05)  # let the subscriber take the raw phase's last messages
    counter.reset()
    seqs = {int(m.group(1)) for w in wires if (m := _SEQ.search(w))}
    uplink = _timed_uplink(journal, cfg, acked_at)
    uplink.start()
    while not uplink.stats.connected and time.perf_counter() < deadline:
        time.sleep(0.001)
    started = time.perf_counter()
    while not seqs <= acked_at.keys() and time.perf_counter() - started < 600:
        time.sleep(0.01)
    drain = len(wires) / (time.perf_counter() - started)
    while counter.count() < len(seqs) and time.perf_counter() < deadline + 60:
        time.sleep(0.05)
    uplink.stop(5)
    journal.sync().result(60)  # the round's delivery marks are in: nothing left pending
    return raw, drain, counter.count(), counter.duplicates


def _bench_journal(work: Path, pki: DevPki) -> Journal:
    """A fresh journal of camera cam-01, signed and sealed with the dev PKI's keys."""
    path = work / "journal.sqlite"
    return Journal(
        path,
        camera="cam-01",
        signer=Signer(load_signing_key(pki.path("device-sign.key"))),
        sealer=Sealer(load_sealing_public_key(pki.path("backoffice-seal.pub"))),
        config=JournalConfig(path=path, quota_bytes=2**40),
        clock=SystemClock(),
    )


@dataclass
class _Drained:
    """The drain rounds' figures: (raw/s, drain/s) per round, record sizes, deliveries."""

    figures: list[tuple[float, float]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    received: int = 0
    duplicates: int = 0


def _drain_rounds(  # noqa: PLR0913 - the journal, its uplink settings and the listeners
    journal: Journal,
    cfg: UplinkConfig,
    counter: _Counter,
    read: PlateRead,
    *,
    ctx: ssl.SSLContext,
    records: int,
    rounds: int,
    acked_at: dict[int, float],
) -> _Drained:
    """Each round: journal a share of the reads, publish them bare, then drain them."""
    out = _Drained()
    for index in range(rounds):
        count = records // rounds + (index < records % rounds)
        for future in [journal.submit_read(read) for _ in range(count)]:
            future.result()
        journal.sync().result(60)  # and the checkpoints that came with them
        wires = [r.wire for r in journal.pending("reads", 2 * count + 64)]
        out.sizes += map(len, wires)
        raw, drain, got, dups = _drain_round(
            cfg, journal, counter, ctx=ctx, wires=wires, acked_at=acked_at
        )
        out.figures.append((raw, drain))
        out.received, out.duplicates = out.received + got, out.duplicates + dups
    return out


def _steady_latencies(
    journal: Journal, cfg: UplinkConfig, counter: _Counter, read: PlateRead
) -> list[float]:
    """200 reads/s for 5 s through a running uplink: commit -> PUBACK latency (ms), sorted."""
    committed: dict[int, float] = {}
    acked_at: dict[int, float] = {}
    uplink = _timed_uplink(journal, cfg, acked_at)
    uplink.start()
    for _ in range(25):
        batch = [journal.submit_read(read) for _ in range(40)]
        for future in batch:
            committed[future.result()] = time.perf_counter()
        time.sleep(0.2)
    deadline = time.perf_counter() + 30
    while not set(committed) <= set(acked_at) and time.perf_counter() < deadline:
        time.sleep(0.01)
    while counter.count() < len(committed) and time.perf_counter() < deadline:
        time.sleep(0.05)
    uplink.stop(5)
    return sorted((acked_at[s] - t) * 1000 for s, t in committed.items() if s in acked_at)


def bench_uplink(
    records: int, inflight: int, work: Path, overview_bytes: int = 0, rounds: int = 3
) -> dict[str, object]:
    """Drain journaled reads through the police uplink; compare with bare paho, in rounds.

    Each round journals ``records / rounds`` reads, publishes their wire bytes
    with bare paho (the ceiling), then lets the uplink drain them; the ratio is
    the median of the rounds' ratios, so a load that drifts on a shared
    machine weighs on both sides of each one. Then a steady phase measures the
    commit -> PUBACK latency of a running uplink.
    """
    pki = init_pki(work / "pki", "cam-01")
    journal = _bench_journal(work, pki)
    read = _bench_read(overview_bytes)
    rounds = max(1, min(rounds, records))
    with police_broker(work / "broker", pki) as broker:
        cfg = UplinkConfig(
            brokers=(broker.url,),
            ca=pki.path("police-ca.crt"),
            cert=pki.path("device.crt"),
            key=pki.path("device.key"),
            topic_prefix="anpr/v1",
            inflight=inflight,
        )
        ctx = client_context(
            pki.path("police-ca.crt"), pki.path("device.crt"), pki.path("device.key")
        )
        office_ctx = client_context(
            pki.path("police-ca.crt"), pki.path("backoffice.crt"), pki.path("backoffice.key")
        )
        # The same subscriber listens in both phases, so the broker forwards in both.
        counter = _Counter(broker.url, office_ctx, "anpr/v1/cam-01/reads")
        drained = _drain_rounds(
            journal, cfg, counter, read, ctx=ctx, records=records, rounds=rounds, acked_at={}
        )
        counter.reset()
        latencies = _steady_latencies(journal, cfg, counter, read)
        received = drained.received + counter.count()
        duplicates = drained.duplicates + counter.duplicates
        counter.close()
    expected = next(x.head_seq for x in journal.stats().streams if x.stream == "reads")
    journal.close()
    mean_bytes = sum(drained.sizes) / len(drained.sizes)
    ratios = sorted(drain / raw for raw, drain in drained.figures)
    drain_rate = statistics.median(d for _, d in drained.figures)
    raw_rate = statistics.median(r for r, _ in drained.figures)
    return {
        "benchmark": "uplink",
        "records": len(drained.sizes),
        "rounds": rounds,
        "inflight": inflight,
        "overview_bytes": len(read.overview_jpeg),
        "payload_bytes": round(mean_bytes),
        "drain_per_s": round(drain_rate, 1),
        "paho_raw_per_s": round(raw_rate, 1),
        "drain_mb_per_s": round(drain_rate * mean_bytes / 1e6, 2),
        "paho_raw_mb_per_s": round(raw_rate * mean_bytes / 1e6, 2),
        "ratio_to_raw": round(statistics.median(ratios), 3),
        "ratios_per_round": [round(x, 3) for x in ratios],
        "received": received,
        "lost": expected - received,
        "duplicates": duplicates,
        "p50_ms": round(latencies[len(latencies) // 2], 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)], 2) if latencies else None,
        "latency_samples": len(latencies),
    }


def _cmd_uplink(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="anpr-bench-uplink-"))
    try:
        result = bench_uplink(
            args.records, args.inflight, work, args.overview_bytes, rounds=args.rounds
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(result) if args.json else "\n".join(f"{k:>16}: {v}" for k, v in result.items())
    )
    return 0 if result["lost"] == 0 else 1


def _cmd_journal(args: argparse.Namespace) -> int:
    out = args.out or Path(tempfile.mkdtemp(prefix="anpr-bench-"))
    result = bench_journal(args.records, out, args.synchronous, overview_bytes=args.overview_bytes)
    if args.out is None:
        shutil.rmtree(out)
        result["journal"] = None
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>16}: {value}")
    return 0 if result["problems"] == 0 else 1


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``bench`` command group."""
    bench = sub.add_parser("bench", help="benchmarks (JSON output)")
    kinds = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCH")
    journal = kinds.add_parser("journal", help="signed+sealed appends/s, verify/s, bytes/record")
    journal.add_argument("--records", type=int, default=20_000)
    journal.add_argument("--synchronous", choices=("NORMAL", "FULL", "EXTRA"), default="FULL")
    journal.add_argument("--out", type=Path, help="keep the journal in this directory")
    journal.add_argument("--json", action="store_true", help="one JSON object")
    journal.add_argument(
        "--overview-bytes",
        type=int,
        default=0,
        metavar="N",
        help="each read also carries an overview JPEG capped at N bytes (0: none)",
    )
    journal.set_defaults(func=_cmd_journal)
    uplink = kinds.add_parser("uplink", help="backlog drain/s vs bare paho, PUBACK latency")
    uplink.add_argument("--records", type=int, default=20_000)
    uplink.add_argument("--inflight", type=int, default=100)
    uplink.add_argument(
        "--rounds", type=int, default=3, help="raw/drain pairs; the ratio is their median"
    )
    uplink.add_argument("--json", action="store_true", help="one JSON object")
    uplink.add_argument(
        "--overview-bytes",
        type=int,
        default=0,
        metavar="N",
        help="each read also carries an overview JPEG capped at N bytes (0: none)",
    )
    uplink.set_defaults(func=_cmd_uplink)
    add_intake_bench(kinds)
    add_soak(kinds)
    add_hub_bench(kinds)
