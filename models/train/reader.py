"""Train, export and card the plate reader: one command reproduces the shipped ``reader.onnx``.

    python -m models.train.reader --out agent/recognition/models/ --threads 2

Renders (or reuses) the cached synthetic dataset, trains the CTC network from a
fixed seed with a curriculum (augmentation ramps up, because a CTC model started
on hard crops stalls at "predict nothing"), checkpoints every ``--ckpt-every``
steps so a killed or time-boxed run resumes where it stopped (``--resume``),
exports ONNX, checks ONNX-vs-torch parity and writes the card with measured
metrics. Torch lives here only; the agent never imports it.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from agent.recognition.ctc import InputSpec
from models.train import card as cardmod
from models.train.data import ALPHABET, BLANK, HEIGHT, WIDTH, ensure_shards, load_shards
from models.train.finetune import load_labelled_crops
from models.train.net import ReaderNet

MEAN, STD = 127.5, 127.5


def _batch(data: dict[str, np.ndarray], idx: np.ndarray) -> tuple[torch.Tensor, ...]:
    x = torch.from_numpy((data["images"][idx].astype(np.float32) - MEAN) / STD)[:, None]
    lengths = torch.from_numpy(data["lengths"][idx].astype(np.int64))
    labels = data["labels"][idx].astype(np.int64)
    targets = torch.from_numpy(
        np.concatenate([lab[:n] for lab, n in zip(labels, lengths, strict=True)])
    )
    return x, targets, lengths


def greedy_texts(logits: torch.Tensor) -> list[str]:
    """Greedy CTC decoding of N x T x C logits (for validation)."""
    out = []
    for row in logits.argmax(-1).tolist():
        chars, prev = [], BLANK
        for k in row:
            if k not in (BLANK, prev):
                chars.append(ALPHABET[k - 1])
            prev = k
        out.append("".join(chars))
    return out


def label_texts(data: dict[str, np.ndarray], idx: np.ndarray) -> list[str]:
    """Ground-truth texts of rows ``idx``."""
    return ["".join(ALPHABET[k - 1] for k in data["labels"][i][: data["lengths"][i]]) for i in idx]


@torch.no_grad()
def evaluate(net: nn.Module, data: dict[str, np.ndarray], batch: int = 256) -> float:
    """Exact-match rate of ``net`` on a dataset."""
    net.eval()
    hits = 0
    n = len(data["lengths"])
    for s in range(0, n, batch):
        idx = np.arange(s, min(n, s + batch))
        x, _, _ = _batch(data, idx)
        hits += sum(
            p == t for p, t in zip(greedy_texts(net(x)), label_texts(data, idx), strict=True)
        )
    net.train()
    return hits / n


def _lr(step: int, total: int, peak: float, warmup: int = 500) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def phases(spec: str) -> list[tuple[int, int]]:
    """Parse ``--steps``: "7000" or e.g. "5500:3000,7000".

    The latter is a cosine schedule over 5500 steps followed until step 3000, then
    one over 7000 steps to its end.
    This is how a run that was extended part-way is written down so that one
    command replays it exactly.
    """
    out = []
    for part in spec.split(","):
        total, _, stop = part.partition(":")
        out.append((int(total), int(stop or total)))
    if any(b[1] <= a[1] for a, b in itertools.pairwise(out)) or out[-1][0] != out[-1][1]:
        raise argparse.ArgumentTypeError(f"bad --steps {spec!r}: stops must increase")
    return out


def _total_at(step: int, plan: list[tuple[int, int]]) -> int:
    return next((total for total, stop in plan if step < stop), plan[-1][0])


def _curriculum(step: int, ramp: int) -> float:
    """Highest degradation level allowed at ``step``: 0.25 at the start, 1 after ``ramp``."""
    return min(1.0, 0.25 + 0.75 * step / max(1, ramp))


def _load_data(
    args: argparse.Namespace,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
    """Synthetic training rows (then any operator crops), validation rows, synthetic count."""
    train_paths = ensure_shards(args.cache, args.seed, args.shards, args.per_shard, args.workers)
    data = load_shards(train_paths)
    val = load_shards(ensure_shards(args.cache, args.seed + 1000, 1, args.val_size, 1))
    n_syn = len(data["lengths"])
    if args.finetune is not None:
        extra = load_labelled_crops(args.finetune)
        data = {k: np.concatenate([data[k], extra[k]]) for k in data}
    return data, val, n_syn


def _save(ckpt: Path, state: dict[str, object]) -> None:
    tmp = ckpt.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(ckpt)  # atomic: a kill mid-save leaves the previous checkpoint


def _sgd_step(net: nn.Module, opt: torch.optim.Optimizer, batch: tuple[torch.Tensor, ...]) -> float:
    x, targets, lengths = batch
    logp = net(x).log_softmax(-1).permute(1, 0, 2)  # T x N x C
    t_len = torch.full((x.shape[0],), logp.shape[0], dtype=torch.int64)
    loss = nn.functional.ctc_loss(logp, targets, t_len, lengths, blank=BLANK, zero_infinity=True)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(net.parameters(), 5.0)
    opt.step()
    return loss.item()


def train(args: argparse.Namespace) -> Path:
    """Train (or resume) to the end of ``args.steps``; return the checkpoint path."""
    plan = phases(args.steps)
    final = plan[-1][1]
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    ckpt = args.out / "train" / "reader.ckpt.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    data, val, n_syn = _load_data(args)
    n_op = len(data["lengths"]) - n_syn
    net = ReaderNet(len(ALPHABET) + 1)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    rng = np.random.default_rng(args.seed)
    step, best = 0, -1.0
    if args.init is not None:  # start from another model's weights (fine-tuning)
        net.load_state_dict(torch.load(args.init, weights_only=False)["model"])
    if args.resume and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        step, best = state["step"], state.get("best", -1.0)
        print(f"resumed at step {step} (best val exact {best:.4f})", flush=True)
    levels = data["levels"][:n_syn]
    t0, seen, run_loss = time.monotonic(), 0, 0.0
    net.train()
    while step < final:
        allowed = np.flatnonzero(levels <= _curriculum(step, args.ramp))
        idx = allowed[rng.integers(0, len(allowed), args.batch)]
        if n_op:  # replace a share of the batch by the operator's own crops
            k = round(args.batch * args.finetune_mix)
            idx[:k] = n_syn + rng.integers(0, n_op, k)
        lr = _lr(step, _total_at(step, plan), args.lr)
        for group in opt.param_groups:
            group["lr"] = lr
        loss = _sgd_step(net, opt, _batch(data, idx))
        step += 1
        seen += len(idx)
        run_loss = 0.98 * run_loss + 0.02 * loss if step > 1 else loss
        if step % args.log_every == 0:
            rate = seen / (time.monotonic() - t0)
            print(
                f"step {step} loss {run_loss:.3f} lr {lr:.2e} "
                f"level<={_curriculum(step, args.ramp):.2f} {rate:.0f} samples/s",
                flush=True,
            )
        if step % args.ckpt_every == 0 or step == final:
            acc = evaluate(net, val)
            best = max(best, acc)
            print(f"step {step} val exact {acc:.4f}", flush=True)
            _save(
                ckpt,
                {
                    "model": net.state_dict(),
                    "opt": opt.state_dict(),
                    "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(),
                    "step": step,
                    "best": best,
                    "val_exact": acc,
                    "args": {k: str(v) for k, v in vars(args).items()},
                },
            )
    return ckpt


def main() -> None:
    """Command line: train/resume, then export, check parity and write the card."""
    ap = argparse.ArgumentParser(description="Train and export the anpr-edge plate reader.")
    ap.add_argument("--out", type=Path, default=Path("agent/recognition/models"))
    ap.add_argument("--cache", type=Path, default=Path(".cache/reader-data"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shards", type=int, default=64)
    ap.add_argument("--per-shard", type=int, default=4000)
    ap.add_argument("--val-size", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2, help="render processes")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument(
        "--steps", default="5500:3000,10000:3500,5000:5000,7000", help="schedule plan, see phases()"
    )
    ap.add_argument("--ramp", type=int, default=2000, help="steps until full augmentation")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--ckpt-every", type=int, default=1000)
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    ap.add_argument("--export-only", action="store_true", help="skip training")
    ap.add_argument("--init", type=Path, help="start from this checkpoint's weights")
    ap.add_argument("--finetune", type=Path, metavar="DIR", help="operator crops (labels.tsv)")
    ap.add_argument("--finetune-mix", type=float, default=0.3, help="their share of a batch")
    ap.add_argument("--version", default="0.2.0")
    args = ap.parse_args()
    ckpt = args.out / "train" / "reader.ckpt.pt"
    if not args.export_only:
        ckpt = train(args)
    cardmod.export_and_card(ckpt, args.out, args, InputSpec(HEIGHT, WIDTH, MEAN, STD))


if __name__ == "__main__":
    main()
