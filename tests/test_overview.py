"""Overview images: cut from the best frame, capped, sealed with the read, opened by the police."""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest
from conftest import make_read
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519
from service_rig import write_config
from test_detector import (  # the real models on synthetic frames
    _moving_plate_frames,
    _Sink,
    detector,
    needs_model,
    recognizer,
)

from agent.config.load import load_config
from agent.core.clock import SystemClock
from agent.core.events import PlateBox, PlateRead, PlateText, Sighting
from agent.journal.db import open_readonly
from agent.journal.records import open_read, parse_record
from agent.recognition.capture import IteratorSource
from agent.recognition.overview import VEHICLE_WIDTH, OverviewSettings, cut, encode
from agent.recognition.pipeline import Pipeline
from agent.recognition.tracker import Tracker
from agent.security.crypto import key_id
from agent.security.keyfiles import load_signing_key
from agent.service import Service, ServiceOptions
from simulator.backoffice import PoliceBackOffice
from simulator.fakes import FakeReadSource
from simulator.mqttc import client_context

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import JournalKit

    from agent.recognition.recognizer import Recognizer
    from simulator.broker import Broker
    from simulator.pki import DevPki

__all__ = ["detector", "recognizer"]  # fixtures shared with test_detector


def _noisy_frame(seed: int = 1, size: tuple[int, int] = (720, 1280)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (*size, 3), dtype=np.uint8)


def test_the_vehicle_region_is_the_plate_scaled_up_and_clipped_to_the_frame() -> None:
    frame = _noisy_frame()
    region = cut(frame, (600.0, 500.0, 100.0, 22.0), "vehicle")
    assert region is not None
    assert region.shape[1] == VEHICLE_WIDTH * 100
    assert region.shape[0] == 300  # three plate widths, the plate near the bottom
    corner = cut(frame, (1230.0, 700.0, 50.0, 11.0), "vehicle")  # plate at the frame's corner
    assert corner is not None
    assert corner.shape[1] < VEHICLE_WIDTH * 50  # clipped, not padded
    whole = cut(frame, (600.0, 500.0, 100.0, 22.0), "frame")
    assert whole is not None
    assert whole.shape == frame.shape
    assert cut(frame, (600.0, 500.0, 100.0, 22.0), "off") is None


@pytest.mark.parametrize("cap", [4096, 20_000, 100_000])
def test_an_overview_never_exceeds_its_byte_cap_or_its_long_side(cap: int) -> None:
    frame = _noisy_frame()  # noise: the worst case for JPEG
    settings = OverviewSettings("frame", long_side=1024, quality=95, max_bytes=cap)
    data = encode(frame, settings)
    assert 0 < len(data) <= cap
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert max(image.shape[:2]) <= 1024
    assert encode(frame, dataclasses.replace(settings, mode="off")) == b""


def _box(x: float, y: float, w: float) -> PlateBox:
    h = w / 4.7
    return PlateBox(((x, y), (x + w, y), (x + w, y + h), (x, y + h)), 0.9)


def test_the_overview_comes_from_the_frame_of_the_best_read() -> None:
    tracker = Tracker(
        frame_size=(1280, 720),
        timeout_s=0.5,
        overview=OverviewSettings("vehicle", long_side=640, quality=90, max_bytes=50_000),
    )
    crop = np.full((24, 110, 3), 200, np.uint8)
    for k, conf in enumerate((700, 980, 800)):  # the second frame reads best
        frame = np.full((720, 1280, 3), 40 * (k + 1), np.uint8)
        text = PlateText("1ABC123", (conf,) * 7, "B")
        tracker.update(
            k * 0.1, 1000 + k, [Sighting(_box(500 + 5 * k, 400, 120), text, crop)], frame
        )
    (read,) = tracker.expire(10.0)
    assert isinstance(read, PlateRead)
    image = cv2.imdecode(np.frombuffer(read.overview_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert abs(float(image.mean()) - 80.0) < 3.0  # the grey of frame 2, not 1 or 3
    assert image.shape[1] == VEHICLE_WIDTH * 120


def test_without_an_overview_a_read_carries_none() -> None:
    tracker = Tracker(frame_size=(1280, 720), timeout_s=0.5)
    crop = np.full((24, 110, 3), 200, np.uint8)
    frame = _noisy_frame()
    for k in range(3):
        text = PlateText("1ABC123", (950,) * 7, "B")
        tracker.update(k * 0.1, 1000 + k, [Sighting(_box(500, 400, 120), text, crop)], frame)
    (read,) = tracker.expire(10.0)
    assert isinstance(read, PlateRead)
    assert read.overview_jpeg == b""
    assert read.crop_jpeg


def test_the_overview_is_sealed_with_the_read_and_nowhere_in_clear(kit: JournalKit) -> None:
    overview = encode(_noisy_frame(), OverviewSettings("frame", 320, 80, 40_000))
    crop = b"\xff\xd8crop-bytes\xff\xd9"
    journal = kit.open()
    journal.append_read(dataclasses.replace(make_read(crop=crop), overview_jpeg=overview))
    journal.append_read(make_read(crop=crop))
    kit.close()
    raw = b"".join(p.read_bytes() for p in kit.path.parent.glob("journal.sqlite*"))
    assert overview[100:164] not in raw  # no run of its bytes on disk
    with open_readonly(kit.path, "cam-01") as store:
        first, second = (parse_record(r.wire) for r in store.iter_records("reads"))
    opened = open_read(first, kit.seal_key)
    assert opened.crop_jpeg == crop
    assert opened.overview_jpeg == overview
    assert opened.meta["overview_bytes"] == len(overview)
    plain = open_read(second, kit.seal_key)
    assert (plain.crop_jpeg, plain.overview_jpeg) == (crop, b"")


@needs_model
def test_the_pipeline_seals_a_vehicle_overview_from_real_detections(
    recognizer: Recognizer,
) -> None:
    frames = _moving_plate_frames((11,))
    settings = OverviewSettings("vehicle", long_side=400, quality=80, max_bytes=30_000)
    pipe = Pipeline(
        recognizer,
        IteratorSource("synthetic", lambda: iter(frames)),
        SystemClock(),
        pass_timeout_s=30.0,
        queue_size=len(frames) + 1,
        reconnect_at_end=False,
        overview=settings,
    )
    sink = _Sink()
    pipe.run(sink, threading.Event())
    assert len(sink.reads) == 1
    data = sink.reads[0].overview_jpeg
    assert 0 < len(data) <= settings.max_bytes
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert max(image.shape[:2]) <= settings.long_side
    assert image.shape[1] > image.shape[0]  # a vehicle-shaped region, wider than high


@pytest.mark.broker
def test_the_police_back_office_opens_and_stores_each_reads_overview(
    police: Broker, civil: Broker, pki: DevPki, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "agent.toml", pki, police=police.url, civil=civil.url)
    overview = encode(_noisy_frame(), OverviewSettings("frame", 320, 80, 30_000))
    reads = [
        dataclasses.replace(make_read(f"1ABC{i:03d}"), overview_jpeg=overview if i % 2 else b"")
        for i in range(6)
    ]
    source = FakeReadSource(reads)
    sign = load_signing_key(pki.path("device-sign.key")).public_key()
    seal = serialization.load_pem_private_key(pki.path("backoffice-seal.key").read_bytes(), None)
    assert isinstance(seal, x25519.X25519PrivateKey)
    office = PoliceBackOffice(
        police.url,
        client_context(
            pki.path("police-ca.crt"), pki.path("backoffice.crt"), pki.path("backoffice.key")
        ),
        seal_key=seal,
        trusted={"cam-01": {key_id(sign): sign}},
        keep_crops=True,
        images=tmp_path / "images",
    )
    office.start()
    service = Service(load_config(config, {}), source, options=ServiceOptions(tick_s=0.1))
    thread = threading.Thread(target=service.run)
    thread.start()
    try:
        assert source.finished.wait(30)
        assert office.wait_complete("cam-01", 6, timeout=30)
    finally:
        service.request_stop()
        thread.join(60)
        office.stop()
    assert office.problems == []
    assert sorted(seq for _, seq in office.overviews) == [2, 4, 6]  # reads 1, 3, 5 had one
    assert all(v == overview for v in office.overviews.values())
    stored = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert stored.count("cam-01-00000002-overview.jpg") == 1
    assert sum(name.endswith("-overview.jpg") for name in stored) == 3
    assert sum(name.endswith("-crop.jpg") for name in stored) == 6
    # Not on the edge box's disk in clear, not on the civil side.
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("journal.sqlite*"))
    assert overview[200:264] not in raw
