"""The shipped reader: reads rendered plates, refuses tampered models, reports bad files.

Accuracy tests render plates on the fly with fixed seeds and count exact reads: they
fail when the shipped model gets worse, so they are not smoke tests.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import read_cli

from agent.cli.main import main as agent_main
from agent.recognition.reader import PlateReader, ReaderError
from simulator.cli import main as sim_main
from simulator.evalreader import real_dev
from simulator.plates import render_plate

REPO = Path(__file__).resolve().parents[1]
CARD = REPO / "agent" / "recognition" / "models" / "reader.card.json"
SYNTAX = {"B": ("B",), "NL": ("NL",), "F": ("F",), "D": ("D",), "L": ("L",), "EU": ()}
PER_COUNTRY = 24
MIN_EXACT = 22  # of PER_COUNTRY at a moderate level: the shipped reader gets 23-24


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader(CARD, threads=1)


@pytest.mark.parametrize("country", list(SYNTAX))
def test_rendered_plates_of_each_country_read_correctly(country: str) -> None:
    reader = PlateReader(CARD, threads=1, countries=SYNTAX[country], threshold=0.0)
    rng = np.random.default_rng(2024)
    exact = 0
    for _ in range(PER_COUNTRY):
        plate = render_plate(rng, country, level=0.3)
        got = reader.read(plate.image)
        exact += got is not None and got.text == plate.text
    assert exact >= MIN_EXACT, f"{country}: {exact}/{PER_COUNTRY} exact"


def test_a_clean_belgian_plate_reads_with_high_confidence_and_country(reader: PlateReader) -> None:
    plate = render_plate(np.random.default_rng(7), "B", level=0.0)
    got = reader.read(plate.image)
    assert got is not None
    assert got.text == plate.text
    assert got.country == "B"
    assert len(got.char_conf) == len(got.text)
    assert min(got.char_conf) > 500
    assert plate.text not in repr(got)  # the repr never shows the plate


@pytest.mark.parametrize("colour", [(128, 128, 128), (240, 240, 240), (0, 184, 246), (30, 30, 30)])
def test_a_blank_crop_yields_no_plate(reader: PlateReader, colour: tuple[int, int, int]) -> None:
    crop = np.empty((50, 220, 3), np.uint8)
    crop[:] = colour
    assert reader.read(crop) is None


def test_a_degenerate_crop_yields_no_plate_not_an_error(reader: PlateReader) -> None:
    assert reader.read(np.zeros((1, 80, 3), np.uint8)) is None
    assert reader.read(np.zeros((0, 0, 3), np.uint8)) is None


def test_reading_many_crops_keeps_their_order(reader: PlateReader) -> None:
    rng = np.random.default_rng(99)
    plates = [render_plate(rng, c, level=0.0) for c in ("B", "NL", "F")]
    blank = np.full((40, 160, 3), 200, np.uint8)
    crops = [plates[0].image, blank, plates[1].image, plates[2].image]
    got = reader.read_many(crops)
    assert got[1] is None
    # Each crop reads as it does alone (the three plates' texts differ, so a reordering
    # shows), and the batch is not a trivially empty one.
    alone = [reader.read(crop) for crop in crops]
    assert [g.text if g else None for g in got] == [g.text if g else None for g in alone]
    assert got[0] is not None
    assert got[0].text == plates[0].text


def _copy_model(tmp_path: Path) -> Path:
    shutil.copy(CARD, tmp_path / CARD.name)
    shutil.copy(CARD.parent / "reader.onnx", tmp_path / "reader.onnx")
    return tmp_path / CARD.name


def test_a_tampered_model_file_is_refused(tmp_path: Path) -> None:
    card = _copy_model(tmp_path)
    model = tmp_path / "reader.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(ReaderError, match="sha256"):
        PlateReader(card)


def test_a_card_whose_input_does_not_match_the_graph_is_refused(tmp_path: Path) -> None:
    card = _copy_model(tmp_path)
    raw = json.loads(card.read_text())
    raw["input"]["shape"] = ["batch", 1, 48, 160]
    card.write_text(json.dumps(raw))
    with pytest.raises(ReaderError, match="input shape"):
        PlateReader(card)


def test_a_card_asking_for_colour_input_is_refused(tmp_path: Path) -> None:
    card = _copy_model(tmp_path)
    raw = json.loads(card.read_text())
    raw["input"]["colour"] = "rgb"
    card.write_text(json.dumps(raw))
    with pytest.raises(ReaderError, match="colour"):
        PlateReader(card)


def test_cli_exits_2_on_a_tampered_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = _copy_model(tmp_path)
    (tmp_path / "reader.onnx").write_bytes(b"not a model")
    image = tmp_path / "crop.png"
    cv2.imwrite(str(image), np.full((40, 160, 3), 200, np.uint8))
    assert agent_main(["read", "--no-detect", "--card", str(card), str(image)]) == 2
    assert "sha256" in capsys.readouterr().err


def test_cli_reports_a_corrupt_image_and_reads_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(5)
    good = [render_plate(rng, c, level=0.0) for c in ("B", "F")]
    paths = [tmp_path / "a.png", tmp_path / "broken.jpg", tmp_path / "b.jpg"]
    cv2.imwrite(str(paths[0]), good[0].image)
    paths[1].write_bytes(b"\xff\xd8\xff\xe0 definitely not a JPEG")
    cv2.imwrite(str(paths[2]), good[1].image)
    rc, lines, err = read_cli(capsys, "--no-detect", "--card", str(CARD), *map(str, paths))
    assert rc == 1
    assert [line["image"] for line in lines] == [str(p) for p in paths]
    assert lines[1]["error"] == "cannot decode image"
    assert "broken.jpg" in err
    assert lines[0]["plates"][0]["text"] == good[0].text
    assert lines[0]["plates"][0]["country"] == "B"
    assert 0.0 < lines[0]["plates"][0]["conf"] <= 1.0
    assert lines[2]["plates"][0]["text"] == good[1].text
    assert lines[2]["ms"] > 0


def test_sim_eval_reader_scores_a_synthetic_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = sim_main(["eval", "reader", "--no-real", "--synthetic", "14", "--out", str(tmp_path)])
    assert rc == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["synthetic"]["n"] == 14
    assert 0.0 <= summary["synthetic"]["exact"] <= 1.0
    assert summary["synthetic"]["ms_per_crop"] > 0
    groups = summary["synthetic"]["exact_by_group"]
    assert {"B", "NL", "F", "D", "L", "EU", "BR"} <= {g.split()[0] for g in groups}
    assert sum(g["n"] for g in groups.values()) == 14
    assert '"synthetic"' in capsys.readouterr().out


def test_real_dev_is_skipped_cleanly_when_absent(tmp_path: Path) -> None:
    assert real_dev(tmp_path / "nowhere", "fr") == []


def _spelled(reader: PlateReader, text: str, doubt: dict[int, tuple[str, float]]) -> np.ndarray:
    """Hand-made T x C outputs spelling ``text`` for the reader's card; ``doubt`` maps a
    character index to (the other character, its share) at that character's frames."""
    card = reader.card
    t_len = 32
    probs = np.full((t_len, card.classes), 1e-4, np.float32)

    def col(ch: str) -> int:
        k = card.alphabet.index(ch)
        return k + 1 if k >= card.blank else k

    probs[:, card.blank] = 1.0
    for i, ch in enumerate(text):
        for t in (3 * i + 1, 3 * i + 2):
            probs[t, card.blank] = 1e-4
            other, share = doubt.get(i, (ch, 0.0))
            probs[t, col(ch)] = 1.0 - share
            probs[t, col(other)] += share
    return np.asarray(probs / probs.sum(axis=1, keepdims=True), np.float32)


def test_fused_cuts_outvote_one_cut_sure_of_a_wrong_character() -> None:
    reader = PlateReader(CARD, threads=1, countries=("F",), threshold=0.5)
    sure_wrong = [_spelled(reader, "AB123CM", {6: ("W", 0.03)})]  # M at 0.97
    doubtful = [_spelled(reader, "AB123CW", {6: ("M", 0.1)})]  # W at 0.9
    # Alone, the surer cut wins (what max-confidence over the cuts would send) ...
    first = reader.read_outputs(sure_wrong)
    assert first is not None
    assert first.text == "AB123CM"
    # ... together, three cuts that lean to W outweigh it.
    fused = reader.read_fused([sure_wrong, doubtful, doubtful, doubtful])
    assert fused is not None
    text, index = fused
    assert (text.text, text.country, index) == ("AB123CW", "F", 1)
    # Two of four leaning the other way do not.
    fused = reader.read_fused([sure_wrong, sure_wrong, doubtful, doubtful])
    assert fused is not None
    assert fused[0].text == "AB123CM"


def test_fusing_cuts_of_which_none_reads_gives_nothing(reader: PlateReader) -> None:
    blank = np.full((32, 200, 3), 128, np.uint8)
    assert reader.read_fused(reader.outputs([blank, blank, np.zeros((1, 5), np.uint8)])) is None
    assert reader.read_fused([]) is None
