"""Count-only cameras for the hub: signed ``counts`` streams and descriptors, fast.

Each :class:`CountCamera` is the agent's civil path without recognition: it
turns a known truth (vehicles per window and cell) into civil messages with
the agent's own :func:`civil_message` (so disclosure control is the agent's),
wraps each in a signed, hash-chained ``count`` record with the agent's
:func:`build_record`, and signs its descriptor with :func:`build_descriptor`.
The hub tests, its bench and ``anpr-sim demo --hub`` use it; the truth stays
here to score what the hub delivers.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ed25519

from agent.civil.counts import CountWindow, civil_message
from agent.config.schema import AgentConfig, CountsConfig
from agent.journal.records import GENESIS, build_record
from agent.security.crypto import Signer
from agent.uplink.descriptor import build_descriptor

__all__ = ["CountCamera", "camera_config"]

_LANES = ("1", "2")
_DIRECTIONS = ("approaching", "receding")


def camera_config(
    camera: str, *, lat: float, lon: float, k: int = 5, window_s: int = 900
) -> AgentConfig:
    """An agent configuration for a count-only camera (its keys and brokers are never opened)."""
    return AgentConfig.model_validate(
        {
            "camera": {
                "id": camera,
                "site": f"site of {camera}",
                "location": f"{lat:.5f},{lon:.5f}",
                "owner": "City of Gent",
                "operator": "Police zone Gent",
                "vendor": "anpr-edge",
                "model": "sim",
                "source": "sim:",
                "lanes": 2,
                "legal_basis": "Camera Act art. 7/1",
            },
            "keys": {
                "signing_key": "/nonexistent/sign.key",
                "sealing_public_key": "/nonexistent/seal.pub",
            },
            "police": {
                "brokers": ["mqtts://127.0.0.1:1"],
                "ca": "/x/ca",
                "cert": "/x/c",
                "key": "/x/k",
                "topic_prefix": "anpr/v1",
            },
            "civil": {
                "brokers": ["mqtts://127.0.0.1:2"],
                "ca": "/y/ca",
                "cert": "/y/c",
                "key": "/y/k",
                "topic_prefix": "civil/v1",
            },
            "counts": {
                "window_s": window_s,
                "k": k,
                "dimensions": ["lane", "direction"],
                "legal_basis": "municipal council decision 2026/114 (mobility plan)",
                "purpose": "mobility",
            },
        }
    )


@dataclass
class CountCamera:
    """One simulated camera's civil side: truth, signed records, descriptor."""

    camera: str
    lat: float
    lon: float
    rate_per_hour: float = 120.0
    k: int = 5
    window_s: int = 900
    seed: int = 0
    key: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)
    seq: int = 0
    prev: str = GENESIS
    truth: dict[int, int] = field(default_factory=dict)  # window start -> vehicles
    truth_lanes: dict[int, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.signer = Signer(self.key)
        self.config = camera_config(
            self.camera, lat=self.lat, lon=self.lon, k=self.k, window_s=self.window_s
        )
        self.counts: CountsConfig = self.config.counts
        self.boot = secrets.token_hex(16)
        self._rng = random.Random(f"{self.camera}/{self.seed}")  # noqa: S311 - traffic, not keys

    @property
    def public_key(self) -> ed25519.Ed25519PublicKey:
        """The camera's signing public key (what an operator registers at the hub)."""
        return self.key.public_key()

    def descriptor(self, ts_ms: int) -> bytes:
        """The camera's signed descriptor."""
        return build_descriptor(
            self.config,
            self.signer,
            sealed_to="0" * 64,
            police_cert_sha256=None,
            civil_cert_sha256=None,
            ts_ms=ts_ms,
            flux="civil",
        )

    def window(self, start: int) -> CountWindow:
        """Draw one window's traffic (kept as truth) and return it, before disclosure control."""
        hour = (start // 3600) % 24
        shape = 0.15 + (1.0 if 7 <= hour <= 19 else 0.2)
        mean = self.rate_per_hour * self.window_s / 3600 * shape
        n = max(0, round(self._rng.gauss(mean, max(1.0, mean**0.5))))
        cells: dict[tuple[str, ...], int] = {}
        for _ in range(n):
            lane = self._rng.choices(_LANES, (60, 40))[0]
            flipped = self._rng.random() < 0.05
            direction = _DIRECTIONS[(lane == "2") ^ flipped]
            key = (lane, direction)
            cells[key] = cells.get(key, 0) + 1
        self.truth[start] = n
        by_lane = self.truth_lanes.setdefault(start, {})
        for (lane, _), count in cells.items():
            by_lane[lane] = by_lane.get(lane, 0) + count
        return CountWindow(start, start + self.window_s, tuple(sorted(cells.items())), 0, "full")

    def record(self, window: CountWindow, ts_ms: int) -> bytes:
        """The next signed ``count`` record carrying ``window``'s civil message."""
        self.seq += 1
        data = civil_message(window, self.counts, self.camera)
        wire, self.prev = build_record(
            camera=self.camera,
            stream="counts",
            seq=self.seq,
            prev=self.prev,
            ts_ms=ts_ms,
            boot=self.boot,
            kind="count",
            payload={"data": data},
            signer=self.signer,
        )
        return wire

    def records(self, start: int, end: int) -> list[bytes]:
        """Signed records for every window in ``[start, end)``."""
        first = start - start % self.window_s
        return [
            self.record(self.window(w), (w + self.window_s) * 1000)
            for w in range(first, end, self.window_s)
        ]
