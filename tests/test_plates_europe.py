"""The renderer on the European format table: texts, series, two-line plates, looks, weights."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
import pytest

from agent.recognition import plateformats as pf
from agent.recognition.plateformats.europe import BELGIAN_TRAFFIC
from simulator.cli import main as sim_main
from simulator.plates import (
    EUROPE,
    draw,
    draw_plate,
    load_weights,
    parse_weights,
    random_spec,
    sample_country,
)
from simulator.plates.formats import NEIGHBOURS
from simulator.plates.glyphs import available_fonts, glyph

if TYPE_CHECKING:
    from pathlib import Path

SEPS = {"-", " ", "", "dot", ".", "seal", "arms", "stickers", "sticker", "holo", "box"}


def _fits(text: str, template: pf.Template) -> bool:
    return len(text) == len(template) and all(
        c in cls for c, cls in zip(text, template, strict=True)
    )


@pytest.mark.parametrize("code", EUROPE)
def test_generated_texts_follow_the_countrys_format_table(code: str) -> None:
    rng = np.random.default_rng(7)
    templates = pf.templates(code)
    series: Counter[str] = Counter()
    for _ in range(400):
        spec = random_spec(rng, code)
        assert spec.country == code
        assert re.fullmatch(r"[A-Z0-9]+", spec.text), spec
        assert pf.format_regex(code, spec.series).match(spec.text), spec
        assert pf.regex(code).match(spec.text), spec
        assert any(_fits(spec.text, t) for t in templates), spec
        assert len(spec.seps) == len(spec.groups) - 1
        assert set(spec.seps) <= SEPS
        series[spec.series] += 1
    # Series are drawn by their share: every one of 5 % or more shows up.
    for fmt in pf.country(code).formats:
        if fmt.share / sum(f.share for f in pf.country(code).formats) >= 0.05:
            assert series[fmt.name] > 0, fmt.name


@pytest.mark.parametrize("code", EUROPE)
def test_two_line_plates_exist_exactly_where_the_country_has_them(code: str) -> None:
    rng = np.random.default_rng(8)
    country = pf.country(code)
    has_two = any(f.two_line for f in country.formats)
    specs = [random_spec(rng, code) for _ in range(3000)]
    two = [s for s in specs if s.lines == 2]
    assert bool(two) == has_two
    for spec in two:
        assert spec.first_line_groups == country.format(spec.series).two_line


def test_weights_are_honoured() -> None:
    rng = np.random.default_rng(1)
    drawn = Counter(sample_country(rng, {"B": 3, "PL": 1}) for _ in range(20000))
    assert set(drawn) == {"B", "PL"}
    assert drawn["B"] / 20000 == pytest.approx(0.75, abs=0.015)
    specs = Counter(random_spec(rng, weights={"UK": 1, "TR": 1}).country for _ in range(4000))
    assert set(specs) == {"UK", "TR"}
    assert specs["UK"] / 4000 == pytest.approx(0.5, abs=0.03)


def test_the_default_mix_is_belgian_traffic() -> None:
    rng = np.random.default_rng(2)
    drawn = Counter(sample_country(rng) for _ in range(20000))
    total = sum(BELGIAN_TRAFFIC.values())
    for code in ("B", "NL", "F", "D", "PL"):
        assert drawn[code] / 20000 == pytest.approx(BELGIAN_TRAFFIC[code] / total, abs=0.012)
    assert drawn.most_common(1)[0][0] == "B"


def test_eu_draws_the_rest_of_europe_by_its_belgian_traffic_weight() -> None:
    rng = np.random.default_rng(3)
    drawn = Counter(random_spec(rng, "EU").country for _ in range(20000))
    assert not set(drawn) & set(NEIGHBOURS)
    assert set(drawn) <= set(EUROPE)
    ratio = drawn["PL"] / drawn["RO"]
    assert ratio == pytest.approx(BELGIAN_TRAFFIC["PL"] / BELGIAN_TRAFFIC["RO"], rel=0.15)
    mixed = Counter(sample_country(rng, {"B": 1, "EU": 1}) for _ in range(10000))
    assert mixed["B"] / 10000 == pytest.approx(0.5, abs=0.02)


def test_weights_come_from_text_json_or_toml(tmp_path: Path) -> None:
    assert parse_weights("B=80, NL=7,EU=2") == {"B": 80.0, "NL": 7.0, "EU": 2.0}
    (tmp_path / "mix.json").write_text(json.dumps({"B": 5, "PL": 1}))
    assert load_weights(tmp_path / "mix.json") == {"B": 5.0, "PL": 1.0}
    (tmp_path / "mix.toml").write_text("[countries]\nB = 5\nUA = 0.5\n")
    assert load_weights(tmp_path / "mix.toml") == {"B": 5.0, "UA": 0.5}


@pytest.mark.parametrize("bad", ["B=x", "XX=1", "B=-1", "B", "B=0,NL=0"])
def test_bad_weights_are_refused_with_the_item(bad: str) -> None:
    with pytest.raises(ValueError, match=r"weight|positive"):
        parse_weights(bad)


def test_render_plates_draws_the_weighted_mix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sim_main(["render-plates", str(tmp_path), "--count", "6", "--weights", "PL=1,CH=1"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert {r["country"] for r in rows} <= {"PL", "CH"}
    assert all(pf.format_regex(r["country"], r["series"]).match(r["text"]) for r in rows)
    assert sim_main(["render-plates", str(tmp_path), "--weights", "XX=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "XX=1" in err[0]


def _body_colour(code: str, seed: int, series: str | None = None) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    spec = random_spec(rng, code)
    while series is not None and spec.series != series:
        spec = random_spec(rng, code)
    flat = draw_plate(spec, rng, level=0.0)
    (x0, y0), (x1, y1) = flat.corners[0], flat.corners[2]
    h, w = y1 - y0, x1 - x0
    # The strip above the characters: the plate's ground, clear of bands and frames.
    strip = flat.image[
        round(y0 + 0.06 * h) : round(y0 + 0.11 * h), round(x0 + 0.3 * w) : round(x0 + 0.9 * w)
    ]
    b, g, r = (float(v) for v in np.median(strip.reshape(-1, 3).astype(int), axis=0))
    return b, g, r


def test_plates_have_their_countrys_colours() -> None:
    def yellow(bgr: tuple[float, float, float]) -> bool:
        return bgr[2] > 180 and bgr[1] > 140 and bgr[0] < 90

    assert all(yellow(_body_colour("NL", s, "sidecode 9")) for s in range(6))
    assert all(yellow(_body_colour("L", s)) for s in range(6))
    assert all(sum(_body_colour("FL", s)) / 3 < 90 for s in range(6))  # white on black
    uk = [yellow(_body_colour("UK", s)) for s in range(30)]
    assert any(uk)  # rear plates
    assert not all(uk)  # front plates are white


def test_austrian_plates_carry_red_stripes_along_top_and_bottom() -> None:
    rng = np.random.default_rng(4)
    for _ in range(5):
        spec = random_spec(rng, "A")
        img = draw_plate(spec, rng, level=0.0).image.astype(int)
        h = img.shape[0]
        red = (img[..., 2] > 150) & (img[..., 1] < 90) & (img[..., 0] < 90)
        rows = red.mean(axis=1)
        assert rows[: h // 6].max() > 0.5
        assert rows[-h // 6 :].max() > 0.5


def test_slovak_zeros_are_slashed() -> None:
    for font in available_fonts():
        zero, i = glyph(font, "0"), glyph(font, "I")
        slashed = draw._slashed(zero, i)
        h, w = zero.shape
        centre = np.s_[
            h // 2 - h // 10 : h // 2 + h // 10 + 1, w // 2 - w // 10 : w // 2 + w // 10 + 1
        ]
        if zero[centre].max() > 0.5:
            continue  # this font's zero is dotted already (DejaVu Sans Mono)
        assert slashed[centre].max() > 0.5, font  # the stroke crosses the open ring
        assert np.all(slashed >= zero - 1e-6), font


def test_fe_lettering_draws_zero_narrower_than_o() -> None:
    img = np.zeros((110, 520, 3), np.uint8)
    for font in available_fonts():
        canvas = draw._Canvas(img, np.random.default_rng(0), font, font, (0, 0, 0), 0)
        plain, _ = draw._layout_line(canvas, ("O0",), (), 60, 1.0)
        canvas.narrow_zero = True
        narrow, _ = draw._layout_line(canvas, ("O0",), (), 60, 1.0)
        assert narrow[0] == plain[0], font
        assert narrow[1] < plain[1], font


@pytest.mark.parametrize("code", ["CH", "FL", "SRB", "NMK", "IRL", "P", "I", "UA", "LT", "IS"])
def test_furniture_heavy_plates_keep_their_characters_on_the_plate(code: str) -> None:
    rng = np.random.default_rng(5)
    for _ in range(60):
        spec = random_spec(rng, code)
        flat = draw_plate(spec, rng, level=0.0)
        (x0, y0), (x1, _), (_, y1) = flat.corners[0], flat.corners[1], flat.corners[2]
        assert len(flat.char_boxes) == len(spec.text)
        for bx0, by0, bx1, by1 in flat.char_boxes:
            assert x0 <= bx0 < bx1 <= x1, spec
            assert y0 <= by0 < by1 <= y1, spec
