"""The shipped detector and the full-frame pipeline, on synthetic frames made on the fly.

A plate is rendered, posed and pasted into a cluttered 1280x720 frame; the
detector must find it (IoU >= 0.5) and the pipeline must read it. Frames with no
plate must yield nothing; a short synthetic traffic sequence must give one read
per vehicle; a corrupt image is reported and the rest are read; a tampered model
is refused.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest
from conftest import read_cli

from agent.cli.main import main as agent_main
from agent.config.schema import RecognitionConfig
from agent.core.clock import SystemClock
from agent.core.events import PlateBox, PlateRead, PlateText, Sighting, UnreadPass
from agent.core.geometry import iou
from agent.recognition.capture import IteratorSource
from agent.recognition.detector import (
    DetectorError,
    PlateDetector,
    decode,
    letterbox,
    load_detector_card,
)
from agent.recognition.pipeline import Pipeline, build_recognizer
from agent.recognition.reader import PlateReader, ReaderError
from agent.recognition.recognizer import (
    Recognizer,
    RecognizerSettings,
    _cut,
    box_crop,
    plausibility,
    rectify,
)
from simulator.evalpipeline import eval_photos, eval_video
from simulator.plates import draw_plate, random_spec

if TYPE_CHECKING:
    from collections.abc import Callable

REPO = Path(__file__).resolve().parents[1]
DET_CARD = REPO / "agent" / "recognition" / "models" / "detector.card.json"
READ_CARD = REPO / "agent" / "recognition" / "models" / "reader.card.json"
SCREEN_CARD = REPO / "agent" / "recognition" / "models" / "screen.card.json"
needs_model = pytest.mark.skipif(
    not (DET_CARD.is_file() and READ_CARD.is_file()), reason="detector or reader not shipped"
)


def _frame_with_plate(
    seed: int, width: int = 220, x0: float = 520.0, country: str = "B"
) -> tuple[np.ndarray, np.ndarray, str]:
    """A 1280x720 frame: textured road, a car-like body and one posed plate."""
    rng = np.random.default_rng(seed)
    frame = np.empty((720, 1280, 3), np.uint8)
    frame[:] = rng.integers(60, 120, 3)
    noise = rng.normal(0, 12, (90, 160, 3)).astype(np.float32)
    frame = np.clip(frame + cv2.resize(noise, (1280, 720)), 0, 255).astype(np.uint8)
    spec = random_spec(rng, country)
    flat = draw_plate(spec, rng, 0.2)
    src = np.array(flat.corners, np.float32)
    scale = width / float(src[1, 0] - src[0, 0])
    h = float(src[3, 1] - src[0, 1]) * scale
    y0 = 400.0
    dst = np.array(
        [[x0, y0 + 6], [x0 + width, y0], [x0 + width, y0 + h], [x0, y0 + h + 6]], np.float32
    )
    body = (round(x0 - 140), 250, round(x0 + width + 160), 520)
    cv2.rectangle(frame, body[:2], body[2:], (40, 40, 140), -1)  # car body
    hom = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(flat.image, hom, (1280, 720), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.ones(flat.image.shape[:2], np.float32), hom, (1280, 720))
    out = frame * (1 - mask[..., None]) + warped * mask[..., None]
    return out.astype(np.uint8), dst, spec.text


@pytest.fixture(scope="module")
def detector() -> PlateDetector:
    return PlateDetector(DET_CARD, threads=1, threshold=0.3)


@pytest.fixture(scope="module")
def recognizer(detector: PlateDetector) -> Recognizer:
    reader = PlateReader(READ_CARD, threads=1, countries=("B",), threshold=0.5)
    return Recognizer(detector, reader, RecognizerSettings(min_plate_width=40))


def test_decode_maps_a_peak_to_corners_in_frame_pixels() -> None:
    maps = np.zeros((9, 72, 128), np.float32)
    maps[0, 10, 20] = 0.9
    maps[0, 11, 20] = 0.5  # a neighbour of the peak is not a second plate
    maps[1:9, 10, 20] = np.array([-1, -0.25, 1, -0.25, 1, 0.25, -1, 0.25], np.float32)
    boxes = decode(maps, 0.3, stride=4, offset_unit=32.0, scale=0.5)
    assert len(boxes) == 1
    (x0, y0), (x1, _), (_, y2), _ = boxes[0].corners
    assert (x0, y0, x1, y2) == pytest.approx((100.0, 68.0, 228.0, 100.0))
    assert boxes[0].score == pytest.approx(0.9)


def test_letterbox_keeps_the_aspect_and_pads_to_the_multiple() -> None:
    lb = letterbox(np.zeros((720, 1280, 3), np.uint8), 512, 32, 127.5, 127.5)
    assert lb.tensor.shape == (1, 1, 288, 512)
    assert lb.scale == pytest.approx(0.4)
    odd = letterbox(np.zeros((500, 333), np.uint8), 512, 32, 127.5, 127.5)
    assert odd.tensor.shape == (1, 1, 512, 352)


def test_rectify_makes_an_upright_crop_of_the_plate_aspect() -> None:
    image = np.zeros((400, 600, 3), np.uint8)
    box = PlateBox(((100.0, 120.0), (320.0, 100.0), (322.0, 150.0), (102.0, 170.0)), 0.9)
    crop = rectify(image, box)
    assert 3.5 < crop.shape[1] / crop.shape[0] < 4.5


@needs_model
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_frame_with_one_plate_yields_its_box(detector: PlateDetector, seed: int) -> None:
    frame, quad, _ = _frame_with_plate(seed)
    boxes = detector.detect(frame)
    truth = (*quad.min(0), *(quad.max(0) - quad.min(0)))
    assert boxes, "no plate found"
    assert iou(boxes[0].xywh, truth) >= 0.5


@needs_model
def test_a_frame_with_one_plate_reads_as_well_as_its_true_crop(recognizer: Recognizer) -> None:
    # Honest while the reader is still training: detection and rectification must not
    # lose reads that the reader makes on a crop cut at the true corners.
    pipeline_exact = truth_exact = 0
    for seed in range(8):
        frame, quad, text = _frame_with_plate(seed)
        got = [s.text.text for s in recognizer.recognise(frame) if s.text is not None]
        pipeline_exact += got[:1] == [text]
        true_crop = rectify(frame, PlateBox(tuple(map(tuple, quad.tolist())), 1.0))  # type: ignore[arg-type]
        read = recognizer.reader.read(true_crop)
        truth_exact += read is not None and read.text == text
    assert pipeline_exact >= truth_exact - 1, f"{pipeline_exact} vs {truth_exact} of 8"


def _small_blurred_plate(
    seed: int, width: int, blur: float, noise: float
) -> tuple[np.ndarray, str]:
    """A frame with one small French plate, blurred and noisy, and its text."""
    frame, _, text = _frame_with_plate(seed, width=width, country="F")
    frame = cv2.GaussianBlur(frame, (0, 0), blur)
    grain = np.random.default_rng(seed).normal(0, noise, frame.shape)
    return np.clip(frame + grain, 0, 255).astype(np.uint8), text


def _count_fused(reader: PlateReader, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Spy on our reader's ``read_fused``: the number of cuts of each call."""
    calls: list[int] = []
    read_fused = reader.read_fused

    def spy(crops: list[list[np.ndarray]]) -> tuple[PlateText, int] | None:
        calls.append(len(crops))
        return read_fused(crops)

    monkeypatch.setattr(reader, "read_fused", spy)
    return calls


def _exact_with_and_without(
    recognizer: Callable[[bool], Recognizer], width: int, blur: float, noise: float
) -> dict[bool, int]:
    """Plates read exactly out of 12 small blurred French ones, with the option off and on."""
    exact = {False: 0, True: 0}
    for seed in range(12):
        frame, text = _small_blurred_plate(seed, width=width, blur=blur, noise=noise)
        for on in (False, True):
            exact[on] += _top_text(recognizer(on), frame) == text
    return exact


def _top_text(recognizer: Recognizer, frame: np.ndarray) -> str | None:
    """The text of the most plausible plate read in ``frame``."""
    plates = [s for s in recognizer.recognise(frame) if s.text is not None]
    best = max(plates, key=plausibility, default=None)  # the first of equals, as sorted() keeps
    return best.text.text if best is not None and best.text is not None else None


@needs_model
def test_fused_cuts_read_blurred_small_plates_at_least_as_well(
    detector: PlateDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small, blurred, noisy French plates: where a box and its refined box read
    # differently, the fused read (four cuts weighed together) must not lose a plate
    # the surer of the two reads got right.
    reader = PlateReader(READ_CARD, threads=1, countries=("F",), threshold=0.5)
    fused_calls = _count_fused(reader, monkeypatch)
    exact = _exact_with_and_without(
        lambda fuse: Recognizer(
            detector, reader, RecognizerSettings(min_plate_width=40, fuse=fuse)
        ),
        width=75,
        blur=1.2,
        noise=10,
    )
    assert fused_calls, "no box and refined box disagreed: the fused path was not exercised"
    assert set(fused_calls) == {4}  # the box, the refined box, and the refined box cut two ways
    assert exact[True] >= exact[False], exact


@needs_model
def test_voting_the_box_crop_reads_small_plates_at_least_as_well(
    detector: PlateDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small, blurred, noisy, sheared plates whose corners are hard to fit: each plate
    # read from its rectified crop and its upright box crop together must not lose a
    # plate the rectified crop alone reads right, and only plates pay for it.
    reader = PlateReader(READ_CARD, threads=1, countries=("F",), threshold=0.5)
    voted = _count_fused(reader, monkeypatch)
    exact = _exact_with_and_without(
        lambda vote: Recognizer(
            detector, reader, RecognizerSettings(min_plate_width=40, vote_box=vote)
        ),
        width=80,
        blur=1.0,
        noise=8,
    )
    assert voted, "no plate was read: the vote was not exercised"
    assert set(voted) == {2}  # the rectified crop and the box crop
    assert exact[True] >= exact[False], exact
    voted.clear()
    empty = np.full((720, 1280, 3), 90, np.uint8)
    Recognizer(detector, reader, RecognizerSettings(vote_box=True)).recognise(empty)
    assert voted == []


@needs_model
def test_voting_the_screen_reads_small_plates_at_least_as_well(
    detector: PlateDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each read also weighs the screen's outputs of the same crop: two models that err
    # on different strokes. Every read becomes a vote of the reader's and the screen's
    # outputs (two cuts; four with the box crop voted too), and no plate the reader
    # alone reads right is lost.
    reader = PlateReader(READ_CARD, threads=1, countries=("F",), threshold=0.5)
    screen = PlateReader(SCREEN_CARD, threads=1)
    voted = _count_fused(reader, monkeypatch)
    exact = _exact_with_and_without(
        lambda vote: Recognizer(
            detector, reader, RecognizerSettings(min_plate_width=40, vote_screen=vote), screen
        ),
        width=80,
        blur=1.0,
        noise=8,
    )
    assert voted, "no plate was read: the vote was not exercised"
    assert set(voted) == {2}  # the reader's outputs and the screen's, of one crop
    assert exact[True] >= exact[False], exact
    voted.clear()
    frame, _ = _small_blurred_plate(0, width=80, blur=1.0, noise=8)
    settings = RecognizerSettings(min_plate_width=40, vote_screen=True, vote_box=True)
    Recognizer(detector, reader, settings, screen).recognise(frame)
    assert 4 in voted  # the rectified crop and the box crop, each read by both models


def test_a_screen_with_another_alphabet_cannot_be_voted(
    detector: PlateDetector, tmp_path: Path
) -> None:
    shutil.copy(SCREEN_CARD.parent / "screen.onnx", tmp_path / "screen.onnx")
    card = json.loads(SCREEN_CARD.read_text())
    card["alphabet"] = card["alphabet"][::-1]  # the same size, other classes
    (tmp_path / "screen.card.json").write_text(json.dumps(card))
    reader = PlateReader(READ_CARD, threads=1)
    other = PlateReader(tmp_path / "screen.card.json", threads=1)
    Recognizer(detector, reader, RecognizerSettings(), other)  # screening alone is fine
    with pytest.raises(ReaderError, match="alphabet or blank is not the reader's"):
        Recognizer(detector, reader, RecognizerSettings(vote_screen=True), other)


def test_a_box_crop_is_the_upright_box_with_a_margin_clipped_to_the_image() -> None:
    image = np.arange(100 * 200 * 3, dtype=np.uint32).reshape(100, 200, 3).astype(np.uint8)
    box = PlateBox(((50.0, 40.0), (150.0, 44.0), (148.0, 70.0), (52.0, 66.0)), 0.9)
    x, y, w, h = box.xywh
    crop = box_crop(image, box)
    assert crop.shape == (h + 2 * round(0.1 * h), w + 2 * round(0.1 * w), 3)
    assert np.array_equal(crop, image[y - 3 : y + h + 3, x - 10 : x + w + 10])
    edge = PlateBox(((-20.0, 90.0), (60.0, 90.0), (60.0, 120.0), (-20.0, 120.0)), 0.9)
    assert box_crop(image, edge).shape == (13, 68, 3)  # rows 87..99, columns 0..67: clipped


def test_a_cut_scales_a_box_along_the_plates_own_axes() -> None:
    box = PlateBox(((100.0, 50.0), (300.0, 50.0), (300.0, 100.0), (100.0, 100.0)), 0.9)
    want = [(90.0, 45.0), (310.0, 45.0), (310.0, 105.0), (90.0, 105.0)]
    assert np.allclose(_cut(box, 1.1, 1.2).corners, want)
    tilted = PlateBox(((0.0, 0.0), (200.0, 40.0), (190.0, 90.0), (-10.0, 50.0)), 0.9)  # sheared
    cut = np.array(_cut(tilted, 0.9, 0.8).corners)
    quad = np.array(tilted.corners)
    assert np.allclose(cut.mean(0), quad.mean(0))  # about the centre
    assert np.linalg.norm(cut[1] - cut[0]) == pytest.approx(0.9 * np.linalg.norm(quad[1] - quad[0]))
    assert np.linalg.norm(cut[3] - cut[0]) == pytest.approx(0.8 * np.linalg.norm(quad[3] - quad[0]))
    assert np.allclose(_cut(tilted, 1.0, 1.0).corners, tilted.corners)


@needs_model
def test_a_second_look_runs_only_when_no_read_fits_a_syntax(
    detector: PlateDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int | None] = []
    bars: list[float | None] = []
    detect = detector.detect

    def spy(
        image: np.ndarray, long_side: int | None = None, threshold: float | None = None
    ) -> list[PlateBox]:
        sizes.append(long_side)
        bars.append(threshold)
        return detect(image, long_side, threshold)

    monkeypatch.setattr(detector, "detect", spy)
    reader = PlateReader(READ_CARD, threads=1, countries=("B",), threshold=0.5)
    rec = Recognizer(detector, reader, RecognizerSettings(min_plate_width=40, second_look=768))
    frame, _, text = _frame_with_plate(1)
    assert [s.text.text for s in rec.recognise(frame) if s.text is not None][:1] == [text]
    assert sizes == [None]  # a valid read: no second search
    sizes.clear()
    bars.clear()
    empty = np.full((720, 1280, 3), 90, np.uint8)
    assert all(s.text is None for s in rec.recognise(empty))
    # Larger and smaller than the detector's own 512 px, each at half its bar.
    assert sizes == [None, 768, 384]
    half = detector.threshold * 0.5
    assert bars == [None, half, half]


@needs_model
@pytest.mark.parametrize("width", [80, 140, 220])
def test_a_plate_both_searches_find_is_one_sighting(detector: PlateDetector, width: int) -> None:
    # A Belgian plate under a French syntax never reads valid: the second look always runs.
    reader = PlateReader(READ_CARD, threads=1, countries=("F",), threshold=0.5)
    rec = Recognizer(detector, reader, RecognizerSettings(min_plate_width=40, second_look=768))
    frame, quad, _ = _frame_with_plate(2, width=width)
    truth = (*quad.min(0), *(quad.max(0) - quad.min(0)))
    on_plate = [s for s in rec.recognise(frame) if iou(s.box.xywh, truth) >= 0.3]
    assert len(on_plate) == 1


def test_the_shipped_screen_is_a_smaller_reader_whose_outputs_can_be_voted() -> None:
    # The screen reads every box, so it must be the cheaper model; the shipped config
    # votes its outputs with the reader's, so both must read the same classes.
    reader = json.loads(READ_CARD.read_text(encoding="utf-8"))
    screen = json.loads(SCREEN_CARD.read_text(encoding="utf-8"))
    assert (screen["alphabet"], screen["blank_index"]) == (
        reader["alphabet"],
        reader["blank_index"],
    )
    _, _, h, w = screen["input"]["shape"]
    _, _, rh, rw = reader["input"]["shape"]
    assert h * w <= rh * rw
    assert screen["quantization"]["of"]["sha256"]  # which float reader it was quantized from
    PlateReader(SCREEN_CARD, threads=1)  # the card contract holds (sha256, input spec)
    config = RecognitionConfig()
    assert config.screen
    assert config.vote_screen
    build_recognizer(config)  # the shipped models vote together without a ReaderError


@needs_model
def test_a_screened_recognizer_reads_what_the_reader_alone_reads(recognizer: Recognizer) -> None:
    screen = PlateReader(SCREEN_CARD, threads=1)
    screened = Recognizer(recognizer.detector, recognizer.reader, recognizer.settings, screen)
    reads = 0
    for seed in range(6):
        frame, _, _ = _frame_with_plate(seed)
        alone = [s.text for s in recognizer.recognise(frame)]
        both = [s.text for s in screened.recognise(frame)]
        assert both == alone, seed
        reads += sum(t is not None for t in alone)
    assert reads >= 4  # the frames hold readable plates, so the equality says something


@needs_model
def test_boxes_the_screen_rejects_never_reach_the_reader(
    recognizer: Recognizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = PlateReader(SCREEN_CARD, threads=1)
    screened = Recognizer(recognizer.detector, recognizer.reader, recognizer.settings, screen)
    frame, _, _ = _frame_with_plate(0)
    assert any(s.text is not None for s in screened.recognise(frame))
    # a bar no read can pass
    monkeypatch.setattr("agent.recognition.recognizer.SCREEN_MARGIN", -1.0)
    sightings = screened.recognise(frame)
    assert sightings  # the boxes are still reported, unread
    assert all(s.text is None for s in sightings)
    assert screen.threshold > 1.0


@needs_model
@pytest.mark.parametrize("kind", ["grey", "noise", "dark"])
def test_a_frame_without_plates_yields_nothing(recognizer: Recognizer, kind: str) -> None:
    rng = np.random.default_rng(5)
    frame = {
        "grey": np.full((720, 1280, 3), 128, np.uint8),
        "noise": rng.integers(0, 256, (720, 1280, 3)).astype(np.uint8),
        "dark": np.full((720, 1280, 3), 8, np.uint8),
    }[kind]
    assert [s for s in recognizer.recognise(frame) if s.text is not None] == []


class _Sink:
    def __init__(self) -> None:
        self.passes: list[PlateRead | UnreadPass] = []
        self.frames = 0

    @property
    def reads(self) -> list[PlateRead]:
        """The passes, every one of which must have been read (an unread one fails the test)."""
        reads = [p for p in self.passes if isinstance(p, PlateRead)]
        assert len(reads) == len(self.passes), self.passes
        return reads

    def read(self, read: PlateRead | UnreadPass) -> None:
        self.passes.append(read)

    def frame(self) -> None:
        self.frames += 1

    def dropped(self, frames: int = 1) -> None:
        pass

    def corrupt(self, frames: int = 1) -> None:
        pass

    def inference(self, ms: float) -> None:
        pass

    def idle(self) -> None:
        pass


def _moving_plate_frames(seeds: tuple[int, ...], steps: int = 6) -> list[np.ndarray]:
    """Vehicle k drives through lane k (far apart, so no track can take both)."""
    frames = []
    for lane, seed in enumerate(seeds):
        base, _, _ = _frame_with_plate(seed, x0=200.0 + 700.0 * lane)
        for k in range(steps):
            shift = np.array([[1, 0, 0], [0, 1, -30 + 10 * k]], np.float32)
            frames.append(cv2.warpAffine(base, shift, (1280, 720), borderMode=cv2.BORDER_REFLECT))
    return frames


@needs_model
def test_the_pipeline_on_a_short_sequence_gives_one_read_per_vehicle(
    recognizer: Recognizer,
) -> None:
    seeds = (11, 12)
    frames = _moving_plate_frames(seeds)
    source = IteratorSource("synthetic", lambda: iter(frames))
    pipe = Pipeline(
        recognizer,
        source,
        SystemClock(),
        lanes=2,
        pass_timeout_s=30.0,  # passes end when the stream ends (flush), not by time
        queue_size=len(frames) + 1,  # no frame dropped: the test counts passes
        reconnect_at_end=False,
    )
    sink = _Sink()
    pipe.run(sink, threading.Event())
    assert sink.frames == len(frames)
    texts = {_frame_with_plate(s)[2] for s in seeds}
    assert len(sink.reads) == len(seeds)
    assert sorted(r.lane or 0 for r in sink.reads) == [1, 2]
    assert sum(r.text in texts for r in sink.reads) >= 1


@needs_model
def test_a_tampered_detector_model_is_refused(tmp_path: Path) -> None:
    card = json.loads(DET_CARD.read_text())
    shutil.copy(DET_CARD.parent / card["model"], tmp_path / card["model"])
    (tmp_path / "detector.card.json").write_text(json.dumps(card))
    load_detector_card(tmp_path / "detector.card.json")  # the copy is fine
    with (tmp_path / card["model"]).open("r+b") as fh:
        fh.seek(200)
        byte = fh.read(1)
        fh.seek(200)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(DetectorError, match="sha256"):
        PlateDetector(tmp_path / "detector.card.json")


@needs_model
def test_a_detector_card_asking_for_colour_is_refused(tmp_path: Path) -> None:
    card = json.loads(DET_CARD.read_text())
    card["input"]["colour"] = "bgr"
    shutil.copy(DET_CARD.parent / card["model"], tmp_path / card["model"])
    (tmp_path / "detector.card.json").write_text(json.dumps(card))
    with pytest.raises(DetectorError, match="colour"):
        load_detector_card(tmp_path / "detector.card.json")


@needs_model
def test_read_cli_on_photos_reports_a_corrupt_image_and_reads_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame, quad, _ = _frame_with_plate(1)
    cv2.imwrite(str(tmp_path / "a.jpg"), frame)
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    cv2.imwrite(str(tmp_path / "c.png"), np.full((480, 640, 3), 128, np.uint8))
    paths = [str(tmp_path / n) for n in ("a.jpg", "b.jpg", "c.png")]
    rc, lines, err = read_cli(capsys, *paths)
    assert rc == 1
    assert "b.jpg: cannot decode image" in err
    assert [line["image"] for line in lines] == paths
    assert lines[1]["error"] == "cannot decode image"
    assert lines[2]["plates"] == []
    assert lines[0]["ms"] > 0
    truth = (*quad.min(0), *(quad.max(0) - quad.min(0)))
    for plate in lines[0]["plates"]:
        assert set(plate) == {"text", "conf", "country", "box"}
    confs = [p["conf"] for p in lines[0]["plates"]]
    assert confs == sorted(confs, reverse=True)
    assert lines[0]["plates"], "the plate was not read"
    assert iou(tuple(lines[0]["plates"][0]["box"]), truth) >= 0.5


@needs_model
def test_read_cli_fusing_cuts_reads_the_plate_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame, _, text = _frame_with_plate(3)
    cv2.imwrite(str(tmp_path / "a.png"), frame)
    tops = []
    for extra in ([], ["--fuse"], ["--no-vote-box"]):
        rc, lines, _ = read_cli(capsys, *extra, str(tmp_path / "a.png"))
        assert rc == 0
        tops.append(lines[0]["plates"][0]["text"])
    assert tops == [text, text, text]


@needs_model
def test_read_cli_exits_2_on_a_tampered_detector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = json.loads(DET_CARD.read_text())
    card["sha256"] = "0" * 64
    shutil.copy(DET_CARD.parent / card["model"], tmp_path / card["model"])
    (tmp_path / "detector.card.json").write_text(json.dumps(card))
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((10, 10, 3), np.uint8))
    rc = agent_main(["read", "--detector-card", str(tmp_path / "detector.card.json"), str(image)])
    assert rc == 2
    assert "sha256" in capsys.readouterr().err


def test_read_cli_refuses_a_second_look_smaller_than_a_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((10, 10, 3), np.uint8))
    assert agent_main(["read", "--second-look", "10", str(image)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--second-look 10" in err[0]


def test_roi_filters_plates_whose_centre_lies_outside() -> None:
    from agent.recognition.recognizer import _in_roi  # noqa: PLC0415 - the filter alone

    box = PlateBox(((100.0, 600.0), (300.0, 600.0), (300.0, 650.0), (100.0, 650.0)), 0.9)
    lower_half = ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0))
    upper_half = ((0.0, 0.0), (1.0, 0.0), (1.0, 0.5), (0.0, 0.5))
    assert _in_roi(box, lower_half, 1280, 720)
    assert not _in_roi(box, upper_half, 1280, 720)


def test_a_roi_needs_three_points() -> None:
    from pydantic import ValidationError  # noqa: PLC0415

    from agent.config.schema import RecognitionConfig  # noqa: PLC0415

    assert RecognitionConfig(roi=((0, 0.3), (1, 0.3), (1, 1))).roi is not None
    with pytest.raises(ValidationError, match="at least 3 points"):
        RecognitionConfig(roi=((0, 0), (1, 1)))


@needs_model
def test_eval_pipeline_scores_a_labelled_photo_folder_and_skips_a_missing_one(
    tmp_path: Path,
) -> None:
    images = tmp_path / "fr" / "images"
    images.mkdir(parents=True)
    rows = ["file\tx\ty\tw\th\tplate"]
    for seed in (0, 1):
        frame, quad, text = _frame_with_plate(seed, country="F")
        cv2.imwrite(str(images / f"p{seed}.jpg"), frame)
        (x, y), (x1, y1) = quad.min(0), quad.max(0)
        rows.append(f"p{seed}.jpg\t{x:.0f}\t{y:.0f}\t{x1 - x:.0f}\t{y1 - y:.0f}\t{text}")
    (tmp_path / "fr" / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = eval_photos(DET_CARD, READ_CARD, tmp_path, timing=2)
    assert set(out) == {"fr"}  # no br/ folder: skipped, not an error
    fr = out["fr"]
    assert isinstance(fr, dict)
    assert fr["n"] == 2
    assert fr["detection_recall_iou50"] == 1.0
    assert fr["top1_exact"] == 1.0  # two clean, frontal plates: both read
    assert fr["ms_per_photo_1_thread"] > 0
    assert eval_photos(DET_CARD, READ_CARD, tmp_path / "absent") == {}


@needs_model
def test_eval_video_scores_a_night_scene_as_the_demo_runs_it() -> None:
    # Infrared night, the scene's lane zones and loops: what `anpr-sim demo --night`
    # runs, offline and frame by frame (the same frames on every machine).
    out = eval_video(DET_CARD, READ_CARD, seconds=6, seed=1, screen_card=SCREEN_CARD, light="night")
    assert (out["light"], out["frames"], out["seed"]) == ("night", 150, 1)
    readable = out["readable_passes"]
    assert isinstance(readable, int)
    assert readable >= 1
    assert out["pass_recall"] == 1.0  # clean plates close to the camera: every one read


def test_eval_pipeline_ranks_a_syntax_valid_plate_above_a_surer_other_text() -> None:
    box = PlateBox(((0.0, 0.0), (10.0, 0.0), (10.0, 3.0), (0.0, 3.0)), 0.9)
    plate = Sighting(box, PlateText("AB123CD", (800,) * 7, "F"))
    other = Sighting(box, PlateText("XKL", (999,) * 3, None))
    unsure = Sighting(box, PlateText("CD456EF", (600,) * 7, "F"))
    ranked = sorted([other, unsure, plate], key=plausibility, reverse=True)
    assert ranked == [plate, unsure, other]


def _corner_error(box: PlateBox, quad: np.ndarray) -> float:
    return float(np.linalg.norm(np.array(box.corners) - quad, axis=1).mean())


def test_refining_a_small_plates_corners_brings_them_closer(detector: PlateDetector) -> None:
    # Plates 70 px wide in a 1280 px frame: 27 px at the model's 512, where a corner
    # one output cell off is 10 frame pixels, a character's width.
    coarse = refined = 0.0
    found = 0
    for seed in range(6):
        frame, quad, _ = _frame_with_plate(seed, width=70, x0=600.0)
        boxes = detector.detect(frame)
        truth = (*quad.min(0), *(quad.max(0) - quad.min(0)))
        hits = [b for b in boxes if iou(b.xywh, truth) >= 0.3]
        if not hits:
            continue
        found += 1
        coarse += _corner_error(hits[0], quad)
        refined += _corner_error(detector.refine(frame, hits[0]), quad)
    assert found >= 4
    assert refined < 0.8 * coarse, (refined, coarse)


def test_refining_a_box_with_no_plate_under_it_keeps_the_box(detector: PlateDetector) -> None:
    frame = np.full((720, 1280, 3), 128, np.uint8)
    box = PlateBox(((600.0, 400.0), (680.0, 400.0), (680.0, 418.0), (600.0, 418.0)), 0.4)
    assert detector.refine(frame, box) == box
    edge = PlateBox(((-40.0, -9.0), (2.0, -9.0), (2.0, 3.0), (-40.0, 3.0)), 0.4)
    assert detector.refine(frame, edge) == edge  # half outside the frame: nothing found
