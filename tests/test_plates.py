"""The synthetic plate renderer: real syntaxes, exact ground truth, reproducible."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest

from agent.recognition.syntax import check
from simulator.cli import main as sim_main
from simulator.plates import COUNTRIES, draw, random_spec, render_plate
from simulator.plates.glyphs import available_fonts, glyph

if TYPE_CHECKING:
    from pathlib import Path

    from simulator.plates.formats import Sep

# The agent's configured syntaxes for the home market and its neighbours (Luxembourg's
# digit-only custom plates are in the format table, not yet in the agent's syntax).
AGENT_SYNTAX_COUNTRIES = ("B", "NL", "F", "D")


@pytest.mark.parametrize("country", AGENT_SYNTAX_COUNTRIES)
def test_the_agents_syntax_accepts_every_plate_drawn_for_the_neighbours(country: str) -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        spec = random_spec(rng, country)
        match = check(spec.text, (country,), max_fixes=0)
        assert match.country == country, spec


@pytest.mark.parametrize("country", COUNTRIES)
def test_each_country_renders_with_char_boxes_inside_the_crop(country: str) -> None:
    rng = np.random.default_rng(11)
    for level in (0.0, 0.5, 1.0):
        plate = render_plate(rng, country, level=level)
        h, w = plate.image.shape[:2]
        assert plate.image.dtype == np.uint8
        assert plate.image.shape[2] == 3
        assert "".join(c.char for c in plate.chars) == plate.text
        assert plate.text.isalnum()
        assert plate.text == plate.text.upper()
        for c in plate.chars:
            xs = [p[0] for p in c.quad]
            ys = [p[1] for p in c.quad]
            # a tight crop may clip the plate edge by a few pixels, never a whole character
            assert -0.1 * w < min(xs) < max(xs) < 1.1 * w
            assert -0.2 * h < min(ys) < max(ys) < 1.2 * h


def test_reading_order_is_left_to_right_on_one_line() -> None:
    plate = render_plate(np.random.default_rng(5), "B", level=0.0)
    centres = [sum(p[0] for p in c.quad) / 4 for c in plate.chars]
    assert centres == sorted(centres)


def test_two_line_plates_put_the_first_groups_above() -> None:
    rng = np.random.default_rng(0)
    spec = next(s for s in (random_spec(rng, "F") for _ in range(500)) if s.lines == 2)
    plate = render_plate(rng, spec=spec, level=0.0)
    k = len("".join(spec.groups[: spec.first_line_groups]))
    ys = [sum(p[1] for p in c.quad) / 4 for c in plate.chars]
    assert max(ys[:k]) < min(ys[k:])


def test_the_same_seed_renders_the_same_plate() -> None:
    a = render_plate(np.random.default_rng(42), "NL")
    b = render_plate(np.random.default_rng(42), "NL")
    assert a.text == b.text
    assert np.array_equal(a.image, b.image)


def test_an_unknown_country_or_level_is_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown country"):
        render_plate(rng, "XX")
    with pytest.raises(ValueError, match="level"):
        render_plate(rng, "B", level=1.5)


def test_render_plates_writes_images_and_ground_truth(tmp_path: Path) -> None:
    assert sim_main(["render-plates", str(tmp_path), "--count", "3", "--country", "D"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert row["country"] == "D"
        assert len(row["chars"]) == len(row["text"])
        assert cv2.imread(str(tmp_path / row["file"])) is not None


def test_boxy_glyphs_push_curves_into_the_corners() -> None:
    font = available_fonts()[0]
    round_o, boxy_o = glyph(font, "O"), glyph(font, "O", 0, 0.85)
    assert boxy_o.shape == round_o.shape

    def corner_ink(mask: np.ndarray) -> float:
        h, w = mask.shape
        k = max(1, min(h, w) // 6)
        corners = (np.s_[:k, :k], np.s_[:k, -k:], np.s_[-k:, :k], np.s_[-k:, -k:])
        return float(sum(mask[c].sum() for c in corners))

    # A ring squared towards its box fills the corners a circle leaves empty.
    assert corner_ink(boxy_o) > 2 * corner_ink(round_o) + 1.0
    assert np.array_equal(glyph(font, "O", 0, 0.0), round_o)


def test_capped_layouts_squeeze_w_to_the_width_of_the_other_characters() -> None:
    img = np.zeros((110, 520, 3), np.uint8)
    for font in available_fonts():
        canvas = draw._Canvas(img, np.random.default_rng(0), font, font, (0, 0, 0), 0)
        free, _ = draw._layout_line(canvas, ("WW", "000", "WM"), ("-", "-"), 60, 1.0)
        canvas.cap = 1.1
        capped, _ = draw._layout_line(canvas, ("WW", "000", "WM"), ("-", "-"), 60, 1.0)
        limit = round(float(np.median(free)) * 1.1)
        assert max(capped) <= limit, font
        assert capped[2:5] == free[2:5]  # the digits keep their own width
        assert sum(capped) < sum(free) or max(free) <= limit


def test_brazilian_plates_follow_their_syntax_with_either_separator() -> None:
    rng = np.random.default_rng(4)
    seps: set[Sep] = set()
    for _ in range(300):
        spec = random_spec(rng, "BR")
        assert check(spec.text, ("BR",), max_fixes=0).country == "BR", spec
        seps.update(spec.seps)
    assert {"-", "dot"} <= seps


def test_old_brazilian_ones_can_be_plain_bars_in_the_ones_box() -> None:
    for font in available_fonts():
        one = glyph(font, "1")
        bar = draw._bar(one)
        assert bar.shape == one.shape, font
        cols = np.flatnonzero(bar.max(axis=0) > 0)
        # One solid, full-height stem: no flag, no foot, as thick as the 1's stem.
        assert np.all(bar[:, cols] == 1.0), font
        assert np.all(np.diff(cols) == 1), font
        assert 0 < cols.size <= np.count_nonzero(one[one.shape[0] // 2] > 0.5), font


def test_french_w_can_be_two_vs_with_the_middle_apex_at_cap_height() -> None:
    for font in available_fonts():
        w = glyph(font, "W")
        vv = draw._vv(w, glyph(font, "I"))
        assert vv.shape == w.shape, font
        h, width = vv.shape
        top, bottom = vv[: max(1, h // 8)], vv[h - max(1, h // 8) :]
        # Three apexes at the top (left, middle, right), two valleys at the bottom.
        centre = top[:, width // 2 - width // 10 : width // 2 + width // 10 + 1]
        assert centre.max() > 0.5, font
        assert top[:, : width // 8].max() > 0.5, font
        assert top[:, -width // 8 :].max() > 0.5, font
        assert bottom[:, width // 2].max() < 0.5, font
        assert bottom[:, width // 4 : width // 3 + 1].max() > 0.5, font
        # The French font's own W: nearly upright sides, the apex a little short.
        upright = draw._vv(w, glyph(font, "I"), foot=0.08, apex=0.2)
        top, bottom = upright[: max(1, h // 8)], upright[h - max(1, h // 8) :]
        assert bottom[:, : width // 5].max() > 0.5, font  # feet near the sides
        assert bottom[:, width // 2 - width // 10 : width // 2 + width // 10 + 1].max() < 0.5, font
        assert top[:, width // 2 - width // 10 : width // 2 + width // 10 + 1].max() < 0.5, font


def test_french_m_has_upright_sides_and_a_middle_v_short_of_the_baseline() -> None:
    for font in available_fonts():
        m = draw._short_m(glyph(font, "M"), glyph(font, "I"), 0.6)
        h, width = m.shape
        assert m.shape == glyph(font, "M").shape, font
        middle = m[:, width // 2 - 1 : width // 2 + 2].max(axis=1)
        ink = np.flatnonzero(middle > 0.5)
        # The V's apex ends well above the baseline; the sides run the full height.
        assert ink.size, font
        assert ink.max() < 0.75 * h, font
        assert m[-max(1, h // 10) :, : width // 5].max() > 0.5, font
        assert m[-max(1, h // 10) :, -width // 5 :].max() > 0.5, font


def test_french_q_is_the_fonts_o_with_a_stub_tail() -> None:
    for font in available_fonts():
        o, q = glyph(font, "O"), glyph(font, "Q")
        stub = draw._stub_q(o, q.shape)
        ring = cv2.resize(o, (q.shape[1], q.shape[0]), interpolation=cv2.INTER_AREA)
        h, width = stub.shape
        assert stub.shape == q.shape, font
        assert np.all(stub >= ring - 1e-6), font  # the ring is all there
        extra = (stub - ring) > 0.5
        ys, xs = np.nonzero(extra)
        # The only added ink is a short stroke at the bottom right.
        assert ys.size, font
        assert ys.min() >= 0.55 * h, font
        assert xs.min() >= 0.35 * width, font


def test_old_french_plates_have_no_leading_zero_and_mostly_the_eu_band() -> None:
    rng = np.random.default_rng(8)
    fni = [s for s in (random_spec(rng, "F") for _ in range(600)) if s.style == "fr_old"]
    assert len(fni) > 150
    assert all(s.groups[0][0] != "0" for s in fni)
    banded = sum(s.band == "F" for s in fni) / len(fni)
    assert 0.6 < banded < 0.9


def test_black_old_french_plates_drop_the_band_the_reflective_ones_keep() -> None:
    rng = np.random.default_rng(9)
    spec = next(
        s for s in (random_spec(rng, "F") for _ in range(200)) if s.style == "fr_old" and s.band
    )
    seen = set()
    for _ in range(60):
        flat = draw.draw_plate(spec, rng, level=0.0)
        img = flat.image.astype(int)
        h, w = img.shape[:2]
        body = np.median(img[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3].reshape(-1, 3), axis=0)
        strip = img[h // 3 : 2 * h // 3, : w // 40].reshape(-1, 3).mean(axis=0)
        blue = strip[0] > strip[2] + 60  # BGR: far more blue than red
        dark = body.mean() < 100
        assert not (dark and blue)
        seen.add((bool(dark), bool(blue)))
    assert (False, True) in seen  # a yellow or white one with its band
    assert (True, False) in seen  # a black one without


def test_italic_glyphs_lean_right_by_the_slant() -> None:
    bar = np.zeros((40, 10), np.float32)
    bar[:, 4:6] = 1.0
    leaned = draw._italic(bar, 0.25)
    assert leaned.shape == (40, 20)
    top = np.flatnonzero(leaned[1] > 0.5).mean()
    bottom = np.flatnonzero(leaned[-2] > 0.5).mean()
    assert top - bottom == pytest.approx(0.25 * 37, abs=1.5)


def test_motion_blur_smears_up_to_a_third_of_the_plate_at_full_degradation() -> None:
    from simulator.plates.degrade import MOTION_MAX, motion_length  # noqa: PLC0415

    rng = np.random.default_rng(5)
    full = [motion_length(rng, 100.0, 1.0) for _ in range(2000)]
    easy = [motion_length(rng, 100.0, 0.0) for _ in range(2000)]
    assert min(full) >= 3
    assert max(full) <= round(100 * MOTION_MAX)
    assert max(full) >= 30  # a night exposure's smear is seen in training
    assert max(easy) <= 5  # an easy crop is hardly smeared
    assert min(motion_length(rng, 20.0, 0.5) for _ in range(100)) == 2  # never below 2 px


def test_motion_blur_runs_mostly_up_or_down_the_plate() -> None:
    from simulator.plates.degrade import _motion_kernel  # noqa: PLC0415

    rng = np.random.default_rng(3)
    upright = 0
    for _ in range(200):
        k = _motion_kernel(rng, 7)
        assert k.sum() == pytest.approx(1.0)
        ys, xs = np.nonzero(k)
        upright += int(np.ptp(ys) > np.ptp(xs))  # the line's longer extent is vertical
    assert 0.6 < upright / 200 < 0.95  # mostly, not always: cameras beside the road
