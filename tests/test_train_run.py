"""Resumable reader runs (models/train/run.py): resuming is bit-for-bit, rendering reproducible.

torch is the optional ``train`` extra: without it these tests skip.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models.train import run as runmod  # noqa: E402  (needs torch)
from models.train.stream import BatchStream, Job, render_batch  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path

# A tiny network and batch: the tests are about the machinery, not the model.
TINY = ["--arch", "reader48", "--widths", "4,4,4,4,4,4,8", "--batch", "4", "--val-size", "8"]


def _plan(run: Path, steps: int = 6) -> None:
    argv = ["plan", str(run), "--steps", str(steps), "--seed", "5", "--warmup", "2"]
    assert runmod.main([*argv, "--ramp", "4", *TINY]) == 0


def _train(run: Path, *extra: str) -> int:
    code = runmod.main(["train", str(run), "--workers", "0", "--threads", "1", *extra])
    assert isinstance(code, int)
    return code


def _state(run: Path) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(run / runmod.CKPT, weights_only=False)
    return state


def test_a_run_stopped_and_resumed_ends_with_the_uninterrupted_weights(tmp_path: Path) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    _plan(whole)
    _plan(parts)
    assert _train(whole) == 0
    assert _train(parts, "--until", "2") == 0
    assert _state(parts)["step"] == 2
    assert _train(parts, "--resume", "--until", "5") == 0
    assert _train(parts, "--resume") == 0
    a, b = _state(whole), _state(parts)
    assert a["step"] == b["step"] == 6
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    for key, slot in a["opt"]["state"].items():
        for name, value in slot.items():
            assert torch.equal(value, b["opt"]["state"][key][name])
    # The history says which steps each invocation trained.
    history = json.loads((parts / runmod.HISTORY).read_text())
    assert [(h["from"], h["to"]) for h in history] == [(0, 2), (2, 5), (5, 6)]


def test_an_interrupted_step_changes_the_weights_so_the_comparison_can_fail(
    tmp_path: Path,
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    _plan(one)
    _plan(two)
    assert _train(one, "--until", "3") == 0
    assert _train(two, "--until", "4") == 0
    a, b = _state(one), _state(two)
    assert not all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_a_checkpoint_is_not_overwritten_without_resume_and_a_missing_plan_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "r"
    _plan(run, steps=2)
    assert _train(run, "--until", "1") == 0
    assert _train(run) == 2
    assert _train(tmp_path / "nowhere") == 2
    assert runmod.main(["plan", str(run), "--steps", "3", "--seed", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3
    assert all(line.startswith("error: ") for line in err)


def test_the_schedule_is_a_function_of_the_global_step() -> None:
    plan = runmod.make_plan(arch="reader48", total_steps=1000, seed=1, warmup=100, ramp=200)
    assert runmod.lr_at(plan, 0) == pytest.approx(plan["lr"] / 100)
    assert runmod.lr_at(plan, 99) == pytest.approx(plan["lr"])
    assert runmod.lr_at(plan, 1000) == pytest.approx(plan["lr"] * plan["final_lr_ratio"])
    assert runmod.level_at(plan, 0) == pytest.approx(0.25)
    assert runmod.level_at(plan, 200) == runmod.level_at(plan, 900) == 1.0


def test_a_replan_bends_the_schedule_from_its_step_without_a_jump() -> None:
    plan = runmod.make_plan(arch="reader48", total_steps=1000, seed=1, warmup=100)
    old = [runmod.lr_at(plan, s) for s in range(0, 1001, 50)]
    plan["replans"] = [{"at": 400, "from_total": 1000, "total_steps": 600}]
    plan["total_steps"] = 600
    assert [runmod.lr_at(plan, s) for s in range(0, 401, 50)] == old[:9]  # the past stays
    assert runmod.lr_at(plan, 401) == pytest.approx(old[8], rel=1e-3)  # no jump at the re-plan
    assert runmod.lr_at(plan, 500) < runmod.lr_at(plan, 450) < old[9]  # falls faster
    floor = plan["lr"] * plan["final_lr_ratio"]
    assert runmod.lr_at(plan, 600) == runmod.lr_at(plan, 900) == pytest.approx(floor)


def test_a_stopped_run_replanned_goes_on_and_replays_from_its_card_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, replay = tmp_path / "r", tmp_path / "replay"
    _plan(run, steps=10)
    assert _train(run, "--until", "3") == 0
    assert runmod.main(["replan", str(run), "--steps", "6", "--at", "2"]) == 2  # already past
    assert runmod.main(["replan", str(run), "--steps", "4", "--at", "4"]) == 2  # ends at its step
    before = _state(run)
    assert runmod.main(["replan", str(run), "--steps", "6", "--at", "4"]) == 0
    assert capsys.readouterr().err.count("error: ") == 2
    # The checkpoint is not rewritten: it fits the new plan because it has not passed step 4.
    assert _state(run)["plan_digest"] == before["plan_digest"]
    replanned = runmod.load_plan(run)
    assert runmod.fits_plan(before, replanned)
    assert not runmod.fits_plan({**before, "step": 5}, replanned)  # trained on the old rate
    assert _train(run, "--resume") == 0
    assert _state(run)["step"] == 6
    # The exported card's command (plan, re-plan, train) gives the same weights.
    command = runmod.replay_command(runmod.load_plan(run), str(replay))
    assert " replan " in command
    assert "--steps 10 " in command
    *setup, last = command.split(" && ")
    assert last.split()[3:] == ["train", str(replay), "--resume"]
    for part in setup:  # "python -m models.train.run plan|replan ..."
        assert runmod.main(part.split()[3:]) == 0
    assert _train(replay, "--resume") == 0
    a, b = _state(run), _state(replay)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_worker_rendering_is_the_same_data_whatever_the_worker_count() -> None:
    jobs = [Job(9, step, 3, 0.8, 48, 192) for step in range(4)]
    with BatchStream(jobs, 0) as stream:
        alone = [stream.get(j.step) for j in jobs]
    with BatchStream(jobs, 2) as stream:
        pooled = [stream.get(j.step) for j in jobs]
    for a, b in zip(alone, pooled, strict=True):
        assert a.step == b.step
        assert a.images.shape == (3, 48, 192)
        assert np.array_equal(a.images, b.images)
        assert np.array_equal(a.labels, b.labels)
        assert np.array_equal(a.lengths, b.lengths)
    # Different steps are different crops, and a crop does not depend on its batch's size.
    assert not np.array_equal(alone[0].images, alone[1].images)
    smaller = render_batch(Job(9, 2, 2, 0.8, 48, 192))
    assert np.array_equal(smaller.images, alone[2].images[:2])


def test_the_stream_refuses_steps_out_of_order() -> None:
    jobs = [Job(1, step, 1, 0.5, 48, 192) for step in (0, 1)]
    with BatchStream(jobs, 0) as stream, pytest.raises(ValueError, match="step 1"):
        stream.get(1)


def test_an_exported_run_loads_in_the_agent_with_its_input_size(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from agent.recognition.reader import PlateReader  # noqa: PLC0415

    run = tmp_path / "r"
    _plan(run, steps=1)
    assert _train(run) == 0
    card = runmod.export(run, tmp_path / "out", "0.0.1", metrics=False, calibration=16)
    raw = json.loads(card.read_text())
    assert raw["input"]["shape"] == ["batch", 1, 48, 192]
    assert raw["output"]["shape"] == ["batch", 48, 37]
    assert raw["training"]["trained_steps"] == 1
    reader = PlateReader(card)
    assert reader.card.spec.height == 48
    assert reader.infer(np.zeros((2, 1, 48, 192), np.float32)).shape == (2, 48, 37)
    screen = PlateReader(tmp_path / "out" / "reader-int8.card.json")
    assert screen.card.spec.width == 192


def test_a_checkpoint_is_published_only_when_its_validation_beats_the_copy_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, kept = tmp_path / "run", tmp_path / "kept"
    _plan(run)
    assert _train(run, "--until", "2", "--publish", str(kept)) == 0
    assert _state(kept)["step"] == 2  # nothing there yet: published
    history = json.loads((kept / runmod.HISTORY).read_text())
    history[-1]["val_exact"] = 1.5  # a copy no checkpoint can beat
    (kept / runmod.HISTORY).write_text(json.dumps(history))
    capsys.readouterr()
    # --ckpt-minutes 0: a checkpoint after every step while the run goes on.
    argv = ("--resume", "--until", "4", "--ckpt-minutes", "0", "--publish", str(kept))
    assert _train(run, *argv) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("checkpoint")]
    assert [("not published" in ln, "resume point" in ln) for ln in lines] == [
        (True, False),  # step 3, running: the copy there is better
        (True, False),  # step 4, running
        (False, True),  # step 4, stopped: published whatever its validation
    ]
    assert (_state(run)["step"], _state(kept)["step"]) == (4, 4)
    history = json.loads((kept / runmod.HISTORY).read_text())
    history[-1]["val_exact"] = -1.0  # one every checkpoint beats
    (kept / runmod.HISTORY).write_text(json.dumps(history))
    assert _train(run, *argv[:2], "5", *argv[3:]) == 0
    assert "checkpoint step 5 loss" in capsys.readouterr().out
    assert _state(kept)["step"] == 5


def test_a_copy_validated_by_another_renderer_is_measured_again_on_todays_set(
    tmp_path: Path,
) -> None:
    run, kept = tmp_path / "run", tmp_path / "kept"
    _plan(run)
    assert _train(run, "--until", "2", "--publish", str(kept)) == 0
    history = json.loads((kept / runmod.HISTORY).read_text())
    history[-1]["val_exact"] = 1.5  # unbeatable, but measured on an older renderer's set
    history[-1]["renderer_version"] = runmod.RENDER_VERSION - 1
    (kept / runmod.HISTORY).write_text(json.dumps(history))
    val = runmod.validation_set(run, runmod.load_plan(run), 1)
    measured = runmod._published_val(kept, val, torch.device("cpu"))
    assert measured is not None
    assert 0.0 <= measured <= 1.0  # today's figure, not the recorded 1.5
    assert runmod._published_val(kept) == 1.5  # without a set: the recorded figure
    history[-1]["renderer_version"] = runmod.RENDER_VERSION
    (kept / runmod.HISTORY).write_text(json.dumps(history))
    assert runmod._published_val(kept, val, torch.device("cpu")) == 1.5  # same renderer
