"""``anpr-sim fleet``: many lightweight cameras against one broker and one police back office.

Each simulated camera is the agent's real delivery path without recognition:
its own journal (sealed, signed, hash-chained SQLite) and its own police
uplink (MQTT 5, mutual TLS, a client certificate with CN = its camera id from
the dev PKI's police CA), fed synthetic reads at ``rate`` per second. One
throwaway mosquitto takes them all; one :class:`PoliceBackOffice` (shared
subscription) verifies, unseals and acks. The result says what was sent,
received, verified, lost and duplicated, and the journal-commit → back-office
latency: the starting figures for sizing a clustered broker (``docs/SIZING.md``).

Everything runs in one Python process on purpose (one command, no
orchestration); on a small machine the process itself, not mosquitto, is
the ceiling, and the result reports the CPU seconds of both so the broker's
share per message can be read off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

import numpy as np
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from agent.config.schema import JournalConfig, UplinkConfig
from agent.core.clock import SystemClock
from agent.core.events import PlateRead
from agent.journal.store import Journal
from agent.security.crypto import Sealer, Signer
from agent.security.keyfiles import load_private_key, load_sealing_public_key
from agent.security.tls import build_client_context
from agent.uplink.client import Uplink
from simulator.backoffice import Options, PoliceBackOffice
from simulator.demo import police_broker
from simulator.fakes import synthetic_crop
from simulator.mqttc import client_context
from simulator.pki import DevPki, init_pki, issue_cert, load_issued, save_issued
from simulator.plates import random_spec

if TYPE_CHECKING:
    import argparse
    import ssl
    from collections.abc import Sequence
    from concurrent.futures import Future

    import paho.mqtt.client as mqtt
    from paho.mqtt.reasoncodes import ReasonCode

    from agent.journal.records import ParsedRecord
    from simulator.backoffice import CameraFeed

__all__ = ["FleetBackOffice", "add_parsers", "run_fleet"]

_TICK_S = 0.05
_SUBSCRIBE_BATCH = 96  # topic filters per SUBSCRIBE packet


class FleetBackOffice(PoliceBackOffice):
    """The reference police back office, also timing each read from its pass time to receipt.

    With ``cameras`` it subscribes to those cameras' topics by name instead of the
    shared subscription: a consumer partitioned by explicit topic lists, so that
    several fleets can load one broker side by side without splitting each
    other's streams (see docs/SIZING.md on per-camera affinity).
    """

    def __init__(
        self,
        url: str,
        ctx: ssl.SSLContext,
        *,
        seal_key: x25519.X25519PrivateKey,
        cameras: Sequence[str] = (),
        **kwargs: Unpack[Options],
    ) -> None:
        super().__init__(url, ctx, seal_key=seal_key, **kwargs)
        self._own = tuple(cameras)
        self._topic_prefix = kwargs.get("prefix", "anpr/v1")
        self.latencies_ms: list[int] = []

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason: ReasonCode,
        props: object,
    ) -> None:
        if not self._own:
            super()._on_connect(client, userdata, flags, reason, props)
            return
        if reason.is_failure:
            return
        topics = [
            (f"{self._topic_prefix}/{camera}/{leaf}", 1)
            for camera in self._own
            for leaf in (self.stream, "status", "descriptor")
        ]
        for i in range(0, len(topics), _SUBSCRIBE_BATCH):
            client.subscribe(topics[i : i + _SUBSCRIBE_BATCH])

    def _content(
        self, camera: str, feed: CameraFeed, record: ParsedRecord
    ) -> dict[str, object] | None:
        content = super()._content(camera, feed, record)
        if content is not None and record.kind == "read":
            pass_ms = content.get("pass_ms")
            if isinstance(pass_ms, int):
                latency = int(time.time() * 1000) - pass_ms
                with self._lock:
                    self.latencies_ms.append(latency)
        return content


@dataclass
class _Camera:
    name: str
    journal: Journal
    uplink: Uplink
    futures: list[Future[int]] = field(default_factory=list)
    due: float = 0.0


def _percentile(values: list[int], q: float) -> int | None:
    if not values:
        return None
    return int(np.percentile(np.array(values), q))


def _reads(seed: int, count: int = 64) -> list[PlateRead]:
    """Distinct synthetic reads (plate texts of the real syntax, a few-KB JPEG crop)."""
    rng = np.random.default_rng(seed)
    crops = [synthetic_crop(rng) for _ in range(8)]
    out = []
    for i in range(count):
        spec = random_spec(rng, "B" if i % 5 else "NL")
        out.append(
            PlateRead(
                text=spec.text,
                char_conf=tuple(int(c) for c in rng.integers(850, 1000, len(spec.text))),
                country=spec.country,
                lane=1 + i % 2,
                direction="approaching" if i % 2 == 0 else "receding",
                vehicle_class="car",
                wall_ms=0,
                frames=9,
                crop_jpeg=crops[i % len(crops)],
            )
        )
    return out


def _seal_key(path: Path) -> x25519.X25519PrivateKey:
    key = load_private_key(path, "back-office sealing key")
    if not isinstance(key, x25519.X25519PrivateKey):
        raise TypeError(f"{path} is not an X25519 key")
    return key


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class _Identities:
    """Who takes part: the PKI, the cameras' names and signing keys, the sealing key."""

    pki: DevPki
    names: list[str]
    keys: dict[str, ed25519.Ed25519PrivateKey]

    @classmethod
    def make(cls, cameras: int, work: Path, pki_dir: Path | None, id_prefix: str) -> _Identities:
        pki = (
            DevPki(pki_dir, "external") if pki_dir is not None else init_pki(work / "pki", "fleet")
        )
        names = [f"{id_prefix}-{i:04d}" for i in range(cameras)]
        return cls(pki, names, {n: ed25519.Ed25519PrivateKey.generate() for n in names})

    def trusted(self) -> dict[str, dict[str, ed25519.Ed25519PublicKey]]:
        return {n: {Signer(k).key_id: k.public_key()} for n, k in self.keys.items()}


def _start_office(
    ids: _Identities, url: str, *, shared_broker: bool, id_prefix: str
) -> FleetBackOffice:
    pki = ids.pki
    office = FleetBackOffice(
        url,
        client_context(
            pki.path("police-ca.crt"), pki.path("backoffice.crt"), pki.path("backoffice.key")
        ),
        seal_key=_seal_key(pki.path("backoffice-seal.key")),
        trusted=ids.trusted(),
        gap_after_s=1.0,
        # On a shared broker each fleet is its own consumer of its own cameras.
        cameras=ids.names if shared_broker else (),
        client_id=f"{id_prefix}-backoffice",
    )
    office.start()
    return office


def _start_cameras(  # noqa: PLR0913 - each camera's identity, broker, journal and pace
    ids: _Identities,
    url: str,
    work: Path,
    *,
    inflight: int,
    synchronous: str,
    rate: float,
) -> list[_Camera]:
    """One journal and one police uplink per camera, their first reads spread over a period."""
    police_ca = load_issued(ids.pki.path("police-ca.crt"), ids.pki.root / "police-ca.key")
    seal_pub = load_sealing_public_key(ids.pki.path("backoffice-seal.pub"))
    certs = work / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    fleet: list[_Camera] = []
    for i, name in enumerate(ids.names):
        crt, key = save_issued(certs, name, issue_cert(police_ca, name))
        cfg = UplinkConfig(
            brokers=(url,),
            ca=ids.pki.path("police-ca.crt"),
            cert=crt,
            key=key,
            topic_prefix="anpr/v1",
            inflight=inflight,
            keepalive_s=30,
            backoff_min_s=0.2,
            backoff_max_s=2.0,
        )
        path = work / f"{name}.sqlite"
        journal = Journal(
            path,
            camera=name,
            signer=Signer(ids.keys[name]),
            sealer=Sealer(seal_pub),
            config=JournalConfig(path=path, synchronous=synchronous, quota_bytes=2**34),
            clock=SystemClock(),
        )
        uplink = Uplink(
            "police",
            cfg,
            camera_id=name,
            journal=journal,
            stream="reads",
            leaf="reads",
            context=lambda cfg=cfg: build_client_context(cfg),  # type: ignore[misc]
            clock=SystemClock(),
            heartbeat_s=2.0,
        )
        uplink.start()
        due = (i / max(len(ids.names), 1)) / max(rate, 1e-9)
        fleet.append(_Camera(name, journal, uplink, due=due))
    return fleet


def _offer_load(fleet: list[_Camera], reads: list[PlateRead], seconds: float, rate: float) -> None:
    """Submit each camera's reads at ``rate`` a second for ``seconds``, stamped now."""
    started = time.monotonic()
    k = 0
    while (elapsed := time.monotonic() - started) < seconds:
        for cam in fleet:
            while cam.due <= elapsed:
                base = reads[k % len(reads)]
                k += 1
                read = dataclasses.replace(base, wall_ms=int(time.time() * 1000))
                cam.futures.append(cam.journal.submit_read(read))
                cam.due += 1.0 / rate
        time.sleep(_TICK_S)


def _delivered(office: FleetBackOffice, names: list[str]) -> tuple[int, int]:
    """Reads the back office received and those it verified and unsealed, over all cameras."""
    received = verified = 0
    for name in names:
        feed = office.feed(name)
        if feed is None:
            continue
        received += sum(1 for kind in feed.kinds.values() if kind == "read")
        verified += len(feed.opened)
    return received, verified


def run_fleet(  # noqa: PLR0913 - the load test's knobs
    cameras: int,
    seconds: float,
    rate: float,
    work: Path,
    *,
    inflight: int = 50,
    synchronous: str = "NORMAL",
    drain_s: float = 60.0,
    seed: int = 0,
    broker_url: str | None = None,
    pki_dir: Path | None = None,
    id_prefix: str = "fleet",
) -> dict[str, object]:
    """Run ``cameras`` cameras for ``seconds`` at ``rate`` reads/s each; return the figures.

    By default a throwaway mosquitto and dev PKI are made under ``work``. To load an
    external broker or cluster, give its ``broker_url`` and a ``pki_dir`` made by
    ``anpr-sim pki init`` whose police CA the broker trusts: camera certificates
    (CN ``{id_prefix}-NNNN``) are issued from that CA, and the back office uses its
    ``backoffice`` certificate and sealing key. Run several fleets (other machines,
    other ``id_prefix``) to go beyond what one process carries.

    The story: identities -> broker and back office -> cameras -> load -> drain ->
    figures.
    """
    ids = _Identities.make(cameras, work, pki_dir, id_prefix)
    with contextlib.ExitStack() as stack:
        broker = (
            None if broker_url else stack.enter_context(police_broker(work / "broker", ids.pki))
        )
        url = broker_url or (broker.url if broker else "")
        pid = broker.pid if broker else None
        office = _start_office(ids, url, shared_broker=broker_url is not None, id_prefix=id_prefix)
        fleet = _start_cameras(
            ids, url, work, inflight=inflight, synchronous=synchronous, rate=rate
        )
        broker_cpu0 = _cpu_seconds(pid) if pid else None
        cpu0 = time.process_time()
        started = time.monotonic()
        _offer_load(fleet, _reads(seed), seconds, rate)
        load_s = time.monotonic() - started
        heads = {c.name: max((f.result() for f in c.futures), default=0) for c in fleet}
        deadline = time.monotonic() + drain_s
        for cam in fleet:
            office.wait_complete(cam.name, heads[cam.name], max(0.0, deadline - time.monotonic()))
        total_s = time.monotonic() - started
        broker_cpu = _cpu_seconds(pid) if pid else None
        cpu = time.process_time() - cpu0
        wire = fleet[0].journal.records("reads", 1, 1) if fleet and heads[fleet[0].name] else []
        for cam in fleet:
            cam.uplink.stop(5)
        office.stop()
        for cam in fleet:
            cam.journal.close()
    sent = sum(len(c.futures) for c in fleet)
    received, verified = _delivered(office, ids.names)
    lat = office.latencies_ms
    return {
        "benchmark": "fleet",
        "cameras": cameras,
        "rate_per_camera_per_s": rate,
        "seconds": round(load_s, 1),
        "synchronous": synchronous,
        "sent": sent,
        "received": received,
        "verified": verified,
        "lost": sent - verified,
        "duplicates": office.duplicates,
        "problems": len(office.problems),
        "replays_requested": office.replays_requested,
        "offered_per_s": round(cameras * rate, 1),
        "throughput_per_s": round(verified / max(total_s, 1e-9), 1),
        "drain_s": round(total_s - load_s, 1),
        "p50_latency_ms": _percentile(lat, 50),
        "p95_latency_ms": _percentile(lat, 95),
        "p99_latency_ms": _percentile(lat, 99),
        "record_bytes": len(wire[0].wire) if wire else None,
        "process_cpu_s": round(cpu, 1),
        "broker_cpu_s": None
        if broker_cpu is None or broker_cpu0 is None
        else round(broker_cpu - broker_cpu0, 2),
    }


def _cmd_fleet(args: argparse.Namespace) -> int:
    if (args.broker is None) != (args.pki is None):
        print("anpr-sim: --broker and --pki go together", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="anpr-fleet-"))
    try:
        result = run_fleet(
            args.cameras,
            args.seconds,
            args.rate,
            work,
            inflight=args.inflight,
            synchronous=args.synchronous,
            drain_s=args.drain,
            broker_url=args.broker,
            pki_dir=args.pki,
            id_prefix=args.id_prefix,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")
    return 0 if result["lost"] == 0 and result["problems"] == 0 else 1


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fleet``."""
    fleet = sub.add_parser("fleet", help="N simulated cameras against one broker: throughput, loss")
    fleet.add_argument("--cameras", type=int, default=10)
    fleet.add_argument("--seconds", type=float, default=10.0, help="how long reads are made")
    fleet.add_argument("--rate", type=float, default=1.0, help="reads per second per camera")
    fleet.add_argument("--inflight", type=int, default=50)
    fleet.add_argument("--synchronous", choices=("NORMAL", "FULL"), default="NORMAL")
    fleet.add_argument("--drain", type=float, default=60.0, help="seconds allowed to deliver")
    fleet.add_argument("--broker", help="load this mqtts:// broker instead of a throwaway one")
    fleet.add_argument("--pki", type=Path, help="with --broker: a dev PKI whose CA it trusts")
    fleet.add_argument("--id-prefix", default="fleet", help="camera ids are PREFIX-0000, ...")
    fleet.add_argument("--json", action="store_true", help="one JSON object")
    fleet.set_defaults(func=_cmd_fleet)
