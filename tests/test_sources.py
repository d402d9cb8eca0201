"""Camera sources: frames flow, a lost camera is reconnected, a slow pipeline drops the oldest."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import cv2
import numpy as np
from uplink_rig import wait_until

from agent.core.clock import SystemClock
from agent.recognition.capture import (
    Capture,
    DirectorySource,
    IteratorSource,
    SourceError,
    VideoSource,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import pytest


def _image(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


def _drain(capture: Capture) -> list[int]:
    values = []
    while not capture.frames.empty():
        values.append(int(capture.frames.get_nowait().image[0, 0, 0]))
    return values


def test_directory_source_skips_a_corrupt_image_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), _image(10 * i))
    (tmp_path / "frame2b.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    source = DirectorySource(tmp_path)
    capture = Capture(source, SystemClock(), queue_size=10, reconnect_at_end=False)
    with caplog.at_level(logging.WARNING, logger="anpr.capture"):
        capture.start()
        assert capture.ended.wait(10)
    assert _drain(capture) == [0, 10, 20, 30, 40]
    assert source.skipped == 1
    assert any("frame2b.jpg" in r.getMessage() for r in caplog.records)


class FlakyCamera:
    """A camera that is away at first, then streams, then drops out, then comes back."""

    def __init__(self) -> None:
        self.name = "flaky"
        self.opens = 0
        self._left = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens <= 2 or self.opens > 4:
            raise SourceError("camera not reachable")
        self._left = 3

    def grab(self) -> np.ndarray | None:
        if self._left == 0:
            return None
        self._left -= 1
        return _image(self.opens)

    def close(self) -> None:
        pass


def test_a_camera_that_disappears_is_reconnected() -> None:
    camera = FlakyCamera()
    capture = Capture(camera, SystemClock(), queue_size=100, backoff_min_s=0.01, backoff_max_s=0.05)
    capture.start()
    try:
        assert wait_until(lambda: capture.stats.frames >= 6 and camera.opens >= 5, 10)
    finally:
        capture.stop()
    assert capture.stats.reconnects >= 2
    assert _drain(capture) == [3, 3, 3, 4, 4, 4]


def test_a_slow_pipeline_drops_the_oldest_frames_and_counts_them() -> None:
    def ten() -> Iterator[np.ndarray]:
        return iter([_image(i) for i in range(10)])

    capture = Capture(
        IteratorSource("sim", ten), SystemClock(), queue_size=2, reconnect_at_end=False
    )
    capture.start()
    assert capture.ended.wait(10)
    assert capture.stats.frames == 10
    assert capture.stats.dropped == 8
    assert _drain(capture) == [8, 9]


def test_video_file_source_reads_frames(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    for i in range(6):
        writer.write(_image(40 * i))
    writer.release()
    source = VideoSource(str(path))
    source.open()
    frames = []
    while (image := source.grab()) is not None:
        frames.append(image)
    source.close()
    assert len(frames) == 6
    assert frames[0].shape == (48, 64, 3)
