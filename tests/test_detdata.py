"""The detector's synthetic scenes pose plates as a camera sees them (models/train/detdata.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.train.detdata import project_plate, render_scene


def _edges(q: np.ndarray) -> tuple[float, float, float]:
    """Mean width, left and right edge heights of a quad (clockwise from top-left)."""
    width = (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    return float(width), float(np.linalg.norm(q[3] - q[0])), float(np.linalg.norm(q[2] - q[1]))


def test_a_plate_seen_square_on_keeps_its_size() -> None:
    q = project_plate(100, 22, 0.0, 0.0, 5.0)
    np.testing.assert_allclose(q, [[0, 0], [100, 0], [100, 22], [0, 22]], atol=1e-9)


@pytest.mark.parametrize("degrees", [30, 60])
def test_a_turned_plate_is_foreshortened_and_its_near_edge_taller(degrees: int) -> None:
    yaw = math.radians(degrees)
    width, left, right = _edges(project_plate(100, 22, yaw, 0.0, 4.0))
    assert width == pytest.approx(100 * math.cos(yaw), rel=0.08)
    assert right > 22 > left  # turned about the vertical: its right side nearer the camera
    w_far, left_far, right_far = _edges(project_plate(100, 22, yaw, 0.0, 40.0))
    assert right_far / left_far < right / left  # further away, weaker perspective
    assert w_far == pytest.approx(100 * math.cos(yaw), rel=0.01)


def test_a_plate_seen_from_above_is_shorter() -> None:
    q = project_plate(100, 22, 0.0, math.radians(30), 8.0)
    height = float(np.ptp(q[:, 1]))
    assert height == pytest.approx(22 * math.cos(math.radians(30)), rel=0.05)


def test_scenes_hold_steep_views_as_well_as_square_ones() -> None:
    rng = np.random.default_rng(4)
    aspects = []
    for _ in range(60):
        _, quads = render_scene(rng)
        for q in quads:
            width, left, right = _edges(q.astype(np.float64))
            aspects.append(width / max(left, right))
    aspects_a = np.array(aspects)
    assert len(aspects_a) > 40
    assert (aspects_a < 2.5).mean() > 0.1  # steep views (and two-line plates)
    assert (aspects_a > 3.5).mean() > 0.4  # most one-line plates near square on
