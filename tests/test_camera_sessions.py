"""Camera sessions: a finite source is read once and the agent stops; a corrupt frame is
skipped and counted; a camera that is gone shows (alarm, metric, status) and, past a bound,
stops the watchdog pings."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest
from conftest import make_read
from service_rig import NotifyListener, backoffice, plates, write_config
from uplink_rig import wait_until

from agent.cli.main import main
from agent.config.load import load_config
from agent.core.clock import SystemClock
from agent.core.events import PlateBox, PlateText, Sighting
from agent.recognition.capture import Capture, VideoSource, is_finite, open_source
from agent.recognition.pipeline import Pipeline
from agent.service import Notifier, Service, ServiceOptions
from simulator.fakes import FakeReadSource

if TYPE_CHECKING:
    from collections.abc import Iterator

    from simulator.broker import Broker
    from simulator.pki import DevPki

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("restore_logging")


def _jpeg(value: int) -> bytes:
    image = np.full((120, 160, 3), value, np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


# ------------------------------------------------------------------ corrupt frames


@pytest.fixture
def mjpeg_with_a_bad_frame() -> Iterator[str]:
    """An IP camera's MJPEG stream, 10 frames, the fifth of which is not a JPEG at all."""
    frames = [_jpeg(10 * i) for i in range(10)]
    frames[4] = b"\xff\xd8" + bytes(range(256)) * 8  # starts like a JPEG, decodes to nothing
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn, contextlib.suppress(OSError):  # the reader may hang up at any time
                conn.recv(4096)
                conn.sendall(
                    b"HTTP/1.0 200 OK\r\n"
                    b"Content-Type: multipart/x-mixed-replace; boundary=fr\r\n\r\n"
                )
                for frame in frames:
                    head = b"--fr\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                    conn.sendall(head % len(frame) + frame + b"\r\n")
                    time.sleep(0.03)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/stream.mjpg"
    stop.set()
    thread.join(2)
    server.close()


def test_a_corrupt_frame_is_skipped_and_counted_and_the_session_goes_on(
    mjpeg_with_a_bad_frame: str,
) -> None:
    source = VideoSource(mjpeg_with_a_bad_frame)
    capture = Capture(source, SystemClock(), queue_size=20, reconnect_at_end=False)
    capture.start()
    assert capture.ended.wait(30)
    values = []
    while not capture.frames.empty():
        values.append(int(capture.frames.get_nowait().image[0, 0, 0]))
    assert len(values) == 9, values  # every good frame, the ones after the bad one too
    assert capture.stats.corrupt == 1
    assert capture.stats.reconnects == 0


# ------------------------------------------------------------------ finite sources


def test_directories_and_files_are_finite_streams_are_not() -> None:
    assert is_finite("/var/lib/anpr/replay")
    assert is_finite("clip.mp4")
    assert not is_finite("rtsp://192.0.2.10/stream1")
    assert not is_finite("http://cam/stream.mjpg")


_TEXTS = ("1ABC123", "7XYZ890", "4KLM456")


class _PlatePerFrame:
    """Our recognizer seam: one plate per image, a new vehicle every third image."""

    def __init__(self) -> None:
        self.frames = 0

    def recognise(self, _image: object) -> list[Sighting]:
        self.frames += 1
        if self.frames % 3 == 0:
            return []  # the vehicle left: its pass ends after the timeout
        vehicle = self.frames // 3  # far apart, so no track can take two of them
        x = 50 + 450 * vehicle
        box = PlateBox(((x, 300), (x + 100, 300), (x + 100, 320), (x, 320)), 0.9)
        text = _TEXTS[vehicle]
        return [Sighting(box, PlateText(text, (900,) * len(text), "B"))]


@pytest.mark.broker
def test_a_directory_is_read_once_then_the_agent_delivers_and_stops(
    police: Broker, civil: Broker, pki: DevPki, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for i in range(9):
        cv2.imwrite(str(images / f"{i:03d}.png"), np.full((720, 1280, 3), 10 * i, np.uint8))
    config = write_config(tmp_path / "agent.toml", pki, police=police.url, civil=civil.url)
    office = backoffice(pki, police.url)
    office.start()
    pipeline = Pipeline(
        _PlatePerFrame(),  # type: ignore[arg-type]
        open_source(str(images)),
        SystemClock(),
        pass_timeout_s=30.0,  # passes end when the source ends (flush)
        reconnect_at_end=False,  # what build_pipeline chooses for a finite source
    )
    service = Service(
        load_config(config, {}), pipeline, options=ServiceOptions(tick_s=0.05, serve_metrics=False)
    )
    runner = threading.Thread(target=service.run, name="service-under-test")
    runner.start()
    try:
        runner.join(60)
        assert not runner.is_alive(), "the agent kept running after its source ended"
    finally:
        service.request_stop()
        runner.join(30)
        office.stop()
    assert service.exit_code == 0
    assert service.intake.frames == 9  # read once, not replayed
    assert service.reads_journaled == 3
    feed = office.feed("cam-01")
    assert feed is not None
    assert sorted(str(m["text"]) for m in feed.opened.values()) == sorted(_TEXTS)


_MODELS = (REPO / "agent/recognition/models/detector.card.json").exists() or (
    REPO / "models/detector.card.json"
).exists()


@pytest.mark.broker
@pytest.mark.skipif(not _MODELS, reason="detector or reader not shipped")
def test_anpr_agent_run_on_a_directory_exits_0_after_one_pass(
    police: Broker, civil: Broker, pki: DevPki, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for i in range(5):
        cv2.imwrite(str(images / f"{i:03d}.jpg"), np.full((480, 640, 3), 40 * i, np.uint8))
    config = write_config(tmp_path / "agent.toml", pki, police=police.url, civil=civil.url)
    text = config.read_text().replace("[camera]\n", f'[camera]\nsource = "{images}"\n', 1)
    text = "\n".join(line for line in text.splitlines() if not line.startswith('source = "sim'))
    config.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "camera source ended (read once)" in res.stdout
    assert "stopped: 5 frame(s)" in res.stdout


# ------------------------------------------------------------------ a camera that is gone


def test_a_camera_that_sends_no_frame_is_visible_and_not_hidden_for_ever(
    pki: DevPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "agent.toml", pki)
    config.write_text(
        config.read_text().replace(
            "[camera]\n", "[camera]\nlost_alarm_s = 1\nlost_restart_s = 2.5\n", 1
        )
    )
    loaded = load_config(config, {})
    # Two frames, then idle beats only: what a capture thread reconnecting for ever sends.
    source = FakeReadSource([make_read(p) for p in plates(2)])
    notify = NotifyListener()
    service = Service(
        loaded,
        source,
        options=ServiceOptions(tick_s=0.05),
        notifier=Notifier({"NOTIFY_SOCKET": notify.address}),
    )
    runner = threading.Thread(target=service.run, name="service-under-test")
    runner.start()
    try:
        assert wait_until(lambda: any(a.startswith("camera lost") for a in service.alarms), 10)
        address = loaded.config.service.metrics_address
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert "anpr_camera_frame_age_seconds" in metrics
        assert 'anpr_uplink_resent_total{uplink="police"}' in metrics
        assert 'anpr_uplink_bad_messages_total{uplink="police"}' in metrics
        assert 'anpr_alarm{line="camera lost' in metrics
        assert (service.snapshot().camera_frame_age_s or 0) >= 1
        capsys.readouterr()
        assert main(["status", "--config", str(config)]) == 1  # an alarm is up
        console = capsys.readouterr().out
        assert "last frame" in console
        assert "camera lost: no frame for" in console
        # The idle beats go on, but past lost_restart_s the watchdog pings stop.
        assert wait_until(
            lambda: any(x.startswith("STATUS=stalled: camera") for x in notify.lines()), 10
        )
        stalled = next(
            i for i, x in enumerate(notify.lines()) if x.startswith("STATUS=stalled: camera")
        )
        assert not wait_until(lambda: "WATCHDOG=1" in notify.lines()[stalled:], 1.0)
    finally:
        service.request_stop()
        runner.join(30)
        notify.close()
