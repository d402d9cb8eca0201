"""The models ship inside the package: found with no path configured, listed, and checked."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from conftest import read_cli

from agent.cli.main import main as agent_main
from agent.config.schema import RecognitionConfig
from agent.recognition.shipped import SHIPPED, model_cards, shipped_card

if TYPE_CHECKING:
    import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config" / "agent.example.toml"
PHOTO = REPO / "tests" / "data" / "synthetic-photo.jpg"
PHOTO_TRUTH = json.loads((REPO / "tests" / "data" / "synthetic-photo.json").read_text())


def _card(role: str) -> dict[str, object]:
    card: dict[str, object] = json.loads(shipped_card(role).read_text(encoding="utf-8"))
    return card


def _check_config(
    capsys: pytest.CaptureFixture[str], config: Path = EXAMPLE
) -> tuple[int, str, list[str]]:
    code = agent_main(["check-config", str(config)])
    out = capsys.readouterr()
    return code, out.out, out.err.strip().splitlines()


def test_every_shipped_card_is_package_data_beside_its_model() -> None:
    for role in SHIPPED:
        card = shipped_card(role)
        assert card.parent == REPO / "agent" / "recognition" / "models"
        raw = _card(role)
        model = card.parent / str(raw["model"])
        assert hashlib.sha256(model.read_bytes()).hexdigest() == raw["sha256"]


def test_a_config_naming_no_card_loads_the_shipped_models() -> None:
    cards = model_cards(RecognitionConfig())
    assert cards.detector == shipped_card("detector")
    assert cards.reader == shipped_card("reader")
    assert cards.screen == shipped_card("screen")
    assert model_cards(RecognitionConfig(screen=False)).screen is None
    own = Path("/opt/vendor/reader.card.json")
    assert model_cards(RecognitionConfig(reader_card=own)).reader == own


def test_version_names_each_shipped_model_with_its_version_and_sha256() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "agent", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    from agent import __version__  # noqa: PLC0415

    assert lines[0] == f"anpr-agent {__version__}"
    for role in SHIPPED:
        raw = _card(role)
        assert any(
            f"{raw['name']} {raw['version']} sha256:{raw['sha256']}" in line for line in lines[1:]
        ), (role, lines)
    assert "does not match" not in res.stdout


def test_check_config_loads_the_models_of_the_example_config(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _check_config(capsys)
    assert code == 0, err
    reader = _card("reader")
    assert f"reader {reader['version']} (shipped)" in out


def test_check_config_refuses_a_missing_model_card_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ANPR_RECOGNITION__READER_CARD", str(tmp_path / "gone.card.json"))
    code, out, err = _check_config(capsys)
    assert code == 2
    assert out == ""
    assert len(err) == 1, err
    assert "recognition.reader_card" in err[0]
    assert "reader card not found" in err[0]


def _copy_card(role: str, where: Path) -> Path:
    card = shipped_card(role)
    raw = _card(role)
    shutil.copy(card, where / card.name)
    shutil.copy(card.parent / str(raw["model"]), where / str(raw["model"]))
    return where / card.name


def test_check_config_refuses_a_model_whose_sha256_does_not_match_its_card(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    card = _copy_card("detector", tmp_path)
    monkeypatch.setenv("ANPR_RECOGNITION__DETECTOR_CARD", str(card))
    code, out, _ = _check_config(capsys)
    assert code == 0
    assert f"detector {_card('detector')['version']} ({card})" in out
    model = tmp_path / str(_card("detector")["model"])
    data = bytearray(model.read_bytes())
    data[300] ^= 0xFF
    model.write_bytes(bytes(data))
    code, out, err = _check_config(capsys)
    assert code == 2
    assert len(err) == 1, err
    assert "recognition.detector_card" in err[0]
    assert "does not match its card" in err[0]


def test_check_config_refuses_a_card_whose_input_spec_the_graph_does_not_have(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    card = _copy_card("screen", tmp_path)
    raw = json.loads(card.read_text())
    raw["input"]["shape"] = [*raw["input"]["shape"][:3], 160]  # the graph takes 128 px
    card.write_text(json.dumps(raw))
    monkeypatch.setenv("ANPR_RECOGNITION__SCREEN_CARD", str(card))
    code, _, err = _check_config(capsys)
    assert code == 2
    assert len(err) == 1, err
    assert err[0].count("recognition.screen_card") == 1
    assert "graph input shape" in err[0]
    assert "does not match the card" in err[0]


def test_check_config_refuses_a_screen_whose_outputs_cannot_be_voted_with_the_reader(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    card = _copy_card("screen", tmp_path)
    raw = json.loads(card.read_text())
    raw["alphabet"] = raw["alphabet"][::-1]  # as many classes, other characters
    card.write_text(json.dumps(raw))
    monkeypatch.setenv("ANPR_RECOGNITION__SCREEN_CARD", str(card))
    code, _, err = _check_config(capsys)
    assert code == 2
    assert len(err) == 1, err
    assert "recognition.vote_screen" in err[0]
    assert "alphabet or blank is not the reader's" in err[0]
    monkeypatch.setenv("ANPR_RECOGNITION__VOTE_SCREEN", "false")  # screening alone: fine
    code, _, err = _check_config(capsys)
    assert code == 0, err


def test_the_read_command_reads_the_test_photo_from_any_directory(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    rc, lines, err = read_cli(capsys, str(PHOTO))
    assert rc == 0, err
    assert lines[0]["plates"][0]["text"] == PHOTO_TRUTH["text"]
