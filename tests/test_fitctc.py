"""Syntax-constrained CTC decoding on hand-made posteriors (no model needed)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from agent.recognition.ctc import ctc_greedy
from agent.recognition.reader import _pick
from agent.recognition.syntax import check, valid, visitors
from agent.recognition.syntaxfit import MAX_GAP, Labels, Settled, fit, log_likelihood, settle

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BLANK = 0
T = 32


class _Card:
    alphabet = ALPHABET
    blank = BLANK


CARD: Labels = _Card()


def _col(ch: str) -> int:
    return ALPHABET.index(ch) + 1


def posterior(frames: list[dict[str, float]]) -> np.ndarray:
    """T x C probabilities: each frame's listed characters ("-" the blank), rest spread."""
    probs = np.full((T, len(ALPHABET) + 1), 1e-6, np.float32)
    for t in range(T):
        spec = frames[t] if t < len(frames) else {"-": 1.0}
        for ch, p in spec.items():
            probs[t, BLANK if ch == "-" else _col(ch)] = p
    return np.asarray(probs / probs.sum(axis=1, keepdims=True), np.float32)


def spelled(text: str, width: int = 2, p: float = 0.98) -> list[dict[str, float]]:
    """Frames that spell ``text``: a blank, then ``width`` frames per character."""
    out: list[dict[str, float]] = [{"-": 1.0}]
    for ch in text:
        out += [{ch: p, "-": 1 - p}] * width + [{"-": 1.0}]
    return out


def settled(frames: list[dict[str, float]], countries: tuple[str, ...]) -> tuple[str, str | None]:
    probs = posterior(frames)
    decoded = ctc_greedy(probs, ALPHABET, BLANK)
    got = settle(probs, decoded, CARD, countries)
    assert len(got.char_conf) == len(got.text)
    return got.text, got.country


def test_a_valid_read_is_kept_as_it_is() -> None:
    assert settled(spelled("1ABC234"), ("B",)) == ("1ABC234", "B")


def test_a_character_read_from_the_region_band_is_dropped() -> None:
    # A French SIV plate with the département band's digit read after it, less sure.
    frames = [*spelled("AB123CD"), {"6": 0.8, "-": 0.2}, {"-": 1.0}]
    assert ctc_greedy(posterior(frames), ALPHABET, BLANK).text == "AB123CD6"
    assert settled(frames, ("F",)) == ("AB123CD", "F")


def test_a_character_the_greedy_path_lost_is_restored() -> None:
    frames = [*spelled("1ABC23"), {"4": 0.4, "-": 0.6}, {"-": 1.0}]
    assert ctc_greedy(posterior(frames), ALPHABET, BLANK).text == "1ABC23"
    assert settled(frames, ("B",)) == ("1ABC234", "B")


def test_a_doubtful_character_takes_the_letter_the_syntax_needs() -> None:
    # A 3/B doubt at a digit position of a French SIV plate.
    frames = spelled("AB12") + [{"3": 0.55, "B": 0.45}] * 2 + [{"-": 1.0}] + spelled("CD")
    assert settled(frames, ("F",)) == ("AB123CD", "F")


def test_one_wide_character_is_not_read_as_two() -> None:
    # Spain's DDDD LLL needs seven characters. Six wide, sure ones can become seven
    # only as CTC allows, by a blank between two frames of one letter: that blank's
    # cost, not a free split of the letter's frames into a double letter.
    p = 0.98
    probs = posterior(spelled("1234BC", width=4, p=p))
    (spain,) = fit(probs, ALPHABET, BLANK, (("E",),))
    assert spain is not None
    assert spain.gap >= math.log(p / (1 - p)) - 1e-3


def test_a_visitors_plate_read_right_is_not_forced_into_a_domestic_look_alike() -> None:
    # A Polish LL DDDDD plate on a Belgian road: B's 0 -> O, 5 -> S swaps would fit it.
    assert settled(spelled("WX12345"), ("B",)) == ("WX12345", None)


def test_a_sure_misread_beyond_the_gap_falls_back_to_look_alike_swaps() -> None:
    # The model is certain of a Z where a French SIV plate prints a digit, and no
    # visitor's layout takes the read as it is (letter, digit, letter in the middle).
    probs = posterior(spelled("AB1Z3CD", p=0.999999))
    (france,) = fit(probs, ALPHABET, BLANK, (("F",),))
    assert france is not None
    assert france.gap > MAX_GAP
    assert check("AB1Z3CD", visitors(("F",)), max_fixes=0).country is None
    assert settled(spelled("AB1Z3CD", p=0.999999), ("F",)) == ("AB123CD", "F")


@pytest.mark.parametrize(
    ("text", "visitor"),
    [("AB12CDE", "UK"), ("WX12345", "PL"), ("B123ABC", "RO"), ("GE12345", "CH")],
)
def test_a_visitor_from_anywhere_in_the_table_is_kept_as_read(text: str, visitor: str) -> None:
    assert check(text, (visitor,), max_fixes=0).country == visitor
    assert settled(spelled(text), ("B", "NL", "F", "D", "L")) == (text, None)


def test_a_fit_is_a_plate_the_country_issues() -> None:
    # FNI 123-AB-96: no département 96 (01-95, 2A, 2B, 971-976). With 9 and 6 sure,
    # a valid fit must change a sure character, so it is far.
    probs = posterior(spelled("123AB96"))
    (france,) = fit(probs, ALPHABET, BLANK, (("F",),))
    assert france is None or (valid(france.text, "F") and france.gap > MAX_GAP)
    # A doubtful 6/5: the valid 95 is taken.
    frames = spelled("123AB9") + [{"6": 0.55, "5": 0.45}] * 2 + [{"-": 1.0}]
    assert settled(frames, ("F",)) == ("123AB95", "F")


def test_no_known_syntax_gives_no_fit() -> None:
    probs = posterior(spelled("AB123CD"))
    assert fit(probs, ALPHABET, BLANK, (("XX",),)) == [None]


def test_the_reader_keeps_the_candidate_it_is_surest_of_not_the_one_a_syntax_fits() -> None:
    # A two-line plate read as one line: a jumble a syntax fits with unsure characters;
    # read split: a visitor's plate, sure throughout.
    jumble = Settled("85B09", (900,) * 5, "F")
    split = Settled("SV85509", (990,) * 7, None)
    assert _pick([jumble, split]) == split
    assert _pick([]) is None


@pytest.mark.parametrize("blank", [0, 2])
def test_a_texts_likelihood_sums_every_path_that_spells_it(blank: int) -> None:
    # Five frames, three letters and the blank: every one of the 4**5 paths, collapsed.
    rng = np.random.default_rng(blank)
    probs = rng.dirichlet(np.ones(4), 5).astype(np.float32)
    letters = "ABC"
    totals: dict[str, float] = {}
    for path in itertools.product(range(4), repeat=5):
        text, prev = "", -1
        for k in path:
            if k not in (prev, blank):
                text += letters[k - 1 if k > blank else k]
            prev = k
        totals[text] = totals.get(text, 0.0) + float(np.prod(probs[range(5), path]))
    for text in ("", "A", "AA", "AB", "ABA", "CCC", "ABCA"):
        want = math.log(totals[text]) if text in totals else None
        got = log_likelihood(probs, text, letters, blank)
        if want is None:  # "AAAA" style texts need more frames than there are
            assert got < -1e20
        else:
            assert got == pytest.approx(want, rel=1e-5)
    assert log_likelihood(probs, "AZ", letters, blank) < -1e20  # Z is not in the alphabet
