"""The synthetic camera: ground truth that lands on the plates, determinism, outputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from simulator.camera import FrameSource, PassTruth, Scene, SceneConfig, read_truth
from simulator.cli import main as sim_main

REPO = Path(__file__).resolve().parents[1]
BUSY = {"rate_per_min": 40.0, "start_wall_ms": 1_800_000_000_000}


def _rectify(image: np.ndarray, corners: object, w: int, h: int) -> np.ndarray:
    src = np.array(corners, np.float32)
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    hom = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(image, hom, (w, h), flags=cv2.INTER_AREA)
    return cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(np.float32)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-9))


def test_plate_corners_land_on_the_drawn_plate() -> None:
    scene = Scene(SceneConfig(seed=5, blur=0.0, **BUSY))  # type: ignore[arg-type]
    checked = 0
    for _ in range(250):
        sim = scene.step()
        for v in sim.truth.vehicles:
            if v.corners is None or v.plate_visible < 1.0 or v.plate_px < 70:
                continue
            plate = scene.plate_image(v.vehicle)
            assert plate is not None
            h, w = plate.shape[:2]
            flat = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY).astype(np.float32)
            seen = _rectify(sim.frame.image, v.corners, w, h)
            road = _rectify(scene.background, v.corners, w, h)
            # The box holds the plate: it matches the drawn plate and not the empty road.
            assert _ncc(seen, flat) > 0.8
            assert float(np.abs(seen - road).mean()) > 15
            # One plate height lower is bumper, not plate.
            drop = 1.5 * (v.corners[3][1] - v.corners[0][1])
            lower = np.array(v.corners) + np.array([0.0, drop])
            assert _ncc(_rectify(sim.frame.image, lower, w, h), flat) < 0.6
            checked += 1
    assert checked >= 20


def _digest(seed: int, frames: int = 40) -> tuple[str, list[dict[str, object]]]:
    scene = Scene(SceneConfig(seed=seed, light="dusk", rain=0.5, **BUSY))  # type: ignore[arg-type]
    h = hashlib.sha256()
    truth: list[dict[str, object]] = []
    for _ in range(frames):
        sim = scene.step()
        h.update(sim.frame.image.tobytes())
        truth.append(sim.truth.to_json())
        truth += [p.to_json() for p in sim.passes]
    return h.hexdigest(), truth


def test_a_tow_bar_leaves_the_characters_of_a_legible_plate_uncovered() -> None:
    from simulator.camera import sprites  # noqa: PLC0415 - the private drawing helpers

    img = np.full((400, 600, 3), 255, np.uint8)
    quad = np.array([[100.0, 100.0], [500.0, 100.0], [500.0, 200.0], [100.0, 200.0]])
    sprites._occlude(sprites._Painter(img, 1.0), quad, "towbar")
    ink = img.min(axis=2) < 128
    # Characters span up to 86 % of the plate height from its top edge.
    assert not ink[100:181].any()  # the ball may clip their bottom 5 % of the plate height
    assert not ink[181:186, :280].any()  # ... of the middle ones only
    assert not ink[181:186, 320:].any()
    assert ink[195:200, 100:500].all()  # the bar is there, across the lower edge
    assert ink[185:195, 300].all()  # the ball too


def test_same_seed_same_frames_and_truth_other_seed_differs() -> None:
    assert _digest(11) == _digest(11)
    assert _digest(11)[0] != _digest(12)[0]


def test_passes_cover_lanes_and_directions_with_consistent_times(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    cfg = SceneConfig(seed=3, lanes=4, directions="AARR", light="night", min_plate_px=36, **BUSY)  # type: ignore[arg-type]
    source = FrameSource(cfg, seconds=20, truth_path=truth, truth_frames=False)
    zones = {
        lane: (np.array(poly) * (1280, 720)).astype(np.float32)
        for lane, poly in source.scene.lane_zones()
    }
    frames = inside = 0
    for sim in source:
        frames += 1
        for v in sim.truth.vehicles:
            if v.corners is not None and v.plate_visible == 1.0:
                centre = tuple(float(c) for c in np.mean(v.corners, axis=0))
                # The lane zones in the truth header put each plate in its own lane.
                assert cv2.pointPolygonTest(zones[v.lane], centre, measureDist=False) >= 0
                inside += 1
    assert frames == 500
    assert inside > 100
    lines = list(read_truth(truth))
    assert lines[0]["kind"] == "scene"
    assert lines[0]["directions"] == ["approaching", "approaching", "receding", "receding"]
    assert [z["lane"] for z in lines[0]["lane_zones"]] == [1, 2, 3, 4]
    passes = [PassTruth.from_json(x) for x in lines if x["kind"] == "pass"]
    assert passes == source.passes
    assert {p.lane for p in passes} == {1, 2, 3, 4}
    for p in passes:
        assert p.direction == ("approaching" if p.lane <= 2 else "receding")
        assert p.enter_ms <= p.exit_ms
        assert p.readable == (
            p.text is not None and p.occluder != "bikerack" and p.plate_frames >= 3
        )
    complete = [p for p in passes if p.complete]
    assert len(complete) >= 6
    # Four lanes in 1280 px leave plates of 35-65 px: only some passes are readable.
    assert sum(p.readable for p in complete) >= 3
    assert all(not p.readable for p in passes if p.occluder == "bikerack")


def test_render_writes_a_video_that_opencv_reads_and_truth_beside_it(tmp_path: Path) -> None:
    out = tmp_path / "clip.avi"
    args = ["render", "--out", str(out), "--seconds", "2", "--width", "320", "--height", "180"]
    assert sim_main([*args, "--seed", "4", "--rate", "60", "--json"]) == 0
    cap = cv2.VideoCapture(str(out))
    count = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        assert img.shape == (180, 320, 3)
        count += 1
    cap.release()
    assert count == 50
    lines = [json.loads(x) for x in (tmp_path / "clip.truth.jsonl").read_text().splitlines()]
    assert lines[0]["width"] == 320
    assert sum(x["kind"] == "frame" for x in lines) == 50


def test_the_reader_oracle_reads_true_plate_boxes_when_a_reader_model_is_present() -> None:
    card = REPO / "agent" / "recognition" / "models" / "reader.card.json"
    if not card.is_file():
        pytest.skip("no reader model in models/ (it is trained, not downloaded)")
    from agent.recognition.reader import PlateReader  # noqa: PLC0415 - only with a model
    from simulator.camera.oracle import oracle_reads  # noqa: PLC0415

    result = oracle_reads(PlateReader(card), SceneConfig(seed=5, **BUSY), 6.0)  # type: ignore[arg-type]
    assert result["plate_frames"]
    assert 0.0 <= result["frame_exact_rate"] <= 1.0  # type: ignore[operator]
    assert result["readable_passes"] >= result["pass_exact"]  # type: ignore[operator]
