"""``anpr-sim render`` (video file + truth, or a speed measurement) and ``anpr-sim camera`` (MJPEG).

``render --out clip.mp4`` writes the clip and ``clip.truth.jsonl`` beside it;
without ``--out`` it renders and JPEG-encodes in memory and reports frames
per second (the camera's own benchmark; JSON with ``--json``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from simulator.camera.mjpeg import MjpegCamera
from simulator.camera.scene import Scene, SceneConfig
from simulator.camera.truth import TruthWriter

if TYPE_CHECKING:
    import argparse

__all__ = ["add_parsers", "parse_weights", "scene_config", "scene_options"]


def parse_weights(text: str) -> dict[str, float]:
    """``"B=80,NL=7,F=5"`` as weights."""
    out: dict[str, float] = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if not name.strip() or not value:
            raise ValueError(f"expected NAME=WEIGHT, got {item!r}")
        out[name.strip()] = float(value)
    return out


def scene_config(args: argparse.Namespace) -> SceneConfig:
    """The scene the scene options describe."""
    extra: dict[str, object] = {}
    if args.countries:
        extra["countries"] = parse_weights(args.countries)
    return SceneConfig(
        seed=args.seed,
        width=args.width,
        height=args.height,
        fps=args.fps,
        lanes=args.lanes,
        directions=args.directions,
        rate_per_min=args.rate,
        speed_kmh=args.speed,
        light="night" if args.night else args.light,
        rain=args.rain,
        blur=args.blur,
        no_plate_rate=args.no_plate_rate,
        occlusion_rate=args.occlusion_rate,
        focal_px=args.focal,
        **extra,  # type: ignore[arg-type]
    )


def scene_options(p: argparse.ArgumentParser) -> None:
    """Add the options that describe a scene (see :func:`scene_config`)."""
    g = p.add_argument_group("scene")
    g.add_argument("--seed", type=int, default=0, help="same seed, same frames and truth")
    g.add_argument("--lanes", type=int, default=1, choices=(1, 2, 3, 4))
    g.add_argument("--directions", help="per lane A (approaching) or R (receding), e.g. AR")
    g.add_argument("--rate", type=float, default=20.0, help="vehicles per minute, all lanes")
    g.add_argument("--speed", type=float, default=50.0, help="mean speed, km/h")
    g.add_argument("--countries", help="plate country mix, e.g. B=80,NL=7,F=5,D=4,L=2,EU=2")
    g.add_argument("--light", choices=("day", "dusk", "night"), default="day")
    g.add_argument("--night", action="store_true", help="same as --light night (IR)")
    g.add_argument("--rain", type=float, default=0.0, help="0..1")
    g.add_argument("--blur", type=float, default=1.0, help="motion blur (shutter) multiplier")
    g.add_argument("--no-plate-rate", type=float, default=0.02)
    g.add_argument("--occlusion-rate", type=float, default=0.04)
    g.add_argument("--width", type=int, default=1280)
    g.add_argument("--height", type=int, default=720)
    g.add_argument("--fps", type=float, default=25.0)
    g.add_argument(
        "--focal", type=float, help="focal length in px (default: all lanes in view, 1200-4000)"
    )
    g.add_argument("--no-frame-truth", action="store_true", help="write pass lines only")


def _report(result: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")


def _cmd_render(args: argparse.Namespace) -> int:
    cfg = scene_config(args)
    if args.start_ms is not None:
        cfg = dataclasses.replace(cfg, start_wall_ms=args.start_ms)
    scene = Scene(cfg)
    writer = None
    video = None
    truth_path = None
    if args.out is not None:
        truth_path = args.truth or args.out.with_suffix(".truth.jsonl")
        truth_path.unlink(missing_ok=True)
        writer = TruthWriter(truth_path, scene.header(), frames=not args.no_frame_truth)
        fourcc = cv2.VideoWriter.fourcc(*("MJPG" if args.out.suffix == ".avi" else "mp4v"))
        video = cv2.VideoWriter(str(args.out), fourcc, cfg.fps, (cfg.width, cfg.height))
        if not video.isOpened():
            print(f"anpr-sim: cannot write video {args.out}", file=sys.stderr)
            return 2
    frames = round(args.seconds * cfg.fps)
    passes = readable = 0
    render_s = output_s = 0.0
    params = [cv2.IMWRITE_JPEG_QUALITY, 85]
    started = time.perf_counter()
    for _ in range(frames):
        t = time.perf_counter()
        sim = scene.step()
        t1 = time.perf_counter()
        if video is not None and writer is not None:
            video.write(sim.frame.image)
            writer.frame(sim.truth)
            writer.passes(sim.passes)
        else:
            cv2.imencode(".jpg", sim.frame.image, params)
        output_s += time.perf_counter() - t1
        render_s += t1 - t
        passes += len(sim.passes)
        readable += sum(p.readable for p in sim.passes)
    wall = time.perf_counter() - started
    if video is not None and writer is not None:
        video.release()
        writer.passes(scene.finish())
        writer.close()
    _report(
        {
            "frames": frames,
            "size": f"{cfg.width}x{cfg.height}",
            "render_fps": round(frames / max(render_s, 1e-9), 1),
            "output": "video" if video is not None else "jpeg (in memory)",
            "render_and_output_fps": round(frames / max(wall, 1e-9), 1),
            "passes": passes,
            "readable_passes": readable,
            "video": str(args.out) if args.out else None,
            "truth": str(truth_path) if truth_path else None,
        },
        args.json,
    )
    return 0


def _cmd_camera(args: argparse.Namespace) -> int:
    cfg = scene_config(args)
    if args.events:  # a camera that reads plates itself and posts events
        from simulator.vendordemo import run_event_camera  # noqa: PLC0415

        return run_event_camera(args, cfg)
    camera = MjpegCamera(
        cfg,
        host=args.host,
        port=args.port,
        quality=args.quality,
        truth_path=args.truth,
        truth_frames=not args.no_frame_truth,
        seconds=args.seconds,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    camera.start()
    print(f"synthetic camera at {camera.url}", flush=True)
    if args.truth:
        print(f"truth: {args.truth}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        while not stop.is_set() and not camera.wait(0.2):
            pass
    camera.stop()
    print(f"frames sent {camera.frames_sent}, late frames skipped {camera.frames_skipped}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``render`` and ``camera``."""
    render = sub.add_parser("render", help="render the synthetic camera to a video (+ truth)")
    render.add_argument("--out", type=Path, help="video file (.mp4, or .avi for MJPG)")
    render.add_argument("--truth", type=Path, help="truth JSONL (default: beside --out)")
    render.add_argument("--seconds", type=float, default=10.0)
    render.add_argument("--start-ms", type=int, help="wall-clock ms of the first frame")
    render.add_argument("--json", action="store_true", help="one JSON object")
    scene_options(render)
    render.set_defaults(func=_cmd_render)

    camera = sub.add_parser("camera", help="serve the synthetic camera as MJPEG over HTTP")
    camera.add_argument("--port", type=int, default=8554)
    camera.add_argument("--host", default="127.0.0.1")
    camera.add_argument("--quality", type=int, default=85, help="JPEG quality")
    camera.add_argument("--truth", type=Path, help="append the truth here (JSONL)")
    camera.add_argument("--seconds", type=float, help="stop after this long (default: never)")
    scene_options(camera)
    from simulator.vendordemo import add_event_camera_options  # noqa: PLC0415 - camera <- intake

    add_event_camera_options(camera)
    camera.set_defaults(func=_cmd_camera)
