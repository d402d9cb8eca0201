"""A camera that reads plates on board: the synthetic scene's passes posted as vendor events.

:func:`encode_event` writes one read in a mapping's format (the mapping read
backwards: each field path is where the value goes, times in its format,
confidences on its scale, the image base64 or as a multipart part), so any
preset or custom mapping can be exercised end to end. :class:`EventCamera`
runs the synthetic traffic scene in real time without drawing frames, and
posts each readable pass as an event over HTTPS with a bearer token — with
read errors at a configured rate, and resends (the same event id again, as
cameras do after a timeout) at another. ``anpr-sim camera --events URL
--preset NAME`` runs it on its own; ``anpr-sim demo --vendor NAME`` wires it
to the agent (:mod:`simulator.vendordemo`).
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import queue
import random
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import cv2

from agent.intake import parse_path

if TYPE_CHECKING:
    from pathlib import Path

    from agent.intake import Mapping
    from simulator.camera import SceneConfig

__all__ = ["EventCamera", "VendorRead", "encode_event", "misread"]

_BOUNDARY = "anpr-sim-event-boundary"
_CONFUSABLE = {"0": "O", "O": "0", "1": "I", "I": "1", "8": "B", "B": "8", "5": "S", "S": "5"}
_MIN_CROP_PX = 60.0
_RETRY_S = 30.0


@dataclass(frozen=True, slots=True)
class VendorRead:
    """What a camera read on board, before its vendor's encoding."""

    text: str
    wall_ms: int
    country: str | None = None  # international code (B, NL, ...)
    confidence: float = 0.95
    lane: int | None = None
    direction: str | None = None
    vehicle_class: str | None = None
    event_id: str | None = None
    crop_jpeg: bytes = field(default=b"", repr=False)


def _reverse(values: dict[str, str], ours: str | None) -> str | None:
    if ours is None:
        return None
    return next((vendor for vendor, mapped in values.items() if mapped == ours), ours)


def _time_text(mapping: Mapping, wall_ms: int) -> str | int:
    spec = mapping.time
    if spec.format == "epoch_ms":
        return wall_ms
    if spec.format == "epoch_s":
        return f"{wall_ms / 1000:.3f}"
    zone: dt.tzinfo = dt.UTC
    if spec.timezone != "UTC":
        sign = -1 if spec.timezone[0] == "-" else 1
        zone = dt.timezone(
            sign * dt.timedelta(hours=int(spec.timezone[1:3]), minutes=int(spec.timezone[4:6]))
        )
    stamp = dt.datetime.fromtimestamp(wall_ms / 1000, zone)
    if spec.format == "iso8601":
        return stamp.isoformat(timespec="milliseconds")
    return stamp.strftime(spec.format)


def _set_json(tree: dict[str, Any], path: str, value: object) -> None:
    node: Any = tree
    steps = parse_path(path)
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        key = step.key.removeprefix("@")
        if step.index is None and step.where is None:
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
            continue
        items = node.setdefault(key, [])
        if step.index is not None:
            while len(items) <= step.index:
                items.append({})
            if last:
                items[step.index] = value
            node = items[step.index]
        else:
            fkey, fvalue = step.where  # type: ignore[misc]
            found = next((x for x in items if x.get(fkey) == fvalue), None)
            if found is None:
                found = {fkey: fvalue}
                items.append(found)
            node = found


def _set_xml(root: ET.Element, path: str, value: object) -> None:
    node = root
    for step in parse_path(path):
        if step.key.startswith("@"):
            node.set(step.key[1:], str(value))
            return
        children = [c for c in node if c.tag == step.key]
        if step.where is not None:
            fkey, fvalue = step.where
            children = [c for c in children if c.findtext(fkey) == fvalue]
            if not children:
                child = ET.SubElement(node, step.key)
                ET.SubElement(child, fkey).text = fvalue
                children = [child]
        index = step.index or 0
        while len(children) <= index:
            children.append(ET.SubElement(node, step.key))
        node = children[index]
    node.text = str(value)


def _values(mapping: Mapping, read: VendorRead) -> list[tuple[str, object]]:
    f = mapping.fields
    scale = mapping.confidence_scale
    whole = scale >= 100
    conf = round(read.confidence * scale) if whole else round(read.confidence * scale, 3)
    out: list[tuple[str, object]] = [(path, want) for path, want in mapping.only_when.items()]
    out.append((f.plate, read.text))
    optional: list[tuple[str | None, object]] = [
        (f.event_id, read.event_id),
        (f.time, _time_text(mapping, read.wall_ms)),
        (f.country, _reverse(mapping.country_values, read.country)),
        (f.confidence, conf),
        (f.lane, read.lane),
        (f.direction, _reverse(dict(mapping.direction_values), read.direction)),
        (f.vehicle_class, _reverse(dict(mapping.class_values), read.vehicle_class)),
    ]
    if f.char_confidence is not None:
        optional.append((f.char_confidence, ",".join([str(conf)] * len(read.text))))
    if f.image is not None and mapping.image.part is None and read.crop_jpeg:
        optional.append((f.image, base64.b64encode(read.crop_jpeg).decode()))
    out += [(p, v) for p, v in optional if p is not None and v is not None]
    return out


def encode_event(mapping: Mapping, read: VendorRead) -> tuple[bytes, str]:
    """One read as ``mapping``'s event: (body, Content-Type)."""
    values = _values(mapping, read)
    if mapping.body == "json":
        tree: dict[str, Any] = {}
        for path, value in values:
            _set_json(tree, path, value)
        event = json.dumps(tree).encode()
    else:
        root = ET.Element(mapping.root or "Event")
        for path, value in values:
            _set_xml(root, path, value)
        event = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)
    kind = f"application/{mapping.body}"
    if not mapping.multipart:
        return event, kind
    name = mapping.event_part or f"event.{mapping.body}"
    parts = [(name, kind, event)]
    if mapping.image.part is not None and read.crop_jpeg:
        parts.append((mapping.image.part, "image/jpeg", read.crop_jpeg))
    body = b""
    for part, ctype, data in parts:
        body += (
            (
                f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="{part}"; '
                f'filename="{part}"\r\nContent-Type: {ctype}\r\n'
                f"Content-Length: {len(data)}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    body += f"--{_BOUNDARY}--\r\n".encode()
    return body, f"multipart/form-data; boundary={_BOUNDARY}"


def misread(text: str, rng: random.Random) -> str:
    """One character wrong: half the time a look-alike (which a plate syntax may mend), else any."""
    spots = [i for i, c in enumerate(text) if c in _CONFUSABLE]
    if spots and rng.random() < 0.5:
        i = rng.choice(spots)
        return text[:i] + _CONFUSABLE[text[i]] + text[i + 1 :]
    i = rng.randrange(len(text))
    other = rng.choice([c for c in "ABCDEFGHJKLMNPRSTVXYZ0123456789" if c != text[i]])
    return text[:i] + other + text[i + 1 :]


@dataclass
class PostStats:
    """What the camera sent and how the intake answered."""

    posted: int = 0
    resent: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    failures: int = 0  # no answer at all (connection refused, timeout)
    refused: list[str] = field(default_factory=list)  # the intake's reasons, in order


class EventCamera:
    """The synthetic scene as a camera that posts read events (``start`` / ``wait`` / ``stop``)."""

    def __init__(  # noqa: PLR0913 - a camera has this many knobs
        self,
        scene: SceneConfig,
        url: str,
        mapping: Mapping,
        *,
        token: str | None,
        ca: Path | None = None,
        truth_path: Path | None = None,
        seconds: float | None = None,
        read_errors: float = 0.0,
        resends: float = 0.0,
        seed: int = 0,
    ) -> None:
        self._scene_cfg = scene
        self.url = url
        self._mapping = mapping
        self._token = token
        self._ctx: ssl.SSLContext | None = None
        if urlsplit(url).scheme == "https":
            self._ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
        self._truth_path = truth_path
        self._seconds = seconds
        self._read_errors = read_errors
        self._resends = resends
        self._rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
        self.frames_sent = 0  # scene frames stepped (the demo's progress line shows them)
        self.stats = PostStats()
        self._queue: queue.Queue[VendorRead | None] = queue.Queue(maxsize=10_000)
        self._stop = threading.Event()
        self._done = threading.Event()
        self._scene_thread = threading.Thread(target=self._run_scene, name="event-camera")
        self._post_thread = threading.Thread(target=self._run_posts, name="event-posts")

    def start(self) -> None:
        """Start the scene and the poster."""
        self._post_thread.start()
        self._scene_thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the scene has run its seconds and every event was posted."""
        return self._done.wait(timeout)

    def stop(self) -> None:
        """Stop the scene; events already queued are still posted."""
        self._stop.set()
        if self._scene_thread.is_alive():
            self._scene_thread.join()
        if self._post_thread.is_alive():
            self._post_thread.join(60)

    def _run_scene(self) -> None:
        from simulator.camera import Scene, TruthWriter  # noqa: PLC0415 - fonts, OpenCV

        scene = Scene(self._scene_cfg)
        scene.start_now()
        writer = (
            TruthWriter(self._truth_path, scene.header(), frames=False)
            if self._truth_path
            else None
        )
        try:
            self._steps(scene, writer)
            if writer is not None:
                writer.passes(scene.finish())
        finally:
            if writer is not None:
                writer.close()
            self._queue.put(None)

    def _steps(self, scene: Any, writer: Any) -> None:  # noqa: ANN401 - the camera's types
        crops: dict[int, bytes] = {}
        fps = self._scene_cfg.fps
        total = None if self._seconds is None else round(self._seconds * fps)
        t0 = time.monotonic()
        while not self._stop.is_set() and (total is None or scene.index < total):
            lag = t0 + scene.index / fps - time.monotonic()
            if lag > 0:
                time.sleep(lag)
            sim = scene.step(draw=False)
            self.frames_sent += 1
            for v in sim.truth.vehicles:
                sharp = v.plate_visible >= 0.95 and v.plate_px >= _MIN_CROP_PX
                if sharp and v.vehicle not in crops:
                    crops[v.vehicle] = self._crop(scene, v.vehicle)
            for p in sim.passes:
                if writer is not None:
                    writer.passes([p])
                crop = crops.pop(p.vehicle, b"")
                if p.readable and p.text:
                    self._queue.put(self._read_of(p, crop))

    @staticmethod
    def _crop(scene: Any, vehicle: int) -> bytes:  # noqa: ANN401 - the camera's Scene
        image = scene.plate_image(vehicle)
        if image is None:
            return b""
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        return buf.tobytes() if ok else b""

    def _read_of(self, p: Any, crop: bytes) -> VendorRead:  # noqa: ANN401 - a PassTruth
        text, confidence = p.text, 0.9 + 0.09 * self._rng.random()
        if self._rng.random() < self._read_errors:
            text, confidence = misread(text, self._rng), 0.6 + 0.2 * self._rng.random()
        return VendorRead(
            text=text,
            wall_ms=p.exit_ms,
            country=p.country if p.country != "EU" else None,
            confidence=confidence,
            lane=p.lane,
            direction=p.direction,
            vehicle_class=p.vclass,
            event_id=str(uuid.UUID(int=self._rng.getrandbits(128))),
            crop_jpeg=crop,
        )

    def _connection(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.url)
        host, port = parts.hostname or "127.0.0.1", parts.port
        if self._ctx is not None:
            return http.client.HTTPSConnection(host, port, context=self._ctx, timeout=10)
        return http.client.HTTPConnection(host, port, timeout=10)

    def _run_posts(self) -> None:
        conn = self._connection()
        path = urlsplit(self.url).path or "/events"
        try:
            while True:
                read = self._queue.get()
                if read is None:
                    break
                body, ctype = encode_event(self._mapping, read)
                conn = self._post(conn, path, body, ctype)
                self.stats.posted += 1
                if self._rng.random() < self._resends:
                    conn = self._post(conn, path, body, ctype)
                    self.stats.resent += 1
        finally:
            conn.close()
            self._done.set()

    def _post(
        self, conn: http.client.HTTPConnection, path: str, body: bytes, ctype: str
    ) -> http.client.HTTPConnection:
        headers = {"Content-Type": ctype}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        # Like a camera: resend until answered (the agent may be starting or restarting).
        deadline = time.monotonic() + _RETRY_S
        while time.monotonic() < deadline:
            try:
                conn.request("POST", path, body, headers)
                response = conn.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = self._connection()
                time.sleep(0.5)
                continue
            if response.status == 200:
                key = str(json.loads(answer).get("status", "?"))
            else:
                key = str(response.status)
            self.stats.answers[key] = self.stats.answers.get(key, 0) + 1
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = self._connection()
            if response.status in {429, 503}:
                time.sleep(1.0)
                continue
            if response.status != 200:
                self.stats.refused.append(str(json.loads(answer).get("error", "?")))
            return conn
        self.stats.failures += 1
        return conn
