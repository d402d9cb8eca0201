"""``anpr-sim bench …``: benchmarks that print one JSON object (never timed tests).

``bench journal``: signed + sealed appends per second at the configured
durability (a record counts only once its transaction is committed), verify
throughput, and bytes per record on disk, with a realistic JPEG plate crop.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from agent.clock import SystemClock
from agent.config import JournalConfig
from agent.crypto import Sealer, Signer
from agent.events import PlateRead
from agent.journal import Journal
from agent.journal_db import open_readonly
from agent.verify import verify_records

if TYPE_CHECKING:
    import argparse
    from concurrent.futures import Future

__all__ = ["add_parsers", "bench_journal", "synthetic_crop"]


def synthetic_crop(rng: np.random.Generator, width: int = 200, height: int = 48) -> bytes:
    """A plate-sized JPEG with texture, about the size a real crop has (a few KB)."""
    image = np.full((height, width), 235, np.uint8)
    for i in range(7):
        x = 10 + i * 26
        cv2.rectangle(image, (x, 8), (x + 16, height - 8), int(rng.integers(10, 60)), -1)
    noise = rng.normal(0, 12, image.shape)
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(jpeg.tobytes())


def bench_journal(
    records: int, out: Path, synchronous: str, window: int = 2000
) -> dict[str, object]:
    """Append ``records`` sealed+signed reads with up to ``window`` in flight; verify them."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bench-journal.sqlite"
    for leftover in out.glob("bench-journal.sqlite*"):
        leftover.unlink()
    sign = ed25519.Ed25519PrivateKey.generate()
    signer = Signer(sign)
    config = JournalConfig(path=path, synchronous=synchronous, quota_bytes=2**40)  # type: ignore[arg-type]
    journal = Journal(
        path,
        camera="bench-cam",
        signer=signer,
        sealer=Sealer(x25519.X25519PrivateKey.generate().public_key()),
        config=config,
        clock=SystemClock(),
    )
    crop = synthetic_crop(np.random.default_rng(1))
    read = PlateRead(
        text="1ABC123",
        char_conf=(991, 987, 970, 999, 993, 990, 985),
        country="B",
        lane=1,
        direction="approaching",
        vehicle_class=None,
        wall_ms=int(time.time() * 1000),
        frames=9,
        crop_jpeg=crop,
    )
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
        "append_seconds": round(append_s, 3),
        "journal": str(path),
    }


def _cmd_journal(args: argparse.Namespace) -> int:
    out = args.out or Path(tempfile.mkdtemp(prefix="anpr-bench-"))
    result = bench_journal(args.records, out, args.synchronous)
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
    journal.set_defaults(func=_cmd_journal)
