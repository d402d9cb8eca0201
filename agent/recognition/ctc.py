"""Pure pre- and post-processing for a CTC plate reader (no I/O, no sessions).

The training code imports these same functions, so the model sees at training time
exactly the pixels it sees in the field.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from agent.core.events import mean_conf

__all__ = [
    "Decoded",
    "InputSpec",
    "ctc_greedy",
    "normalise",
    "prepare",
    "split_two_line",
    "to_gray_input",
]

Image = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class InputSpec:
    """The reader's input contract, as its card states it."""

    height: int
    width: int
    mean: float  # input = (pixel - mean) / std, pixel in 0..255
    std: float


@dataclass(frozen=True, slots=True)
class Decoded:
    """A greedy CTC decoding: text and one per-mille confidence per character."""

    text: str
    char_conf: tuple[int, ...]

    @property
    def mean_conf(self) -> float:
        """Mean character confidence in 0..1 (0 for an empty read)."""
        return mean_conf(self.char_conf)


def split_two_line(gray: Image) -> Image:
    """Put the top and bottom halves of a two-line plate side by side.

    A CTC reader emits one left-to-right sequence; a square two-line plate becomes a
    one-line strip (top line first) that the same model reads. The halves overlap a
    little so a line sitting off-centre is not cut in two.
    """
    h = gray.shape[0]
    top = gray[: max(1, round(h * 0.54))]
    bottom = gray[min(h - 1, round(h * 0.46)) :]
    rows = max(top.shape[0], bottom.shape[0])
    top_r = cv2.resize(top, (top.shape[1], rows), interpolation=cv2.INTER_LINEAR)
    bottom_r = cv2.resize(bottom, (bottom.shape[1], rows), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(np.hstack([top_r, bottom_r]), dtype=np.uint8)


def _gray(image: Image) -> Image:
    if image.ndim == 2:
        return image
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def to_gray_input(image: Image, height: int, width: int) -> Image:
    """Grey (BT.601), stretched to height x width: the uint8 picture the model sees."""
    gray = _gray(image)
    shrink = gray.shape[0] > height or gray.shape[1] > width
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(gray, (width, height), interpolation=interp), dtype=np.uint8)


def normalise(gray: Image, spec: InputSpec) -> Floats:
    """uint8 HxW -> float32 1xHxW, normalised as the card says."""
    return ((gray.astype(np.float32) - spec.mean) / spec.std)[None]


def prepare(image: Image, spec: InputSpec, *, two_line: bool = False) -> Floats:
    """A BGR (or grey) crop -> the model's 1xHxW input; ``two_line`` splits it first."""
    if image.ndim not in (2, 3) or image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"not a usable crop: shape {image.shape}")
    gray = _gray(image)
    if two_line:
        gray = split_two_line(gray)
    return normalise(to_gray_input(gray, spec.height, spec.width), spec)


def ctc_greedy(probs: Floats, alphabet: str, blank: int) -> Decoded:
    """Greedy CTC decoding of one TxC probability matrix.

    Repeats collapse, blanks drop; a character's confidence is the best probability
    over the frames that emitted it.
    """
    if probs.ndim != 2:
        raise ValueError(f"expected T x C probabilities, got shape {probs.shape}")
    best = probs.argmax(axis=1)
    text: list[str] = []
    conf: list[int] = []
    prev = blank
    for t, k in enumerate(best.tolist()):
        if k != blank:
            p = float(probs[t, k])
            if k != prev:
                text.append(alphabet[k - 1 if k > blank else k])
                conf.append(round(p * 1000))
            else:
                conf[-1] = max(conf[-1], round(p * 1000))
        prev = k
    return Decoded("".join(text), tuple(conf))
