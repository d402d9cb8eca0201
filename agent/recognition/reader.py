"""The plate reader: a thin onnxruntime session around a card-conforming CTC model.

The card (JSON next to the ``.onnx``) is the contract: its sha256 must match the
model file and its input/output spec must match the graph, or loading fails with
``ReaderError`` (the CLI exits 2). Any model that honours the card loads, so a
vendor swaps the reader by pointing ``recognition.reader_card`` at their own.
Pre- and post-processing are the pure functions of ``agent.ocr``, ``agent.syntax`` and
``agent.fitctc``; this module only owns the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from agent.core.events import PlateText
from agent.recognition.cards import check_rules, need, open_session, read_card, verified_model
from agent.recognition.ctc import InputSpec, ctc_greedy, prepare
from agent.recognition.syntaxfit import MAX_GAP, Settled, log_likelihood, settle

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["PlateReader", "ReaderCard", "ReaderError", "Views", "load_card"]

TASK = "plate-text-ctc"
# One crop's model outputs (T x C each): the crop whole, and split in two lines where
# it may hold a two-line plate; empty for a degenerate crop.
Views = list[npt.NDArray[np.float32]]
# Crops narrower than this (width / height) may hold a two-line plate.
TWO_LINE_MAX_ASPECT = 2.0
MIN_CHARS = 2


class ReaderError(Exception):
    """The reader's card or model is missing, tampered with, or breaks the contract."""


@dataclass(frozen=True, slots=True)
class ReaderCard:
    """The parts of a reader card the agent relies on."""

    name: str
    version: str
    model_path: Path
    sha256: str
    input_name: str
    spec: InputSpec
    alphabet: str
    blank: int
    two_line_split: bool

    @property
    def classes(self) -> int:
        """Number of output classes (alphabet plus the blank)."""
        return len(self.alphabet) + 1


def _need(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:  # noqa: ANN401
    return need(obj, key, kind, where, ReaderError)


_RULES = (
    ("input", "layout", "NCHW"),
    ("input", "dtype", "float32"),
    ("input", "colour", "gray"),
    ("input", "resize", "stretch"),
    ("output", "layout", "NTC"),
    ("output", "activation", "softmax"),
    ("output", "decoding", "ctc-greedy"),
)


def _read_json(path: Path) -> dict[str, Any]:
    return read_card(path, "reader", ReaderError)


def _input_spec(raw: dict[str, Any], where: str) -> InputSpec:
    """The card's input spec, after checking it is one this agent can feed."""
    if raw.get("task") != TASK:
        raise ReaderError(f"{where}: task must be {TASK!r}, got {raw.get('task')!r}")
    check_rules(raw, _RULES, where, ReaderError)
    inp = raw["input"]
    shape = _need(inp, "shape", list, where)
    if len(shape) != 4 or shape[1] != 1 or not all(isinstance(v, int) and v > 0 for v in shape[2:]):
        raise ReaderError(f"{where}: input shape must be [batch, 1, H, W], got {shape!r}")
    norm = _need(inp, "normalisation", dict, where)
    std = float(_need(norm, "std", float, where))
    if std <= 0:
        raise ReaderError(f"{where}: normalisation std must be > 0")
    return InputSpec(shape[2], shape[3], float(_need(norm, "mean", float, where)), std)


def _verified_model(card_path: Path, raw: dict[str, Any]) -> tuple[Path, str]:
    """The model file next to the card, after checking its sha256."""
    return verified_model(card_path, raw, "reader", ReaderError)


def load_card(path: Path) -> ReaderCard:
    """Read and check a reader card and the sha256 of the model beside it."""
    raw = _read_json(path)
    where = str(path)
    spec = _input_spec(raw, where)
    alphabet = _need(raw, "alphabet", str, where)
    if not alphabet or len(set(alphabet)) != len(alphabet) or not alphabet.isalnum():
        raise ReaderError(f"{where}: alphabet must be distinct A-Z0-9 characters")
    blank = _need(raw, "blank_index", int, where)
    if not 0 <= blank <= len(alphabet):
        raise ReaderError(f"{where}: blank_index {blank} outside 0..{len(alphabet)}")
    model, digest = _verified_model(path, raw)
    return ReaderCard(
        name=_need(raw, "name", str, where),
        version=_need(raw, "version", str, where),
        model_path=model,
        sha256=digest,
        input_name=_need(raw["input"], "name", str, where),
        spec=spec,
        alphabet=alphabet.upper(),
        blank=blank,
        two_line_split=raw["input"].get("two_line") == "split",
    )


def _pick(candidates: list[Settled]) -> Settled | None:
    """The read whose settled characters the model is surest of.

    A two-line plate read as one line is a jumble that a syntax may still fit with a
    few unsure characters; read split, it is sure throughout. Ranking on the settled
    text's own confidences (not on "some syntax fits") lets the sure read win.
    """
    if not candidates:
        return None
    return max(candidates, key=lambda c: c.mean_conf)


def _as_plate(best: Settled | None) -> PlateText | None:
    return None if best is None else PlateText(best.text, best.char_conf, best.country)


class PlateReader:
    """Reads plate crops with a card-conforming ONNX CTC model."""

    def __init__(
        self,
        card_path: Path,
        *,
        threads: int = 1,
        countries: tuple[str, ...] = ("B", "NL", "F", "D", "L"),
        threshold: float = 0.6,
        max_gap: float = MAX_GAP,
    ) -> None:
        self.card = load_card(card_path)
        self.countries = countries
        self.threshold = threshold
        self.max_gap = max_gap
        self._session = open_session(self.card.model_path, threads, ReaderError)
        self._check_graph()
        self.infer(np.zeros((1, 1, self.card.spec.height, self.card.spec.width), np.float32))

    def _check_graph(self) -> None:
        card = self.card
        inputs = self._session.get_inputs()
        where = str(card.model_path)
        if len(inputs) != 1 or inputs[0].name != card.input_name:
            raise ReaderError(f"{where}: graph input is not {card.input_name!r} as the card says")
        shape = list(inputs[0].shape)
        if shape[1:] != [1, card.spec.height, card.spec.width]:
            raise ReaderError(
                f"{where}: graph input shape {shape} does not match the card's "
                f"[batch, 1, {card.spec.height}, {card.spec.width}]"
            )
        out_shape = list(self._session.get_outputs()[0].shape)
        if out_shape[-1] != card.classes:
            raise ReaderError(
                f"{where}: graph has {out_shape[-1]} classes, the card's alphabet needs "
                f"{card.classes}"
            )

    def infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Run the model on an N x 1 x H x W batch; N x T x C probabilities."""
        out = self._session.run(None, {self.card.input_name: batch})[0]
        return np.asarray(out, dtype=np.float32)

    def read_many(self, crops: Sequence[npt.NDArray[np.uint8]]) -> list[PlateText | None]:
        """Read each crop (BGR or grey) as one plate, in one batch; None where none is read."""
        return [self.read_outputs(views) for views in self.outputs(crops)]

    def outputs(self, crops: Sequence[npt.NDArray[np.uint8]]) -> list[Views]:
        """Each crop's T x C outputs (its ``Views``), all crops in one batch."""
        inputs: list[npt.NDArray[np.float32]] = []
        owners: list[int] = []
        for i, crop in enumerate(crops):
            if crop.ndim not in (2, 3) or min(crop.shape[:2]) < 2:
                continue  # nothing to read in a degenerate box: no plate, not an error
            inputs.append(prepare(crop, self.card.spec))
            owners.append(i)
            h, w = crop.shape[:2]
            if self.card.two_line_split and w < TWO_LINE_MAX_ASPECT * h:
                inputs.append(prepare(crop, self.card.spec, two_line=True))
                owners.append(i)
        views: list[Views] = [[] for _ in crops]
        if inputs:
            for owner, p in zip(owners, self.infer(np.stack(inputs)), strict=True):
                views[owner].append(p)
        return views

    def read_outputs(self, views: Views) -> PlateText | None:
        """One crop's read from its outputs (``outputs``); None when none is read."""
        return _as_plate(_pick(self._settled(views)))

    def read_fused(self, crops: Sequence[Views]) -> tuple[PlateText, int] | None:
        """One plate cut several ways (looser, tighter, corners found again): one read.

        ``crops`` holds each cut's outputs (``outputs``). Each cut's own read is a
        candidate; the cuts together weigh each candidate by the sum of its CTC
        log-likelihoods (``fitctc.log_likelihood``, per cut its likelier view), and
        candidates a configured syntax accepts go first. A cut that clips a stroke
        may be sure of a wrong character, yet the other cuts still find the true
        text likelier. Returns the read and the index of the cut surest of it; None
        when no cut reads as a plate.
        """
        best: dict[str, tuple[Settled, int]] = {}
        for i, views in enumerate(crops):
            for s in self._settled(views):
                if s.text not in best or s.mean_conf > best[s.text][0].mean_conf:
                    best[s.text] = (s, i)
        if not best:
            return None
        pool = [c for c in best.values() if c[0].country is not None] or list(best.values())
        card = self.card

        def weight(candidate: tuple[Settled, int]) -> float:
            text = candidate[0].text
            return sum(
                max(log_likelihood(p, text, card.alphabet, card.blank) for p in views)
                for views in crops
                if views
            )

        settled, index = max(pool, key=weight)
        return PlateText(settled.text, settled.char_conf, settled.country), index

    def _settled(self, views: Views) -> list[Settled]:
        """The views' reads, settled against the syntaxes; none below the threshold."""
        out = []
        for p in views:
            decoded = ctc_greedy(p, self.card.alphabet, self.card.blank)
            if len(decoded.text) < MIN_CHARS or decoded.mean_conf < self.threshold:
                continue  # no plate here: not worth settling (false boxes are common)
            out.append(settle(p, decoded, self.card, self.countries, self.max_gap))
        return out

    def read(self, crop: npt.NDArray[np.uint8]) -> PlateText | None:
        """Read one crop; None when it holds no confident plate."""
        return self.read_many([crop])[0]
