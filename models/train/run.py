"""A reader training run of many hours as a sequence of resumable steps.

    python -m models.train.run plan RUN --arch reader48 --steps 300000 --seed 11
    nice -n 19 python -m models.train.run train RUN --resume --workers 1 --threads 2 \
        --publish models/train/reader48
    python -m models.train.run export RUN --out RUN/export --version 0.7.0
    python -m models.train.run status RUN
    python -m models.train.run replan RUN --steps 60000 --at 27000   # a stopped run

A run directory holds ``plan.json`` (fixed when the run is planned: the
architecture and its input size, batch, seed, the learning-rate schedule over the
run's *whole* length, the augmentation ramp, the validation set), ``ckpt.pt``
(model, optimiser, schedule position, step, RNG states and the history of the
steps so far) and ``history.json`` (one entry per ``train`` invocation: from
which step to which, on what device, renderer version, commit, wall time, loss,
validation exact rate). A ``train`` invocation is one step of the run: it goes on
from the checkpoint, stops at ``--until``, after ``--minutes`` or on SIGTERM /
SIGINT, and checkpoints every ``--ckpt-minutes`` of wall time and when it stops.

Resuming is bit-for-bit: the learning rate and the augmentation level are
functions of the global step, every crop is rendered from a generator seeded
with (seed, step, crop) (``models.train.stream``), and the dropout generator is
reseeded from (seed, step) before each step, so a run stopped anywhere and
resumed (same device and thread count) ends with the weights an uninterrupted run
has. A run resumed on another machine (or on CUDA) sees the same data and
schedule; only floating-point summation order differs. Training crops are rendered
on the fly by ``--workers`` processes with the renderer of the day: the history
records which renderer version trained which steps.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from agent.recognition.ctc import InputSpec
from models.train import card as cardmod
from models.train.data import ALPHABET, BLANK
from models.train.net import ARCHS, build
from models.train.reader import greedy_texts
from models.train.stream import Batch, BatchStream, Job, render_batch
from simulator.plates import RENDER_VERSION

if TYPE_CHECKING:
    from collections.abc import Iterator

MEAN, STD = 127.5, 127.5
PLAN = "plan.json"
CKPT = "ckpt.pt"
HISTORY = "history.json"
REPO = Path(__file__).resolve().parents[2]
# The plan's keys: what the run is. Anything else (device, threads, workers, bf16)
# is how one step of it runs and may change from step to step.
PLAN_KEYS = (
    "arch",
    "widths",
    "height",
    "width",
    "alphabet",
    "blank",
    "seed",
    "batch",
    "total_steps",
    "lr",
    "warmup",
    "final_lr_ratio",
    "weight_decay",
    "clip",
    "ramp",
    "start_level",
    "val_seed",
    "val_size",
)


class RunError(Exception):
    """A run directory that cannot be planned, resumed or exported as asked."""


# ---------------------------------------------------------------- the plan


def make_plan(  # noqa: PLR0913  (a plan is many numbers; all keyword-only)
    *,
    arch: str,
    total_steps: int,
    seed: int,
    batch: int = 64,
    lr: float = 2e-3,
    warmup: int = 1000,
    final_lr_ratio: float = 0.02,
    weight_decay: float = 1e-4,
    clip: float = 5.0,
    ramp: int = 4000,
    start_level: float = 0.25,
    val_size: int = 1000,
    widths: list[int] | None = None,
) -> dict[str, Any]:
    """A run's plan (see ``PLAN_KEYS``); ``widths`` None means the architecture's own."""
    if arch not in ARCHS:
        raise RunError(f"unknown architecture {arch!r} (known: {', '.join(ARCHS)})")
    if total_steps < 1 or batch < 1 or warmup < 0 or ramp < 0 or lr <= 0:
        raise RunError("steps and batch must be >= 1, warmup and ramp >= 0, lr > 0")
    _, height, width = ARCHS[arch]
    return {
        "arch": arch,
        "widths": widths,
        "height": height,
        "width": width,
        "alphabet": ALPHABET,
        "blank": BLANK,
        "seed": seed,
        "batch": batch,
        "total_steps": total_steps,
        "lr": lr,
        "warmup": warmup,
        "final_lr_ratio": final_lr_ratio,
        "weight_decay": weight_decay,
        "clip": clip,
        "ramp": ramp,
        "start_level": start_level,
        "val_seed": seed + 1000,
        "val_size": val_size,
        "schedule": "linear warmup, then cosine from lr to lr * final_lr_ratio at total_steps",
        "planned": {
            "renderer_version": RENDER_VERSION,
            "commit": _commit(),
            "at": _now(),
        },
    }


def _cosine(top: float, floor: float, start: int, end: int, step: int) -> float:
    t = min(1.0, (step - start) / max(1, end - start))
    return floor + (top - floor) * 0.5 * (1 + math.cos(math.pi * t))


def lr_at(plan: dict[str, Any], step: int) -> float:
    """The learning rate of ``step``: a pure function of the global step.

    A re-planned run (``replans``, see ``replan``) follows its first cosine until
    the first re-plan's step, then a cosine from the rate of that step down to
    the same floor at the re-plan's new end, and so on: the rate never jumps.
    """
    peak, warmup = plan["lr"], plan["warmup"]
    if step < warmup:
        return float(peak * (step + 1) / warmup)
    floor = peak * plan["final_lr_ratio"]
    replans = plan.get("replans", [])
    ends = [r["from_total"] for r in replans] + [plan["total_steps"]]
    start, top = warmup, peak
    for r, end in zip(replans, ends, strict=False):
        if step < r["at"]:
            return float(_cosine(top, floor, start, end, step))
        start, top = r["at"], _cosine(top, floor, start, end, r["at"])
    return float(_cosine(top, floor, start, ends[-1], step))


def level_at(plan: dict[str, Any], step: int) -> float:
    """Highest degradation level drawn at ``step``.

    A CTC model started on hard crops stalls at "predict nothing", so the
    augmentation ramps up from ``start_level`` over ``ramp`` steps.
    """
    start = plan["start_level"]
    return float(min(1.0, start + (1.0 - start) * step / max(1, plan["ramp"])))


def job_at(plan: dict[str, Any], step: int) -> Job:
    """The batch ``step`` trains on."""
    return Job(
        plan["seed"], step, plan["batch"], level_at(plan, step), plan["height"], plan["width"]
    )


def _step_seed(seed: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, step, 0x5EED]).generate_state(1)[0])


def load_plan(run: Path) -> dict[str, Any]:
    """The run's plan, checked."""
    path = run / PLAN
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{run}: no {PLAN} (plan the run first: models.train.run plan)") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: unreadable plan ({exc})") from None
    missing = [k for k in PLAN_KEYS if k not in plan]
    if missing:
        raise RunError(f"{path}: plan lacks {', '.join(missing)}")
    if plan["arch"] not in ARCHS or plan["alphabet"] != ALPHABET or plan["blank"] != BLANK:
        raise RunError(f"{path}: architecture or alphabet this code does not train")
    return dict(plan)


def plan_digest(plan: dict[str, Any]) -> str:
    """A fingerprint of what the run is (``PLAN_KEYS``), stored in each checkpoint.

    A re-planned run's re-plans (their steps and ends) are part of it.
    """
    core = {k: plan[k] for k in PLAN_KEYS}
    if plan.get("replans"):
        core["replans"] = [(r["at"], r["from_total"], r["total_steps"]) for r in plan["replans"]]
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]


def fits_plan(state: dict[str, Any], plan: dict[str, Any]) -> bool:
    """Whether a checkpoint belongs to ``plan``.

    It does when it was written under the plan, or under the plan before
    re-plans that all start at or after the checkpoint's step: up to there the
    schedule is the same, so a re-plan never has to rewrite a checkpoint.
    """
    replans = plan.get("replans", [])
    step = int(state.get("step", 0))
    for k in range(len(replans), -1, -1):
        if k < len(replans) and replans[k]["at"] < step:
            break
        earlier = {**plan, "replans": replans[:k]}
        if k < len(replans):
            earlier["total_steps"] = replans[k]["from_total"]
        if state.get("plan_digest") == plan_digest(earlier):
            return True
    return False


# ---------------------------------------------------------------- helpers


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _tensors(batch: Batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(batch.images).to(device).float().sub_(MEAN).div_(STD)[:, None]
    lengths = torch.from_numpy(batch.lengths.astype(np.int64))
    targets = torch.from_numpy(
        np.concatenate([lab[:n] for lab, n in zip(batch.labels, batch.lengths, strict=True)])
    ).long()
    return x, targets.to(device), lengths.to(device)


def _texts(batch: Batch) -> list[str]:
    return [
        "".join(ALPHABET[k - 1] for k in lab[:n])
        for lab, n in zip(batch.labels, batch.lengths, strict=True)
    ]


def validation_set(run: Path, plan: dict[str, Any], workers: int) -> Batch:
    """The run's held-out crops at full augmentation, cached per renderer version."""
    path = run / f"val-r{RENDER_VERSION}-{plan['val_size']}.npz"
    if path.exists():
        with np.load(path) as z:
            return _as_batch(z)
    size, chunk = plan["val_size"], 250
    jobs = [
        Job(plan["val_seed"], k, min(chunk, size - k * chunk), 1.0, plan["height"], plan["width"])
        for k in range(math.ceil(size / chunk))
    ]
    with BatchStream(jobs, workers) as stream:
        parts = [stream.get(j.step) for j in jobs]
    images = np.concatenate([p.images for p in parts])
    labels = np.concatenate([p.labels for p in parts])
    lengths = np.concatenate([p.lengths for p in parts])
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, images=images, labels=labels, lengths=lengths)
    tmp.replace(path)
    return _as_batch({"images": images, "labels": labels, "lengths": lengths})


def _as_batch(z: Any) -> Batch:  # noqa: ANN401  (an npz or a dict)
    return Batch(-1, np.asarray(z["images"]), np.asarray(z["labels"]), np.asarray(z["lengths"]))


@torch.no_grad()
def evaluate(net: nn.Module, val: Batch, device: torch.device, chunk: int = 250) -> float:
    """Greedy exact-match rate on ``val`` (float32, eval mode)."""
    was_training = net.training
    net.eval()
    truth = _texts(val)
    hits = 0
    for s in range(0, len(truth), chunk):
        part = _as_batch(
            {
                "images": val.images[s : s + chunk],
                "labels": val.labels[s : s + chunk],
                "lengths": val.lengths[s : s + chunk],
            }
        )
        x, _, _ = _tensors(part, device)
        hits += sum(p == t for p, t in zip(greedy_texts(net(x)), truth[s : s + chunk], strict=True))
    net.train(was_training)
    return hits / max(1, len(truth))


# ---------------------------------------------------------------- training


class _Stop:
    """Set by SIGTERM / SIGINT: finish the step, checkpoint, leave."""

    def __init__(self) -> None:
        self.asked = False

    def __call__(self, _signum: int, _frame: object) -> None:
        self.asked = True


def _autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager[Any]:
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def sgd_step(  # noqa: PLR0913
    net: nn.Module,
    opt: torch.optim.Optimizer,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    clip: float,
    device: torch.device,
    bf16: bool,
) -> float:
    """One optimiser step on one batch; the CTC loss is computed in float32."""
    x, targets, lengths = batch
    with _autocast(device, bf16):
        logits = net(x)
    logp = logits.float().log_softmax(-1).permute(1, 0, 2)  # T x N x C
    t_len = torch.full((x.shape[0],), logp.shape[0], dtype=torch.int64, device=device)
    loss = nn.functional.ctc_loss(logp, targets, t_len, lengths, blank=BLANK, zero_infinity=True)
    opt.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
    nn.utils.clip_grad_norm_(net.parameters(), clip)
    opt.step()
    return float(loss.item())


def _net_and_opt(
    plan: dict[str, Any], device: torch.device
) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(plan["seed"])  # the initial weights
    net = build(plan["arch"], len(ALPHABET) + 1, plan["widths"]).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=plan["lr"], weight_decay=plan["weight_decay"])
    return net, opt


def _rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def _publish(run: Path, to: Path) -> None:
    """Copy the plan, history and checkpoint where they are committed (atomic each)."""
    to.mkdir(parents=True, exist_ok=True)
    for name in (PLAN, HISTORY, CKPT):
        tmp = to / (name + ".tmp")
        shutil.copyfile(run / name, tmp)
        tmp.replace(to / name)


def _published_val(
    to: Path, val: Batch | None = None, device: torch.device | None = None
) -> float | None:
    """Validation exact of the checkpoint published at ``to`` (None: none, or unmeasured).

    A copy last validated on another renderer's validation set is measured
    again on ``val`` (today's set), so that the two figures compared are of one
    set; without ``val`` its recorded figure is returned.
    """
    try:
        history = json.loads((to / HISTORY).read_text())
        last = history[-1] if (to / CKPT).exists() else {}
        val_exact = last.get("val_exact")
    except (OSError, ValueError, LookupError, TypeError, AttributeError):
        return None
    if val is not None and last and last.get("renderer_version") != RENDER_VERSION:
        try:
            plan = load_plan(to)
            state = torch.load(to / CKPT, map_location="cpu", weights_only=False)
            net = build(plan["arch"], len(ALPHABET) + 1, plan["widths"])
            net.load_state_dict(state["model"])
        except (RunError, OSError, RuntimeError, KeyError):
            return None
        device = device or torch.device("cpu")
        return evaluate(net.to(device), val, device)
    if isinstance(val_exact, int | float) and math.isfinite(val_exact):
        return float(val_exact)
    return None


class Trainer:
    """One step of a run: resume, train until told to stop, checkpoint."""

    def __init__(self, run: Path, args: argparse.Namespace) -> None:
        self.run, self.args = run, args
        self.plan = load_plan(run)
        self.device = torch.device(args.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RunError("--device cuda: torch sees no CUDA device")
        torch.set_num_threads(args.threads)
        self.net, self.opt = _net_and_opt(self.plan, self.device)
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.loss, self.val_exact = float("nan"), float("nan")
        self._val: Batch | None = None  # the validation set, once training loaded it
        # The published copy's validation exact on that set: measured once, then
        # known until this trainer publishes (only it writes the copy).
        self._there: float | None = None
        self._resume()
        self.segment: dict[str, Any] = {
            "from": self.step,
            "to": self.step,
            "renderer_version": RENDER_VERSION,
            "commit": _commit(),
            "device": _device_name(self.device),
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "workers": args.workers,
            "bf16": args.bf16,
            "started": _now(),
            "wall_s": 0.0,
        }

    def _resume(self) -> None:
        ckpt = self.run / CKPT
        if not ckpt.exists():
            return
        if not self.args.resume:
            raise RunError(f"{ckpt} exists: pass --resume to go on from it")
        state = torch.load(ckpt, map_location=self.device, weights_only=False)
        if not fits_plan(state, self.plan):
            raise RunError(f"{ckpt}: written for another plan than {self.run / PLAN}")
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
        self.history = list(state.get("history", []))
        self.loss = float(state.get("loss", float("nan")))
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if self.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), self.device)
        print(f"resumed {self.run} at step {self.step} (loss {self.loss:.3f})", flush=True)

    def save(self, wall: float, *, stopping: bool = False) -> None:
        """Checkpoint atomically, with the history; publish when asked.

        While the run goes on, a checkpoint is published only when its
        validation beats the copy there. When it stops, its last checkpoint is
        published whatever its validation: the committed copy is where the next
        session resumes, and a run whose copy stayed at its best figure so far
        would train the same steps again after every session that ended below
        it (validation wanders by a point or two at a high rate).
        """
        self.segment.update(
            to=self.step,
            wall_s=round(self.segment["wall_s"] + wall, 1),
            loss=round(self.loss, 4),
            val_exact=round(self.val_exact, 4),
            saved=_now(),
        )
        history = [*self.history, self.segment]
        state = {
            "model": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "schedule": {
                "kind": self.plan["schedule"],
                "step": self.step,
                "lr": lr_at(self.plan, self.step),
                "level": level_at(self.plan, self.step),
            },
            "step": self.step,
            "rng": _rng_state(self.device),
            "plan": self.plan,
            "plan_digest": plan_digest(self.plan),
            "history": history,
            "loss": self.loss,
            "val_exact": self.val_exact,
        }
        tmp = self.run / (CKPT + ".tmp")
        torch.save(state, tmp)
        tmp.replace(self.run / CKPT)  # a kill mid-save leaves the previous checkpoint
        _atomic_write(self.run / HISTORY, json.dumps(history, indent=2) + "\n")
        note = ""
        if self.args.publish is not None:
            if not stopping and self._there is None:
                self._there = _published_val(self.args.publish, self._val, self.device)
            there = None if stopping else self._there
            if there is None or not math.isfinite(self.val_exact) or self.val_exact > there:
                _publish(self.run, self.args.publish)
                self._there = self.val_exact if math.isfinite(self.val_exact) else None
                note = ", published" + (" (the run stopped: the resume point)" if stopping else "")
            else:
                note = f", not published ({self.args.publish} has val exact {there:.4f})"
        print(
            f"checkpoint step {self.step} loss {self.loss:.3f} "
            f"val exact {self.val_exact:.4f}{note}",
            flush=True,
        )

    def _jobs(self, stop: int) -> Iterator[Job]:
        return (job_at(self.plan, s) for s in range(self.step, stop))

    def train(self) -> int:
        """Train to ``--until`` / the plan's end / ``--minutes`` / a signal; the step reached."""
        args, plan = self.args, self.plan
        stop = min(plan["total_steps"], args.until or plan["total_steps"])
        if self.step >= stop:
            print(f"{self.run}: already at step {self.step} (stop {stop})", flush=True)
            return self.step
        quit_ = _Stop()
        signal.signal(signal.SIGTERM, quit_)
        signal.signal(signal.SIGINT, quit_)
        val = self._val = validation_set(self.run, plan, max(1, args.workers))
        t_start = time.monotonic()
        deadline = t_start + 60 * args.minutes if args.minutes else math.inf
        if args.stop_at is not None:  # wall-clock time: start-up counts against it too
            deadline = min(deadline, t_start + args.stop_at - time.time())
        t_saved, t_log, waited, seen = t_start, t_start, 0.0, 0
        self.net.train()
        with BatchStream(self._jobs(stop), args.workers) as stream:
            while self.step < stop and not quit_.asked and time.monotonic() < deadline:
                t0 = time.monotonic()
                try:
                    batch = stream.get(self.step)
                except Exception:  # a renderer that fails: keep the steps trained so far
                    if self.step > self.segment["from"]:
                        self.save(time.monotonic() - t_log)
                    raise
                waited += time.monotonic() - t0
                lr = lr_at(plan, self.step)
                for group in self.opt.param_groups:
                    group["lr"] = lr
                torch.manual_seed(_step_seed(plan["seed"], self.step))  # dropout
                loss = sgd_step(
                    self.net,
                    self.opt,
                    _tensors(batch, self.device),
                    clip=plan["clip"],
                    device=self.device,
                    bf16=args.bf16,
                )
                self.loss = loss if math.isnan(self.loss) else 0.98 * self.loss + 0.02 * loss
                self.step += 1
                seen += plan["batch"]
                now = time.monotonic()
                if self.step % args.log_every == 0:
                    print(
                        f"step {self.step} loss {self.loss:.3f} lr {lr:.2e} "
                        f"level<={level_at(plan, self.step):.2f} "
                        f"{seen / (now - t_start):.0f} crops/s "
                        f"(waiting for crops {100 * waited / (now - t_start):.0f} %)",
                        flush=True,
                    )
                if now - t_saved >= 60 * args.ckpt_minutes:
                    self.val_exact = evaluate(self.net, val, self.device)
                    self.save(now - t_log)
                    t_saved = t_log = time.monotonic()
        self.val_exact = evaluate(self.net, val, self.device)
        self.save(time.monotonic() - t_log, stopping=True)
        why = "signal" if quit_.asked else "time" if self.step < stop else f"step {stop}"
        print(f"stopped at step {self.step} ({why})", flush=True)
        return self.step


# ---------------------------------------------------------------- export


def replay_command(plan: dict[str, Any], run: str = "RUN") -> str:
    """The commands that plan this run again from scratch."""
    widths = f" --widths {','.join(map(str, plan['widths']))}" if plan["widths"] else ""
    replans = plan.get("replans", [])
    first = replans[0]["from_total"] if replans else plan["total_steps"]
    again = "".join(
        f" && python -m models.train.run replan {run} --steps {r['total_steps']} --at {r['at']}"
        for r in replans
    )
    return (
        f"python -m models.train.run plan {run} --arch {plan['arch']}{widths} "
        f"--steps {first} --seed {plan['seed']} --batch {plan['batch']} "
        f"--lr {plan['lr']} --warmup {plan['warmup']} --ramp {plan['ramp']} "
        f"--val-size {plan['val_size']}{again} && python -m models.train.run train {run} --resume"
    )


def replan(run: Path, total_steps: int, at: int) -> dict[str, Any]:
    """Give a run a new end: from step ``at`` its rate falls on a new cosine to ``total_steps``.

    A run planned for more steps than the machines it gets can give (or fewer)
    is re-planned while it is stopped, at a step its checkpoint has not passed.
    Up to ``at`` the schedule is the one the run had, so the steps already
    trained stay what they were and the checkpoint stays valid as it is
    (``fits_plan``). The re-plan is written into the plan (``replans``) and so
    into every card exported from the run.
    """
    plan = load_plan(run)
    replans = list(plan.get("replans", []))
    if total_steps <= at:
        raise RunError(f"--steps {total_steps} must lie after --at {at}")
    if at < plan["warmup"] or (replans and at <= replans[-1]["at"]):
        raise RunError(f"--at {at}: a re-plan starts after the warm-up and after the last re-plan")
    ckpt = run / CKPT
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        if not fits_plan(state, plan):
            raise RunError(f"{ckpt}: written for another plan than {run / PLAN}")
        if int(state["step"]) > at:
            raise RunError(f"{ckpt} is at step {state['step']}, past --at {at}")
    entry = {
        "at": at,
        "from_total": plan["total_steps"],
        "total_steps": total_steps,
        "lr_at": lr_at(plan, at),
        "commit": _commit(),
        "when": _now(),
    }
    new = {**plan, "total_steps": total_steps, "replans": [*replans, entry]}
    _atomic_write(run / PLAN, json.dumps(new, indent=2) + "\n")
    return new


def export(
    run: Path, out: Path, version: str, *, metrics: bool = True, calibration: int | None = None
) -> Path:
    """ONNX, int8 screen and cards of the run's checkpoint into ``out``."""
    plan = load_plan(run)
    ckpt = run / CKPT
    if not ckpt.exists():
        raise RunError(f"{run}: no checkpoint to export")
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    if not fits_plan(state, plan):
        raise RunError(f"{ckpt}: written for another plan than {run / PLAN}")
    out.mkdir(parents=True, exist_ok=True)
    net = build(plan["arch"], len(ALPHABET) + 1, plan["widths"])
    spec = InputSpec(plan["height"], plan["width"], MEAN, STD)
    parity = validation_set(run, plan, 1).images[:256]
    history = state.get("history", [])
    training = {
        "command": replay_command(plan),
        "plan": {k: plan[k] for k in PLAN_KEYS},
        "seed": plan["seed"],
        "steps": f"{state['step']} of {plan['total_steps']}",
        "trained_steps": int(state["step"]),
        "samples": int(state["step"]) * plan["batch"],
        "renderer_version": sorted({h["renderer_version"] for h in history}) or [RENDER_VERSION],
        "segments": [
            {k: h.get(k) for k in ("from", "to", "renderer_version", "device", "bf16", "commit")}
            for h in history
        ],
    }
    card_args = argparse.Namespace(version=version)
    return cardmod.export_and_card(
        ckpt,
        out,
        card_args,
        spec,
        net=net,
        parity_images=parity,
        training=training,
        metrics=metrics,
        calibration=calibration,
    )


# ---------------------------------------------------------------- benches


def bench_render(plan: dict[str, Any], workers: int, batches: int) -> float:
    """Crops a second rendered by ``workers`` processes (0: in this one)."""
    jobs = [
        Job(plan["seed"], 10_000 + k, plan["batch"], 1.0, plan["height"], plan["width"])
        for k in range(batches)
    ]
    with BatchStream(jobs, workers) as stream:
        stream.get(jobs[0].step)  # start-up (spawning, imports) is not rendering
        t0 = time.monotonic()
        for j in jobs[1:]:
            stream.get(j.step)
        return float((len(jobs) - 1) * plan["batch"] / (time.monotonic() - t0))


def bench_step(plan: dict[str, Any], args: argparse.Namespace) -> float:
    """Seconds a training step takes (one pre-rendered batch, repeated)."""
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    net, opt = _net_and_opt(plan, device)
    batch = _tensors(render_batch(job_at(plan, 0)), device)
    times = []
    for i in range(args.bench_steps + 3):
        t0 = time.perf_counter()
        sgd_step(net, opt, batch, clip=plan["clip"], device=device, bf16=args.bf16)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:  # warm-up steps are not timed
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


# ---------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="Resumable reader training runs.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan", help="create a run directory and its plan")
    p.add_argument("run", type=Path)
    p.add_argument("--arch", default="reader48", choices=sorted(ARCHS))
    p.add_argument("--widths", help="comma-separated layer widths (default: the arch's)")
    p.add_argument("--steps", type=int, required=True, help="the whole run's length")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--ramp", type=int, default=4000, help="steps until full augmentation")
    p.add_argument("--val-size", type=int, default=1000)

    t = sub.add_parser("train", help="one step of a run: resume, train, checkpoint")
    t.add_argument("run", type=Path)
    t.add_argument("--resume", action="store_true", help="go on from the run's checkpoint")
    t.add_argument("--until", type=int, help="stop at this global step")
    t.add_argument("--minutes", type=float, help="stop after this much wall time")
    t.add_argument("--stop-at", type=float, help="stop at this Unix time (a budget's end)")
    t.add_argument("--ckpt-minutes", type=float, default=30.0, help="checkpoint this often")
    t.add_argument("--workers", type=int, default=1, help="render processes (0: in-process)")
    t.add_argument("--threads", type=int, default=1, help="torch threads")
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    t.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    t.add_argument(
        "--publish",
        type=Path,
        help="copy plan, history, checkpoint here too: mid-run when its validation beats "
        "the copy there, always when the run stops",
    )
    t.add_argument("--log-every", type=int, default=100)

    e = sub.add_parser("export", help="ONNX, int8 screen and cards of the checkpoint")
    e.add_argument("run", type=Path)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--version", required=True)
    e.add_argument("--no-metrics", action="store_true", help="skip the measurements")
    e.add_argument("--calibration", type=int, help="crops the int8 screen is calibrated on")

    r = sub.add_parser("replan", help="a new end for a stopped run, from a step it has not passed")
    r.add_argument("run", type=Path)
    r.add_argument("--steps", type=int, required=True, help="the run's new length")
    r.add_argument("--at", type=int, required=True, help="the step the new schedule starts at")

    s = sub.add_parser("status", help="how far the run got")
    s.add_argument("run", type=Path)

    b = sub.add_parser("bench", help="crops/s by render workers, or seconds a training step")
    b.add_argument("run", type=Path)
    b.add_argument("--what", choices=("render", "step"), required=True)
    b.add_argument("--workers", type=int, default=1)
    b.add_argument("--batches", type=int, default=12)
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--device", default="cpu")
    b.add_argument("--bf16", action="store_true")
    b.add_argument("--bench-steps", type=int, default=20)
    return ap


def _status(run: Path) -> dict[str, Any]:
    plan = load_plan(run)
    history = json.loads((run / HISTORY).read_text()) if (run / HISTORY).exists() else []
    step = history[-1]["to"] if history else 0
    return {
        "run": str(run),
        "step": step,
        "total_steps": plan["total_steps"],
        "lr_now": lr_at(plan, step),
        "wall_hours": round(sum(h["wall_s"] for h in history) / 3600, 2),
        "history": history,
    }


def _write_plan(args: argparse.Namespace) -> None:
    """``plan``: create the run directory and its plan (never over an existing one)."""
    if (args.run / PLAN).exists():
        raise RunError(f"{args.run / PLAN} exists: a plan is fixed once the run starts")
    widths = [int(w) for w in args.widths.split(",")] if args.widths else None
    plan = make_plan(
        arch=args.arch,
        total_steps=args.steps,
        seed=args.seed,
        batch=args.batch,
        lr=args.lr,
        warmup=args.warmup,
        ramp=args.ramp,
        val_size=args.val_size,
        widths=widths,
    )
    args.run.mkdir(parents=True, exist_ok=True)
    _atomic_write(args.run / PLAN, json.dumps(plan, indent=2) + "\n")
    print(f"planned {args.run}: {plan['arch']}, {plan['total_steps']} steps")


def main(argv: list[str] | None = None) -> int:
    """Command line; one clear line and exit 2 on a bad run directory."""
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "plan":
            _write_plan(args)
        elif args.cmd == "train":
            Trainer(args.run, args).train()
        elif args.cmd == "export":
            card = export(
                args.run,
                args.out,
                args.version,
                metrics=not args.no_metrics,
                calibration=args.calibration,
            )
            print(f"wrote {card}")
        elif args.cmd == "replan":
            plan = replan(args.run, args.steps, args.at)
            print(
                f"re-planned {args.run}: {plan['total_steps']} steps, from step {args.at} "
                f"at lr {lr_at(plan, args.at):.2e}"
            )
        elif args.cmd == "status":
            print(json.dumps(_status(args.run), indent=2))
        elif args.what == "render":
            rate = bench_render(load_plan(args.run), args.workers, args.batches)
            print(json.dumps({"workers": args.workers, "crops_per_s": round(rate, 1)}))
        else:
            secs = bench_step(load_plan(args.run), args)
            plan = load_plan(args.run)
            print(
                json.dumps(
                    {
                        "device": args.device,
                        "threads": args.threads,
                        "bf16": args.bf16,
                        "batch": plan["batch"],
                        "s_per_step": round(secs, 4),
                        "crops_per_s": round(plan["batch"] / secs, 1),
                    }
                )
            )
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
