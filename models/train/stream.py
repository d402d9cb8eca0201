"""Training crops rendered on the fly, in worker processes, reproducibly.

A long run cannot cache its data: it sees millions of crops, and a run resumed
weeks later should train on the renderer of that day. So each batch is rendered
when it is needed, by a pool of processes that keeps a few batches ahead of the
trainer. Crop ``i`` of step ``s`` is drawn from its own generator seeded with
``(seed, s, i)``: a batch is the same whichever worker renders it and however
many workers there are, a resumed run sees exactly the data it would have seen,
and more cores mean proportionally more crops a second.

No torch here: the workers import this module and nothing heavier.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

import cv2
import numpy as np

from agent.recognition.ctc import split_two_line, to_gray_input
from models.train.data import MAX_LEN, WEIGHTS, encode
from simulator.plates import render_plate

if TYPE_CHECKING:
    from collections.abc import Iterable
    from multiprocessing.pool import AsyncResult, Pool
    from types import TracebackType

_COUNTRIES = list(WEIGHTS)
_P = np.array([WEIGHTS[c] for c in _COUNTRIES]) / sum(WEIGHTS.values())


@dataclass(frozen=True, slots=True)
class Job:
    """One batch to render: the crops of ``step`` of a run seeded ``seed``."""

    seed: int
    step: int
    size: int
    level_cap: float  # degradation levels are drawn uniformly from [0, level_cap]
    height: int
    width: int


@dataclass(frozen=True, slots=True)
class Batch:
    """Model-ready grey crops (uint8 N x H x W) and their labels (class ids, 0-padded)."""

    step: int
    images: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray


def render_crop(job: Job, index: int) -> tuple[np.ndarray, str]:
    """Crop ``index`` of ``job``'s batch: the grey picture the model sees, and its text."""
    rng = np.random.default_rng([job.seed, job.step, index])
    level = float(rng.uniform(0.0, job.level_cap))
    country = _COUNTRIES[int(rng.choice(len(_COUNTRIES), p=_P))]
    plate = render_plate(rng, country, level=level)
    gray = np.asarray(cv2.cvtColor(plate.image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    if plate.spec.lines == 2:
        gray = split_two_line(gray)
    return to_gray_input(gray, job.height, job.width), plate.text


def render_batch(job: Job) -> Batch:
    """Render one batch (a pure function of ``job``)."""
    images = np.zeros((job.size, job.height, job.width), np.uint8)
    labels = np.zeros((job.size, MAX_LEN), np.uint8)
    lengths = np.zeros(job.size, np.uint8)
    for i in range(job.size):
        img, text = render_crop(job, i)
        ids = encode(text)
        images[i], labels[i, : len(ids)], lengths[i] = img, ids, len(ids)
    return Batch(job.step, images, labels, lengths)


def _quiet_worker() -> None:
    """A render worker uses one core and keeps out of the trainer's way."""
    cv2.setNumThreads(1)
    os.environ["OMP_NUM_THREADS"] = "1"


class BatchStream:
    """Batches for consecutive steps, rendered ``ahead`` steps in advance by ``workers``.

    ``jobs`` may be a lazy iterator (a run of a million steps). ``workers=0``
    renders in the calling process. Use as a context manager; ``get`` must be
    called with ``jobs``' steps in order.
    """

    def __init__(self, jobs: Iterable[Job], workers: int, ahead: int | None = None) -> None:
        self._todo = iter(jobs)
        self._workers = workers
        self._ahead = ahead if ahead is not None else max(2, 2 * workers)
        self._pool: Pool | None = None
        self._pending: deque[tuple[int, AsyncResult[Batch]]] = deque()

    def __enter__(self) -> Self:
        if self._workers > 0:
            ctx = multiprocessing.get_context("spawn")
            self._pool = ctx.Pool(self._workers, initializer=_quiet_worker)
            self._fill()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def _fill(self) -> None:
        while self._pool is not None and len(self._pending) < self._ahead:
            job = next(self._todo, None)
            if job is None:
                return
            self._pending.append((job.step, self._pool.apply_async(render_batch, (job,))))

    def get(self, step: int) -> Batch:
        """The batch of ``step`` (the next one in order)."""
        if self._pool is None:
            job = next(self._todo, None)
            if job is None or job.step != step:
                raise ValueError(f"asked for step {step}, next job is {job}")
            return render_batch(job)
        self._fill()
        at, pending = self._pending.popleft()
        if at != step:
            raise ValueError(f"asked for step {step}, next job is step {at}")
        batch = pending.get()
        self._fill()
        return batch
