"""Synthetic number plates with exact ground truth, for training and testing the reader.

``render_plate(rng, country)`` draws a plate of a country's real syntax and style
(the format table ``plateformats``, ``docs/PLATES-EUROPE.md``), puts it into a
camera-like crop and returns the image with its text and the quadrilateral of
every character in crop coordinates. Without a country, one is drawn with
``weights`` (default ``BELGIAN_TRAFFIC``). The scene renderer reuses
``draw_plate`` and ``place`` to put plates on vehicles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from simulator.plates.degrade import photometric, place
from simulator.plates.draw import FlatPlate, draw_plate
from simulator.plates.formats import (
    BELGIAN_TRAFFIC,
    COUNTRIES,
    EUROPE,
    PlateSpec,
    load_weights,
    parse_weights,
    random_spec,
    sample_country,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "BELGIAN_TRAFFIC",
    "COUNTRIES",
    "EUROPE",
    "RENDER_VERSION",
    "CharBox",
    "FlatPlate",
    "PlateSpec",
    "RenderedPlate",
    "draw_plate",
    "load_weights",
    "parse_weights",
    "random_spec",
    "render_plate",
    "sample_country",
]

# Bump when a change alters what the renderer draws for a given seed: training caches
# name their shards with it, so data of an older renderer is never mixed into a run.
# v9: Europe from one format table (40 countries), Belgian-traffic weights, EU = the
# rest of Europe's real series; gaps and furniture shrink with the characters to fit.
# v10: motion blur runs mostly up or down the plate (vehicles drive towards the camera).
# v11: motion blur as long as a night exposure smears a moving plate (up to 35 % of its
# height at level 1, before: ~7 %), and a little more often.
RENDER_VERSION = 11

Quad = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]


@dataclass(frozen=True, slots=True)
class CharBox:
    """One ground-truth character and its corners (clockwise from top-left) in the crop."""

    char: str
    quad: Quad


@dataclass(frozen=True, slots=True)
class RenderedPlate:
    """A rendered plate crop and its ground truth."""

    image: npt.NDArray[np.uint8] = field(repr=False)  # BGR, HxWx3
    spec: PlateSpec
    plate_quad: Quad  # the plate's corners in the crop
    chars: tuple[CharBox, ...]  # in reading order (top line first)

    @property
    def text(self) -> str:
        """The plate's characters, A-Z0-9."""
        return self.spec.text


def _as_quad(points: npt.NDArray[np.float64]) -> Quad:
    p = [(round(float(x), 2), round(float(y), 2)) for x, y in points]
    return (p[0], p[1], p[2], p[3])


def render_plate(
    rng: np.random.Generator,
    country: str | None = None,
    *,
    level: float = 1.0,
    spec: PlateSpec | None = None,
    weights: Mapping[str, float] | None = None,
) -> RenderedPlate:
    """Render a random plate of ``country`` (or ``spec``) as a degraded crop.

    ``level`` in 0..1 scales every degradation; 0 gives a clean, frontal crop.
    Without ``country`` and ``spec`` the country is drawn with ``weights``.
    """
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"level must be within 0..1, got {level}")
    spec = spec if spec is not None else random_spec(rng, country, weights=weights)
    flat = draw_plate(spec, rng, level)
    crop, hom, quad = place(flat.image, flat.corners, rng, level)
    image = photometric(crop, quad, rng, level)
    boxes = np.array(
        [[(x0, y0), (x1, y0), (x1, y1), (x0, y1)] for x0, y0, x1, y1 in flat.char_boxes],
        np.float32,
    ).reshape(-1, 1, 2)
    moved = cv2.perspectiveTransform(boxes, hom).reshape(-1, 4, 2).astype(np.float64)
    chars = tuple(CharBox(c, _as_quad(q)) for c, q in zip(spec.text, moved, strict=True))
    return RenderedPlate(image, spec, _as_quad(quad), chars)
