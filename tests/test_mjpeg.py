"""The synthetic camera over HTTP, read the way the agent reads a network camera (OpenCV)."""

from __future__ import annotations

import time
import urllib.request
from typing import TYPE_CHECKING

import cv2
import numpy as np

from agent.core.clock import SystemClock
from agent.recognition.capture import Capture, VideoSource
from simulator.camera import SceneConfig, read_truth
from simulator.camera.mjpeg import MjpegCamera

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

SMALL = {"width": 640, "height": 360, "rate_per_min": 60.0}


def _read_frames(url: str, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    assert cap.isOpened()
    frames = []
    try:
        for _ in range(n):
            ok, img = cap.read()
            assert ok
            frames.append(img)
    finally:
        cap.release()
    return frames


def test_opencv_reads_the_stream_and_again_after_a_camera_restart(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    camera = MjpegCamera(SceneConfig(seed=1, **SMALL), truth_path=truth)  # type: ignore[arg-type]
    camera.start()
    port = camera.port
    cap = cv2.VideoCapture(camera.url, cv2.CAP_FFMPEG)
    assert cap.isOpened()
    for _ in range(10):
        ok, img = cap.read()
        assert ok
        assert img.shape == (360, 640, 3)
        assert float(img.std()) > 5  # a picture, not a blank frame
    # The camera goes away: the open capture stops delivering frames.
    camera.stop()
    failed = False
    for _ in range(300):  # whatever was buffered, then the end of the stream
        ok, _img = cap.read()
        if not ok:
            failed = True
            break
    assert failed
    cap.release()
    # The camera comes back on the same port: a reopened capture reads again.
    with MjpegCamera(SceneConfig(seed=2, **SMALL), port=port, truth_path=truth) as again:  # type: ignore[arg-type]
        frames = _read_frames(again.url, 5)
        assert all(f.shape == (360, 640, 3) for f in frames)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/snapshot.jpg", timeout=5) as resp:
            jpeg = resp.read()
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None
        assert image.shape == (360, 640, 3)
    scenes = [x for x in read_truth(truth) if x["kind"] == "scene"]
    assert [s["seed"] for s in scenes] == [1, 2]  # each camera run appends its own scene


def _wait(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_the_agents_capture_reconnects_when_the_camera_restarts() -> None:
    camera = MjpegCamera(SceneConfig(seed=4, **SMALL))  # type: ignore[arg-type]
    camera.start()
    port = camera.port
    capture = Capture(VideoSource(camera.url), SystemClock(), backoff_min_s=0.1, backoff_max_s=0.5)
    capture.start()
    try:
        assert _wait(lambda: capture.stats.frames >= 10)
        frame = capture.frames.get(timeout=5)
        assert frame.image.shape == (360, 640, 3)
        camera.stop()
        assert _wait(lambda: not capture.stats.connected)
        seen = capture.stats.frames
        with MjpegCamera(SceneConfig(seed=5, **SMALL), port=port):  # type: ignore[arg-type]
            assert _wait(lambda: capture.stats.reconnects >= 1 and capture.stats.frames > seen + 10)
    finally:
        capture.stop()


def test_a_camera_that_waits_for_its_first_client_starts_its_scene_then(tmp_path: Path) -> None:
    # The demo's agent needs seconds to load its models: a scene that ran meanwhile
    # would hold vehicles (seed 1's first one is gone after 1 s) it could never see.
    truth = tmp_path / "truth.jsonl"
    camera = MjpegCamera(
        SceneConfig(seed=1, **SMALL),  # type: ignore[arg-type]
        truth_path=truth,
        seconds=2.0,
        wait_for_client=True,
    )
    camera.start()
    try:
        time.sleep(1.0)
        assert camera.frames_sent == 0
        assert camera.scene is not None
        assert camera.scene.index == 0  # nothing happened in the scene yet
        connected_ms = time.time() * 1000
        frames = _read_frames(camera.url, 5)
        assert all(f.shape == (360, 640, 3) for f in frames)
        assert camera.wait(30)
    finally:
        camera.stop()
    lines = list(read_truth(truth))
    scene = next(x for x in lines if x["kind"] == "scene")
    assert scene["start_wall_ms"] >= connected_ms - 20
    first = min(x["wall_ms"] for x in lines if x["kind"] == "frame")
    assert first >= connected_ms - 20
