"""Syntax checks, confusion fixes and the reader's pure pre/post-processing."""

from __future__ import annotations

import numpy as np
import pytest

from agent.recognition.ctc import InputSpec, ctc_greedy, prepare, split_two_line
from agent.recognition.syntax import check, supported

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ALL = ("B", "NL", "F", "D", "L")


@pytest.mark.parametrize(
    ("read", "countries", "text", "country"),
    [
        ("1ABC123", ALL, "1ABC123", "B"),  # already valid: untouched
        ("1A8C12O", ALL, "1ABC120", "B"),  # letter and digit positions settle B/8 and O/0
        ("0ABC123", ("B",), "OABC123", "B"),  # 0 cannot lead a Belgian plate; O (oldtimer) can
        ("IABC123", ("B",), "IABC123", "B"),  # position 1 may be a letter: no swap
        ("AB123CD", ALL, "AB123CD", "F"),
        ("A8I23CD", ("F",), "AB123CD", "F"),
        ("1234AB56", ("F",), "1234AB56", "F"),  # FNI
        ("W178JZ", ("F",), "W178JZ", "F"),  # W garage (trade plate)
        ("GV2O8B", ("NL",), "GV208B", "NL"),  # sidecode LL-DD-DD
        ("AB1234", ("L",), "AB1234", "L"),
        ("HHAB1234", ("D",), "HHAB1234", "D"),
        ("BO360YO", ("F",), "BQ360YQ", "F"),  # France prints no O: a round letter is a Q
        ("JSQI4I3", ("BR",), "JSQ1413", "BR"),  # old Brazilian LLL-DDDD
        ("RIO2A18", ("BR",), "RIO2A18", "BR"),  # Mercosur LLL-D-L-DD
    ],
)
def test_syntax_fits_and_fixes_only_where_the_position_decides(
    read: str, countries: tuple[str, ...], text: str, country: str
) -> None:
    match = check(read, countries)
    assert (match.text, match.country) == (text, country)


def test_a_read_no_syntax_fits_is_returned_unchanged_without_country() -> None:
    match = check("ZZZZZZZZZZ", ALL)
    assert (match.text, match.country, match.fixes) == ("ZZZZZZZZZZ", None, 0)


def test_at_most_two_swaps_are_made() -> None:
    assert check("1ABC1ZO", ("B",)).text == "1ABC120"  # Z, O: two swaps
    assert check("1A8C1ZO", ("B",)).country is None  # 8, Z, O: would need three


def test_the_first_configured_country_wins_a_tie() -> None:
    assert check("AB1234", ("L", "D")).country == "L"
    assert check("AB1234", ("D", "L")).country == "D"


def test_unsupported_countries_are_named() -> None:
    assert supported(("B", "XX", "NL")) == ["XX"]


def _onehot(path: list[int], classes: int = 37, p: float = 0.9) -> np.ndarray:
    probs = np.full((len(path), classes), (1 - p) / (classes - 1), np.float32)
    probs[np.arange(len(path)), path] = p
    return probs


def test_ctc_greedy_collapses_repeats_and_drops_blanks() -> None:
    a, b = ALPHABET.index("A") + 1, ALPHABET.index("1") + 1
    probs = _onehot([0, a, a, 0, a, b, b, 0])
    probs[2, a] = 0.95  # the best frame of a run is the character's confidence
    decoded = ctc_greedy(probs, ALPHABET, blank=0)
    assert decoded.text == "AA1"
    assert decoded.char_conf == (950, 900, 900)
    assert 0.9 < decoded.mean_conf < 0.92


def test_ctc_greedy_of_all_blank_is_empty() -> None:
    decoded = ctc_greedy(_onehot([0] * 32), ALPHABET, blank=0)
    assert (decoded.text, decoded.char_conf, decoded.mean_conf) == ("", (), 0.0)


def test_prepare_stretches_to_the_input_and_normalises() -> None:
    spec = InputSpec(32, 128, 127.5, 127.5)
    crop = np.full((60, 250, 3), 255, np.uint8)
    x = prepare(crop, spec)
    assert x.shape == (1, 32, 128)
    assert x.dtype == np.float32
    assert np.allclose(x, 1.0)


def test_prepare_refuses_an_empty_crop() -> None:
    with pytest.raises(ValueError, match="not a usable crop"):
        prepare(np.zeros((1, 40, 3), np.uint8), InputSpec(32, 128, 0.0, 1.0))


def test_split_two_line_puts_the_top_line_first() -> None:
    gray = np.zeros((100, 80), np.uint8)
    gray[:50] = 200  # top line bright, bottom dark
    strip = split_two_line(gray)
    assert strip.shape[1] == 160
    assert strip[:, :60].mean() > strip[:, 100:].mean()
