"""``anpr-sim bench intake``: read events accepted into the journal per second, on one core.

The real :class:`~agent.service.Service` (journal FULL, civil counter, police
and civil uplinks pointed at nothing: a broker outage, which the journal
buffers) runs with an event intake over HTTPS + bearer token, pinned to one
CPU core; a load generator in another process, pinned to the other cores,
posts distinct events (a preset's format, each with a plate image) over
``--connections`` keep-alive connections. Reported: events answered
``accepted`` and reads journaled per second of wall time, the server
process's CPU seconds per 1,000 events (the one-core cost, whatever else runs
on the machine), and POST latency percentiles.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import resource
import ssl
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from simulator.vendorcam import VendorRead, encode_event

if TYPE_CHECKING:
    import argparse
    from multiprocessing.connection import Connection

__all__ = ["add_parser", "bench_intake"]


def _crop() -> bytes:
    rng = np.random.default_rng(7)
    img = np.full((48, 200, 3), 235, np.uint8)
    cv2.putText(img, "1ABC234", (8, 36), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (20, 20, 20), 2)
    img = np.clip(img.astype(np.int16) + rng.integers(-12, 12, img.shape), 0, 255)
    return cv2.imencode(".jpg", img.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def _plate(i: int) -> str:
    letters = "ABCDEFGHJKLMNPRSTVXYZ"
    a, b, c = letters[i % 21], letters[(i // 21) % 21], letters[(i // 441) % 21]
    return f"{1 + (i // 9261) % 9}{a}{b}{c}{i % 1000:03d}"


def _client(  # noqa: PLR0913, PLR0917 - one load generator's knobs (a Process target)
    conn_out: Connection,
    port: int,
    ca: str,
    token: str,
    preset: str,
    events: int,
    connections: int,
    image: bool,
    cores: list[int],
) -> None:
    """Load generator (own process): post ``events`` distinct events, report latencies."""
    if cores:
        os.sched_setaffinity(0, cores)
    from agent.intake import load_preset  # noqa: PLC0415

    mapping = load_preset(preset)
    crop = _crop() if image else b""
    now = int(time.time() * 1000)
    bodies = [
        encode_event(
            mapping,
            VendorRead(
                _plate(i), now - 1000 + i, "B", 0.95, 1, "approaching", "car", f"b-{i}", crop
            ),
        )
        for i in range(events)
    ]
    ctx = ssl.create_default_context(cafile=ca)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    shares = [bodies[k::connections] for k in range(connections)]
    conn_out.send("ready")
    conn_out.recv()  # go

    def post(share: list[tuple[bytes, str]]) -> None:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
        mine: list[float] = []
        seen: dict[str, int] = {}
        for body, ctype in share:
            t = time.perf_counter()
            conn.request(
                "POST", "/events", body, {"Content-Type": ctype, "Authorization": f"Bearer {token}"}
            )
            response = conn.getresponse()
            answer = response.read()
            mine.append(time.perf_counter() - t)
            key = str(json.loads(answer).get("status", response.status))
            seen[key] = seen.get(key, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for k, n in seen.items():
                statuses[k] = statuses.get(k, 0) + n

    threads = [threading.Thread(target=post, args=(s,)) for s in shares]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conn_out.send(
        {"seconds": time.perf_counter() - started, "latencies": latencies, "statuses": statuses}
    )


def _config(work: Path, preset: str) -> tuple[Path, Any]:
    from simulator.pki import agent_config_toml, init_pki  # noqa: PLC0415
    from simulator.vendordemo import intake_files  # noqa: PLC0415

    pki = init_pki(work / "pki", "cam-01")
    files = intake_files(work / "intake-pki")
    text = agent_config_toml(
        pki,
        journal=work / "journal.sqlite",
        police_url="mqtts://127.0.0.1:9",
        civil_url="mqtts://127.0.0.1:10",
    ).replace('source = "sim:"', 'source = "events:"')
    text += f"""
[service]
metrics_address = "127.0.0.1:9"

[intake]
listen = "127.0.0.1:0"
preset = "{preset}"
tls_cert = "{files.cert}"
tls_key = "{files.key}"
token = "{files.token_file}"
max_events_per_s = 100000
burst = 100000
max_connections = 256
"""
    path = work / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path, files


def bench_intake(  # noqa: PLR0913 - the bench's knobs
    *,
    events: int = 5000,
    connections: int = 128,
    preset: str = "genetec-sharp-json",
    image: bool = True,
    core: int | None = 0,
    work: Path | None = None,
) -> dict[str, object]:
    """Run the bench; see the module docstring."""
    from agent.config.load import load_config  # noqa: PLC0415
    from agent.service import Service, ServiceOptions  # noqa: PLC0415

    all_cores = sorted(os.sched_getaffinity(0))
    server_cores = [core] if core is not None and core in all_cores else all_cores
    client_cores = [c for c in all_cores if c not in server_cores] or all_cores
    with tempfile.TemporaryDirectory() as tmp:
        root = work or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        config, files = _config(root, preset)
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        os.sched_setaffinity(0, server_cores)  # this process and every thread it starts
        service = Service(load_config(config, {}), options=ServiceOptions(serve_metrics=False))
        port = service._source.address[1]  # type: ignore[union-attr]  # noqa: SLF001
        runner = threading.Thread(target=service.run, name="bench-service")
        runner.start()
        proc = ctx.Process(
            target=_client,
            args=(
                child,
                port,
                str(files.ca),
                files.token,
                preset,
                events,
                connections,
                image,
                client_cores,
            ),
        )
        proc.start()
        assert parent.recv() == "ready"  # noqa: S101 - our own child
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        parent.send("go")
        report = parent.recv()
        while service.reads_journaled < events and time.perf_counter() - started < 300:
            time.sleep(0.01)
        journaled_s = time.perf_counter() - started
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        proc.join()
        service.request_stop()
        runner.join(60)
        os.sched_setaffinity(0, all_cores)
    lat = sorted(report["latencies"])
    cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    accepted = report["statuses"].get("accepted", 0)
    return {
        "benchmark": "intake",
        "preset": preset,
        "events": events,
        "connections": connections,
        "image_bytes": len(_crop()) if image else 0,
        "server_cores": server_cores,
        "client_cores": client_cores,
        "answers": report["statuses"],
        "accepted_per_s": round(accepted / report["seconds"], 1),
        "journaled": service.reads_journaled,
        "journaled_per_s": round(service.reads_journaled / journaled_s, 1),
        "server_cpu_s_per_1000": round(1000 * cpu_s / max(1, service.reads_journaled), 3),
        "events_per_server_cpu_s": round(service.reads_journaled / max(cpu_s, 1e-9), 1),
        "latency_ms_p50": round(1000 * lat[len(lat) // 2], 2) if lat else None,
        "latency_ms_p95": round(1000 * lat[int(len(lat) * 0.95)], 2) if lat else None,
        "journal_synchronous": "FULL",
    }


def _cmd_intake(args: argparse.Namespace) -> int:
    result = bench_intake(
        events=args.events,
        connections=args.connections,
        preset=args.preset,
        image=not args.no_image,
        core=None if args.core < 0 else args.core,
    )
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0 if result["journaled"] == args.events else 1


def add_parser(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bench intake``."""
    p = kinds.add_parser("intake", help="read events accepted into the journal per second")
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--connections", type=int, default=128, help="camera connections (keep-alive)")
    p.add_argument("--preset", default="genetec-sharp-json", help="event format")
    p.add_argument("--no-image", action="store_true", help="events without a plate image")
    p.add_argument("--core", type=int, default=0, help="CPU core the agent runs on (-1: all)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=_cmd_intake)
