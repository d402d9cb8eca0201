"""``anpr-sim bench hub``: the hub's three figures, one JSON object.

1. **ingest**: count windows/s through :class:`hub.ingest.Ingestor` on one
   core (signature, chain, dedupe, window and base-bucket rows, one SQLite
   transaction per batch of 500), records made beforehand by count cameras;
2. **summed**: one year of hourly counts of a 100-camera grant summed over
   its cameras (8,760 rows), served as JSON over HTTPS with a client
   certificate, end to end;
3. **per-camera CSV**: the same per camera (876,000 rows), streamed as CSV
   over HTTPS, rows/s.

For 2 and 3 the base buckets (100 cameras x 8,760 hours) are written straight
into the store: ingesting 3.5 million windows first would take most of an
hour and measure ingest again. Their values are drawn like the count cameras'
(day/night profile, a few suppressed-small hours).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import insert

from hub import grants as grantlib
from hub.config import ApiConfig, DisclosureConfig, HubConfig, StoreConfig
from hub.ingest.core import Ingestor
from hub.store import make_engine, upgrade
from hub.store.models import Bucket, Camera
from simulator.broker import free_port
from simulator.hubcams import CountCamera
from simulator.hubhttp import api_server, get
from simulator.pki import init_pki, issue_cert, load_issued, save_issued

if TYPE_CHECKING:
    import argparse

    from sqlalchemy.engine import Engine

__all__ = ["add_hub_bench", "bench_hub"]

_T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
_YEAR_H = 8760


def _ingest(engine: Engine, windows: int) -> dict[str, float]:
    cams = [CountCamera(f"b-{i:03d}", 51.0 + i * 1e-3, 3.7, seed=i) for i in range(10)]
    per = max(1, windows // len(cams))
    items: list[tuple[str, bytes]] = []
    for cam in cams:
        items += [(cam.camera, w) for w in cam.records(_T0, _T0 + per * cam.window_s)]
    ing = Ingestor(engine, base_s=3600)
    for cam in cams:
        ing.trust(cam.camera, cam.public_key)
    start = time.perf_counter()
    cpu = time.process_time()
    for i in range(0, len(items), 500):
        ing.feed_records(items[i : i + 500])
    wall, used = time.perf_counter() - start, time.process_time() - cpu
    return {
        "windows": ing.stats.windows,
        "seconds": round(wall, 3),
        "cpu_seconds": round(used, 3),
        "windows_per_s": round(ing.stats.windows / wall),
        "windows_per_cpu_s": round(ing.stats.windows / used),
    }


def _fill_year(engine: Engine, cameras: int) -> None:
    rng = random.Random(7)  # noqa: S311 - traffic, not keys
    now = int(time.time() * 1000)
    with engine.begin() as conn:
        conn.execute(
            insert(Camera),
            [
                {
                    "id": f"c-{i:03d}",
                    "lat": 51.0 + i * 1e-3,
                    "lon": 3.7,
                    "first_seen_ms": now,
                    "last_seen_ms": now,
                }
                for i in range(cameras)
            ],
        )
        for i in range(cameras):
            rows = []
            for h in range(_YEAR_H):
                day = 7 <= h % 24 <= 19
                total = max(0, int(rng.gauss(120 if day else 12, 8)))
                total = 0 if 0 < total < 5 else total
                rows.append(
                    {
                        "camera_id": f"c-{i:03d}",
                        "start": _T0 + 3600 * h,
                        "total": total,
                        "late": 0,
                        "withheld": int(not day and rng.random() < 0.05),
                        "late_withheld": 0,
                        "windows": 4,
                        "full": 4,
                    }
                )
            conn.execute(insert(Bucket), rows)


def _serve(engine: Engine, url: str, root: Path, cameras: int) -> dict[str, object]:
    pki = init_pki(root / "pki")
    ca = load_issued(pki.path("civil-ca.crt"), pki.path("civil-ca.key"))
    crt, key = save_issued(root, "city", issue_cert(ca, "city"))
    cfg = HubConfig(
        store=StoreConfig(url=url),
        api=ApiConfig(
            host="127.0.0.1",
            port=free_port(),
            cert=pki.path("civil-broker.crt"),
            key=pki.path("civil-broker.key"),
            client_ca=pki.path("civil-ca.crt"),
        ),
        disclosure=DisclosureConfig(k=5, base_s=3600),
    )
    gid = grantlib.request(
        engine,
        recipient="city",
        purpose="bench",
        cameras=[f"c-{i:03d}" for i in range(cameras)],
        area=None,
        dimensions=[],
        granularity_s=3600,
        per_camera=True,
        retention_days=30,
        onward_sharing=False,
        valid_from=_T0,
        valid_until=_T0 + _YEAR_H * 3600,
        actor="bench",
    )
    grantlib.approve(engine, gid, actor="bench", base_s=3600)
    import ssl  # noqa: PLC0415

    ctx = ssl.create_default_context(cafile=str(pki.path("civil-ca.crt")))
    ctx.load_cert_chain(str(crt), str(key))
    path = f"/v1/grants/{gid}/counts?from={_T0}&to={_T0 + _YEAR_H * 3600}"
    with api_server(engine, cfg, _T0 + 100 * 86400) as port:
        get(port, ctx, "/v1/grants")  # warm: TLS session, imports
        start, cpu = time.perf_counter(), time.process_time()
        status, body, _ = get(port, ctx, path)
        summed_s, summed_cpu = time.perf_counter() - start, time.process_time() - cpu
        summed_rows = len(json.loads(body)["rows"]) if status == 200 else 0
        start, cpu = time.perf_counter(), time.process_time()
        status_csv, csv_body, _ = get(port, ctx, path + "&per_camera=1&format=csv")
        csv_s, csv_cpu = time.perf_counter() - start, time.process_time() - cpu
    csv_rows = csv_body.count(b"\n") - 1
    return {
        "summed": {
            "status": status,
            "rows": summed_rows,
            "seconds": round(summed_s, 3),
            "cpu_seconds": round(summed_cpu, 3),
        },
        "per_camera_csv": {
            "status": status_csv,
            "rows": csv_rows,
            "seconds": round(csv_s, 3),
            "cpu_seconds": round(csv_cpu, 3),
            "rows_per_s": round(csv_rows / csv_s),
            "rows_per_cpu_s": round(csv_rows / csv_cpu),
            "bytes": len(csv_body),
        },
    }


def bench_hub(
    *, windows: int, cameras: int, url: str | None, keep: Path | None
) -> dict[str, object]:
    """Run the three measurements; return the JSON result."""
    root = Path(tempfile.mkdtemp(prefix="anpr-hub-bench-"))
    try:
        db_url = url or f"sqlite:///{root}/ingest.sqlite"
        engine = make_engine(db_url)
        upgrade(engine)
        result: dict[str, object] = {
            "store": db_url.split("://")[0],
            "ingest": _ingest(engine, windows),
        }
        engine.dispose()
        serve_url = url or f"sqlite:///{root}/year.sqlite"
        if url is not None:
            raise SystemExit("bench hub --url: serve figures are measured on SQLite only for now")
        engine = make_engine(serve_url)
        upgrade(engine)
        start = time.perf_counter()
        _fill_year(engine, cameras)
        result["fill_seconds"] = round(time.perf_counter() - start, 1)
        result.update(_serve(engine, serve_url, root, cameras))
        engine.dispose()
        result["loadavg_1m"] = round(os.getloadavg()[0], 2)
        result["note"] = (
            "cpu_seconds: this process only (server, client and store in one process); "
            "wall seconds include waiting for a core on a loaded machine"
        )
        result["targets"] = {
            "ingest_windows_per_s": 1000,
            "summed_seconds": 1.0,
            "csv_rows_per_s": 200_000,
        }
        return result
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            shutil.copytree(root, keep, dirs_exist_ok=True)
            shutil.rmtree(root, ignore_errors=True)


def _cmd(args: argparse.Namespace) -> int:
    result = bench_hub(windows=args.windows, cameras=args.cameras, url=None, keep=args.out)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


def add_hub_bench(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``anpr-sim bench hub``."""
    hub = kinds.add_parser("hub", help="hub ingest windows/s, year-long delivery JSON and CSV")
    hub.add_argument("--windows", type=int, default=10_000, help="count windows to ingest")
    hub.add_argument("--cameras", type=int, default=100, help="cameras of the year-long grant")
    hub.add_argument("--out", type=Path, help="keep the bench's databases in this directory")
    hub.add_argument("--json", action="store_true", help="one JSON object")
    hub.set_defaults(func=_cmd)
