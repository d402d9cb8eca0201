"""The synthetic camera as a live MJPEG-over-HTTP stream, like an IP camera's.

``GET /stream.mjpg`` (also ``/`` and ``/video``) answers
``multipart/x-mixed-replace`` with one JPEG part per frame, which OpenCV's
FFmpeg backend reads with ``cv2.VideoCapture("http://host:port/stream.mjpg")``;
``GET /snapshot.jpg`` answers the latest frame. The camera renders in real
time whether or not anyone watches (truth stays continuous) — from its start,
or, with ``wait_for_client``, from the moment its first stream client
connects, so the truth holds no vehicle the reader could not have seen (the
demo's agent takes a few seconds to load its models); a frame that
would be late is simulated without drawing and not sent, so the stream stays
live on a busy machine. ``stop()`` closes every client connection, so a reader
sees the camera go away; a new ``MjpegCamera`` on the same port comes back.
"""

from __future__ import annotations

import contextlib
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Self

import cv2

from simulator.camera.scene import Scene, SceneConfig
from simulator.camera.truth import TruthWriter

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

__all__ = ["BOUNDARY", "MjpegCamera"]

BOUNDARY = "anprsimframe"
_PATHS = ("/", "/stream.mjpg", "/video")
_MAX_LATE_S = 0.25  # later than this, a frame is simulated but neither drawn nor sent


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    camera: MjpegCamera


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        del format, args  # quiet: the camera is not a web server to audit

    def do_GET(self) -> None:
        camera = self.server.camera
        path = self.path.split("?", 1)[0]
        if path == "/snapshot.jpg":
            _, jpeg = camera.wait_frame(-1, 5.0)
            if jpeg is None:
                self.send_error(HTTPStatus.SERVICE_UNAVAILABLE)
                return
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(jpeg)))
            self.end_headers()
            self.wfile.write(jpeg)
            return
        if path not in _PATHS:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        camera.client_arrived.set()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache, no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        seq = -1
        with contextlib.suppress(OSError):
            while True:
                seq, jpeg = camera.wait_frame(seq, 1.0)
                if camera.stopped:
                    return
                if jpeg is None:
                    continue
                head = (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n"
                ).encode("ascii")
                self.wfile.write(head + jpeg + b"\r\n")
                self.wfile.flush()


class MjpegCamera:
    """A scene rendered in real time and served over HTTP. Start/stop, or use as a context."""

    def __init__(  # noqa: PLR0913 - a camera's knobs
        self,
        cfg: SceneConfig,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        quality: int = 85,
        truth_path: Path | None = None,
        truth_frames: bool = True,
        seconds: float | None = None,
        wait_for_client: bool = False,
    ) -> None:
        self._cfg = cfg
        self._quality = quality
        self._truth_path = truth_path
        self._truth_frames = truth_frames
        self._seconds = seconds
        self._wait_for_client = wait_for_client
        self.client_arrived = threading.Event()  # a stream client connected (not a snapshot)
        self._server = _Server((host, port), _Handler, bind_and_activate=True)
        self._server.camera = self
        self.host, self.port = host, int(self._server.server_address[1])
        self._cond = threading.Condition()
        self._seq = -1
        self._jpeg: bytes | None = None
        self._stop = threading.Event()
        self.frames_sent = 0
        self.frames_skipped = 0
        self.scene: Scene | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """The stream's URL."""
        return f"http://{self.host}:{self.port}/stream.mjpg"

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    def start(self) -> None:
        """Start rendering and serving."""
        render = threading.Thread(target=self._render, name="sim-camera", daemon=True)
        serve = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._threads = [render, serve]
        render.start()
        serve.start()

    def stop(self) -> None:
        """Stop rendering, close every client and the listening socket."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(5)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the camera stopped (``seconds`` elapsed or :meth:`stop`)."""
        return self._stop.wait(timeout)

    def wait_frame(self, after: int, timeout: float) -> tuple[int, bytes | None]:
        """The first frame newer than ``after`` (its seq and JPEG), waiting up to ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after or self._stop.is_set(), timeout)
            return self._seq, self._jpeg if self._seq > after else None

    def _await_client(self) -> bool:
        """With ``wait_for_client``, wait for the first stream client; False if stopped first."""
        while self._wait_for_client and not self.client_arrived.wait(0.05):
            if self._stop.is_set():
                return False
        return True

    def _render(self) -> None:
        cfg = self._cfg
        scene = self.scene = Scene(cfg)
        if not self._await_client():
            return
        if cfg.start_wall_ms is None:
            scene.start_now()  # after building the scene, so frame 0 is not late already
        t0 = time.monotonic()
        writer = (
            TruthWriter(self._truth_path, scene.header(), frames=self._truth_frames)
            if self._truth_path
            else None
        )
        last = None if self._seconds is None else round(self._seconds * cfg.fps)
        params = [cv2.IMWRITE_JPEG_QUALITY, self._quality]
        try:
            while not self._stop.is_set() and (last is None or scene.index < last):
                due = t0 + scene.index / cfg.fps
                late = time.monotonic() - due
                if late < 0:
                    self._stop.wait(-late)
                    continue
                draw = late < _MAX_LATE_S
                sim = scene.step(draw=draw, mono_s=due)
                if writer is not None:
                    if draw:
                        writer.frame(sim.truth)
                    writer.passes(sim.passes)
                if not draw:
                    self.frames_skipped += 1
                    continue
                ok, buf = cv2.imencode(".jpg", sim.frame.image, params)
                if not ok:
                    continue
                with self._cond:
                    self._seq = sim.frame.index
                    self._jpeg = buf.tobytes()
                    self._cond.notify_all()
                self.frames_sent += 1
        finally:
            if writer is not None:
                writer.passes(scene.finish())
                writer.close()
            self._stop.set()
            with self._cond:
                self._cond.notify_all()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
