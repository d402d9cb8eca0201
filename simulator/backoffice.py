"""The reference back offices: subscribe, verify, open, ack, ask for replays.

:class:`PoliceBackOffice` consumes ``reads`` (and unseals them);
:class:`CivilBackOffice` consumes ``counts`` (and dedupes windows by ``id``).
What an integrator's consumer must do, in one small class:

- subscribe to ``{prefix}/+/reads`` through a *shared* subscription (several
  consumer instances split the load), plus the retained ``status`` and
  ``descriptor`` topics;
- verify every record with the journal verifier (signature, chain, forks);
- unseal reads with the back office's X25519 key;
- acknowledge, on ``{prefix}/{camera}/ack``, the highest seq below which it
  holds every record (``confirmed_through``): the camera may then purge;
- when a gap stays open, ask for it on ``{prefix}/{camera}/replay``;
- write what it received, one JSON line per record.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, TypedDict, Unpack

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.config.schema import broker_endpoint
from agent.journal.records import RecordError, open_read, parse_record
from agent.journal.verify import ChainVerifier, Problem
from agent.security.crypto import SealError
from agent.uplink.wire import MAX_REPLAY

if TYPE_CHECKING:
    import ssl
    from collections.abc import Mapping
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from paho.mqtt.reasoncodes import ReasonCode

    from agent.journal.records import ParsedRecord

__all__ = ["BackOffice", "CameraFeed", "CivilBackOffice", "PoliceBackOffice"]


@dataclass
class CameraFeed:
    """What the back office holds of one camera's ``reads`` stream."""

    verifier: ChainVerifier
    received: int = 0
    opened: dict[int, dict[str, object]] = field(default_factory=dict)
    kinds: dict[int, str] = field(default_factory=dict)
    base: int = 1  # first seq it expects (moves up when the camera says it purged)
    acked: int = 0
    gap_since: float | None = None
    replay_requested: float = 0.0

    def contiguous_through(self) -> int:
        """Highest seq such that every record from ``base`` to it is held."""
        seq = self.base - 1
        while seq + 1 in self.kinds:
            seq += 1
        return seq

    @property
    def max_seq(self) -> int:
        """Highest seq held."""
        return max(self.kinds, default=0)


class Options(TypedDict, total=False):
    """Keyword options shared by the back offices."""

    trusted: Mapping[str, Mapping[str, Ed25519PublicKey]]
    out: Path | None
    prefix: str
    client_id: str
    group: str
    ack_every_s: float
    gap_after_s: float


class BackOffice:
    """A back-office consumer of one stream on one broker. Thread-safe figures; start/stop it."""

    stream = "reads"

    def __init__(  # noqa: PLR0913 - the consumer's knobs
        self,
        url: str,
        ctx: ssl.SSLContext,
        *,
        trusted: Mapping[str, Mapping[str, Ed25519PublicKey]],
        out: Path | None = None,
        prefix: str = "anpr/v1",
        client_id: str = "backoffice-1",
        group: str = "backoffice",
        ack_every_s: float = 0.2,
        gap_after_s: float = 1.0,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._trusted = trusted
        self._ack_every_s = ack_every_s
        self._gap_after_s = gap_after_s
        self._lock = threading.Lock()
        self.feeds: dict[str, CameraFeed] = {}
        self.problems: list[tuple[str, Problem]] = []
        self.duplicates = 0
        self.status: dict[str, dict[str, object]] = {}
        self.descriptors: dict[str, bytes] = {}
        self.replays_requested = 0
        self._drop_once: dict[str, set[int]] = {}
        self._out: IO[str] | None = out.open("a", encoding="utf-8") if out else None
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        client.tls_set_context(ctx)
        client.reconnect_delay_set(1, 2)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client
        self._group = group
        self._ticker = threading.Thread(target=self._tick, name="backoffice-acks", daemon=True)

    def start(self) -> None:
        """Connect (retrying until the broker is up) and start consuming."""
        host, port = broker_endpoint(self._url)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self._client.connect_async(host, port, keepalive=10, clean_start=False, properties=props)
        self._client.loop_start()
        self._ticker.start()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the broker has granted the subscriptions (SUBACK).

        Records a camera publishes before that are not lost (the camera
        replays what is never acked) but arrive out of order.
        """
        return self._subscribed.wait(timeout)

    def stop(self) -> None:
        """Disconnect and close the output file."""
        self._stop.set()
        self._ticker.join(5)
        self._client.disconnect()
        self._client.loop_stop()
        if self._out:
            self._out.close()

    def drop_once(self, camera: str, seqs: set[int]) -> None:
        """Fault injection: lose these seqs the first time they arrive."""
        with self._lock:
            self._drop_once.setdefault(camera, set()).update(seqs)

    def feed(self, camera: str) -> CameraFeed | None:
        """The feed of one camera, if it has sent anything."""
        with self._lock:
            return self.feeds.get(camera)

    def wait_complete(self, camera: str, through: int, timeout: float) -> bool:
        """Wait until every record 1..``through`` of ``camera`` is held and acked."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                feed = self.feeds.get(camera)
                if feed and feed.contiguous_through() >= through and feed.acked >= through:
                    return True
            time.sleep(0.05)
        return False

    # ------------------------------------------------------------ inbound

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        if reason.is_failure:
            return
        client.subscribe(
            [
                (f"$share/{self._group}/{self._prefix}/+/{self.stream}", 1),
                (f"{self._prefix}/+/status", 1),
                (f"{self._prefix}/+/descriptor", 1),
            ]
        )

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, codes: list[ReasonCode], _p: object
    ) -> None:
        if not any(code.is_failure for code in codes):
            self._subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        parts = message.topic.split("/")
        camera, leaf = parts[-2], parts[-1]
        if leaf == "status":
            try:
                self.status[camera] = json.loads(message.payload)
            except ValueError:
                return
        elif leaf == "descriptor":
            self.descriptors[camera] = bytes(message.payload)
        elif leaf == self.stream:
            self._on_record(camera, bytes(message.payload))

    def _on_record(self, camera: str, wire: bytes) -> None:
        try:
            record = parse_record(wire)
        except RecordError as exc:
            with self._lock:
                self.problems.append((camera, Problem(None, "malformed", str(exc))))
            return
        with self._lock:
            dropped = self._drop_once.get(camera, set())
            if record.seq in dropped:
                dropped.discard(record.seq)
                return
            feed = self.feeds.get(camera)
            if feed is None:
                keys = self._trusted.get(camera, {})
                feed = self.feeds[camera] = CameraFeed(ChainVerifier(camera, self.stream, keys))
            feed.received += 1
            if record.seq in feed.kinds:
                self.duplicates += 1
            found = feed.verifier.feed(wire)
            self.problems += [(camera, p) for p in found]
            if any(p.seq == record.seq for p in found) or record.seq in feed.kinds:
                return
            feed.kinds[record.seq] = record.kind
            if record.kind == "purge":
                below = record.integer("below") or 1
                feed.base = max(feed.base, below)
        self._store(camera, feed, record)

    def _store(self, camera: str, feed: CameraFeed, record: ParsedRecord) -> None:
        line: dict[str, object] = {"camera": camera, "seq": record.seq, "type": record.kind}
        content = self._content(camera, feed, record)
        if content is None:
            return
        line.update(content)
        line["received_ms"] = int(time.time() * 1000)
        if self._out:
            with self._lock:
                self._out.write(json.dumps(line, sort_keys=True) + "\n")

    def _content(
        self, camera: str, feed: CameraFeed, record: ParsedRecord
    ) -> dict[str, object] | None:
        """What to keep of a verified record (None: keep nothing more)."""
        del camera, feed, record
        return {}

    # ----------------------------------------------------------- outbound

    def _tick(self) -> None:
        while not self._stop.wait(self._ack_every_s):
            now = time.monotonic()
            with self._lock:
                todo = list(self.feeds.items())
            for camera, feed in todo:
                with self._lock:
                    through = feed.contiguous_through()
                    top = max(feed.max_seq, self._announced(camera))
                if through > feed.acked:
                    ack = {"stream": self.stream, "confirmed_through": through}
                    self._send(camera, "ack", ack)
                    feed.acked = through
                if top > through:
                    feed.gap_since = feed.gap_since or now
                    waited = now - feed.gap_since >= self._gap_after_s
                    # Ask again only after a while: the replay may still be on its way.
                    if waited and now - feed.replay_requested >= 4 * self._gap_after_s:
                        with self._lock:
                            later = [s for s in feed.kinds if s > through]
                        # Up to the next record held, or to the tail the camera announced.
                        last = min(min(later, default=top + 1) - 1, through + MAX_REPLAY)
                        body = {"stream": self.stream, "from": through + 1, "to": last}
                        self._send(camera, "replay", body)
                        feed.replay_requested = now
                        self.replays_requested += 1
                else:
                    feed.gap_since = None

    def _announced(self, camera: str) -> int:
        """The last seq the camera says it sent (its status heartbeat): a lost tail shows."""
        status = self.status.get(camera, {})
        sent = status.get("sent_through") if status.get("stream") == self.stream else None
        return sent if isinstance(sent, int) else 0

    def _send(self, camera: str, leaf: str, body: dict[str, object]) -> None:
        self._client.publish(f"{self._prefix}/{camera}/{leaf}", json.dumps(body), qos=1)


class PoliceBackOffice(BackOffice):
    """The police side: ``reads``, unsealed with the back office's X25519 key."""

    stream = "reads"

    def __init__(
        self,
        url: str,
        ctx: ssl.SSLContext,
        *,
        seal_key: X25519PrivateKey,
        keep_crops: bool = False,
        images: Path | None = None,
        **kwargs: Unpack[Options],
    ) -> None:
        super().__init__(url, ctx, **kwargs)
        self._seal_key = seal_key
        self._keep_crops = keep_crops
        self._images = images
        if images is not None:
            images.mkdir(parents=True, exist_ok=True)
        self.crops: dict[tuple[str, int], bytes] = {}  # (camera, seq) -> JPEG, when kept
        self.overviews: dict[tuple[str, int], bytes] = {}  # (camera, seq) -> JPEG, when kept

    def _content(
        self, camera: str, feed: CameraFeed, record: ParsedRecord
    ) -> dict[str, object] | None:
        if record.kind != "read":
            return {}
        try:
            opened = open_read(record, self._seal_key)
        except SealError as exc:
            with self._lock:
                self.problems.append((camera, Problem(record.seq, "unseal", str(exc))))
            return None
        with self._lock:
            feed.opened[record.seq] = opened.meta
            if self._keep_crops:
                self.crops[(camera, record.seq)] = opened.crop_jpeg
                if opened.overview_jpeg:
                    self.overviews[(camera, record.seq)] = opened.overview_jpeg
        if self._images is not None:  # the back office's own store, where the images belong
            stem = self._images / f"{camera}-{record.seq:08d}"
            stem.with_name(f"{stem.name}-crop.jpg").write_bytes(opened.crop_jpeg)
            if opened.overview_jpeg:
                stem.with_name(f"{stem.name}-overview.jpg").write_bytes(opened.overview_jpeg)
        clock = record.body.get("clock")
        return {
            **opened.meta,
            "crop_bytes": len(opened.crop_jpeg),
            "overview_bytes": len(opened.overview_jpeg),
            **({"clock": clock} if isinstance(clock, dict) else {}),
        }


class CivilBackOffice(BackOffice):
    """The city's side: ``counts`` windows, deduplicated by their stable ``id``."""

    stream = "counts"

    def __init__(self, url: str, ctx: ssl.SSLContext, **kwargs: Unpack[Options]) -> None:
        kwargs.setdefault("prefix", "civil/v1")
        kwargs.setdefault("group", "city")
        kwargs.setdefault("client_id", "city-1")
        super().__init__(url, ctx, **kwargs)
        self.windows: dict[str, dict[str, object]] = {}  # id -> message, first copy kept
        self.window_order: list[str] = []
        self.window_duplicates = 0

    def _content(
        self, camera: str, feed: CameraFeed, record: ParsedRecord
    ) -> dict[str, object] | None:
        del camera, feed
        data = record.body.get("data")
        if record.kind != "count" or not isinstance(data, dict):
            return {}
        window_id = str(data.get("id"))
        with self._lock:
            if window_id in self.windows:
                self.window_duplicates += 1
                return None
            self.windows[window_id] = data
            self.window_order.append(window_id)
        return {"data": data}
