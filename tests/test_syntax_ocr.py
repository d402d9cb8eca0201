"""Syntax checks, confusion fixes and the reader's pure pre/post-processing."""

from __future__ import annotations

import numpy as np
import pytest

from agent.recognition import plateformats
from agent.recognition.ctc import InputSpec, ctc_greedy, prepare, split_two_line
from agent.recognition.syntax import SUPPORTED, check, resolve, supported, valid, visitors
from simulator.plates import random_spec

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ALL = ("B", "NL", "F", "D", "L")
TABLE = tuple(c.code for c in plateformats.countries())


@pytest.mark.parametrize("code", TABLE)
def test_every_plate_the_renderer_draws_checks_as_it_is(code: str) -> None:
    # One table for both: what the simulator draws, the agent's syntax accepts unchanged.
    rng = np.random.default_rng(11)
    for _ in range(150):
        text = random_spec(rng, code).text
        match = check(text, (code,))
        assert (match.text, match.country, match.fixes) == (text, code, 0), text


# One misread per country: a look-alike at a position the country's syntax fixes to
# letters or to digits, swapped back.
@pytest.mark.parametrize(
    ("country", "read", "text"),
    [
        ("B", "IGEU850", "1GEU850"),  # no I leads a Belgian plate (1-3, 7-9, T O G M Q)
        ("NL", "O6SBDL", "06SBDL"),  # sidecode DD-LL-LL
        ("F", "RPI77YV", "RP177YV"),
        ("D", "DL6HY1", "DLGHY1"),  # Germany: the number never ends a letter group
        ("L", "2R524", "ZR524"),
        ("UK", "EVS5JGC", "EV55JGC"),  # the age identifier is two digits
        ("IRL", "Z61KK52762", "261KK52762"),
        ("E", "Z894ZVJ", "2894ZVJ"),
        ("P", "B9MI12", "89MI12"),
        ("I", "6J316YE", "GJ316YE"),
        ("A", "W94Z28P", "W94228P"),
        ("CH", "8L9596", "BL9596"),  # the canton comes first
        ("FL", "FLB0530", "FL80530"),
        ("PL", "WH7Z68M", "WH7268M"),
        ("CZ", "2LZ97O2", "2LZ9702"),
        ("SK", "5V026QJ", "SV026QJ"),
        ("H", "8NH561", "BNH561"),
        ("SLO", "5G5774K", "SG5774K"),
        ("HR", "8M6393V", "BM6393V"),
        ("RO", "HD4OCHN", "HD40CHN"),
        ("BG", "A9O88CB", "A9088CB"),
        ("GR", "TYH4Z45", "TYH4245"),
        ("CY", "T8P493", "TBP493"),
        ("M", "CE1554", "CEI554"),
        ("DK", "EEB9428", "EE89428"),
        ("S", "DPNG99", "DPN699"),
        ("N", "CY9O165", "CY90165"),
        ("FIN", "NXWG", "NXW6"),
        ("IS", "2S538", "ZS538"),
        ("EST", "3O7HNO", "307HNO"),
        ("LV", "ED9O", "ED90"),
        ("LT", "EMKG88", "EMK688"),
        ("SRB", "2R5643LP", "ZR5643LP"),
        ("BIH", "AO2K481", "A02K481"),
        ("MNE", "PTDRG02", "PTDR602"),
        ("NMK", "TE7I08DK", "TE7108DK"),
        ("AL", "5P455PH", "SP455PH"),
        ("RKS", "O3106KP", "03106KP"),
        ("UA", "ATB926HK", "AT8926HK"),
        ("TR", "S8JP3767", "58JP3767"),
        ("BR", "PMLZ991", "PML2991"),
    ],
)
def test_each_countrys_syntax_swaps_a_look_alike_where_it_fixes_the_position(
    country: str, read: str, text: str
) -> None:
    assert not valid(read, country)
    match = check(read, (country,))
    assert (match.text, match.country, match.fixes) == (text, country, 1)


def test_every_country_with_a_syntax_has_a_swap_case_above() -> None:
    assert set(SUPPORTED) == {*TABLE, "BR"}


@pytest.mark.parametrize(
    ("read", "countries", "text", "country"),
    [
        ("1ABC123", ALL, "1ABC123", "B"),  # already valid: untouched
        ("1A8C12O", ALL, "1ABC120", "B"),  # letter and digit positions settle B/8 and O/0
        ("0ABC123", ("B",), "OABC123", "B"),  # 0 cannot lead a Belgian plate; O (oldtimer) can
        ("TABC123", ("B",), "TABC123", "B"),  # position 1 may be a letter (T taxi): no swap
        ("AB123CD", ALL, "AB123CD", "F"),
        ("A8I23CD", ("F",), "AB123CD", "F"),
        ("1234AB56", ("F",), "1234AB56", "F"),  # FNI
        ("123AB2B", ("F",), "123AB2B", "F"),  # FNI, Corsica
        ("123AB97Z", ("F",), "123AB972", "F"),  # FNI, overseas 97x
        ("W178JZ", ("F",), "W178JZ", "F"),  # W garage (trade plate)
        ("GV2O8B", ("NL",), "GV208B", "NL"),  # sidecode LL-DD-DD
        ("AB1234", ("L",), "AB1234", "L"),
        ("12345", ("L",), "12345", "L"),  # digits only
        ("HHAB1234", ("D",), "HHAB1234", "D"),
        ("BO360YO", ("F",), "BQ360YQ", "F"),  # France prints no O: a round letter is a Q
        ("AB12CDE", ("GB",), "AB12CDE", "UK"),  # an alias resolves to the table's code
        ("JSQI4I3", ("BR",), "JSQ1413", "BR"),  # old Brazilian LLL-DDDD
        ("RIO2A18", ("BR",), "RIO2A18", "BR"),  # Mercosur LLL-D-L-DD
    ],
)
def test_syntax_fits_and_fixes_only_where_the_position_decides(
    read: str, countries: tuple[str, ...], text: str, country: str
) -> None:
    match = check(read, countries)
    assert (match.text, match.country) == (text, country)


def test_a_text_the_country_never_issues_is_refused() -> None:
    # FNI ends with a département: 01-95, 2A, 2B, 971-976; 96 is none.
    assert check("123AB95", ("F",)).country == "F"
    assert check("123AB96", ("F",)).country is None
    # Spain's provincial plates start with a province code; ZZ is none.
    assert check("M1234AB", ("E",)).country == "E"
    assert check("ZZ1234AB", ("E",)).country is None


def test_whatever_check_fits_is_a_plate_the_country_issues() -> None:
    rng = np.random.default_rng(5)
    chars = np.array(list("0125689ABDGIOSZ" + ALPHABET))
    for _ in range(3000):
        read = "".join(rng.choice(chars, int(rng.integers(4, 10))))
        match = check(read, TABLE)
        if match.country is not None:
            assert valid(match.text, match.country), (read, match)
            assert match.fixes <= 2


def test_a_read_no_syntax_fits_is_returned_unchanged_without_country() -> None:
    match = check("ZZZZZZZZZZ", ALL)
    assert (match.text, match.country, match.fixes) == ("ZZZZZZZZZZ", None, 0)


def test_at_most_two_swaps_are_made() -> None:
    assert check("1ABC1ZO", ("B",)).text == "1ABC120"  # Z, O: two swaps
    assert check("1A8C1ZO", ("B",)).country is None  # 8, Z, O: would need three


def test_the_first_configured_country_wins_a_tie() -> None:
    assert check("AB1234", ("L", "D")).country == "L"
    assert check("AB1234", ("D", "L")).country == "D"


def test_codes_resolve_through_the_table_and_unknown_ones_are_named() -> None:
    assert supported(("B", "XX", "NL", "GB")) == ["XX"]
    assert resolve(("GB", "UK", "XX", "BR")) == ("UK", "BR")


def test_visitors_are_every_other_country_with_a_syntax() -> None:
    mine = visitors(ALL)
    assert set(mine) == set(SUPPORTED) - set(ALL)
    assert "UK" in visitors(("F",))
    assert "UK" not in visitors(("GB",))


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
