"""The European plate-format table: coverage, syntaxes, sources, and the document made from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.recognition import plateformats as pf
from agent.recognition.plateformats.__main__ import markdown
from agent.recognition.plateformats.europe import BELGIAN_TRAFFIC

REPO = Path(__file__).resolve().parents[1]
CODES = tuple(c.code for c in pf.countries())


def test_the_table_covers_the_countries_a_belgian_camera_sees() -> None:
    eu = {"A", "B", "BG", "CY", "CZ", "D", "DK", "E", "EST", "F", "FIN", "GR", "H", "HR"}
    eu |= {"I", "IRL", "L", "LT", "LV", "M", "NL", "P", "PL", "RO", "S", "SK", "SLO"}
    eea_uk_ch = {"IS", "FL", "N", "UK", "CH"}
    balkans_ua_tr = {"AL", "BIH", "MNE", "NMK", "RKS", "SRB", "UA", "TR"}
    expected = eu | eea_uk_ch | balkans_ua_tr
    assert len(eu) == 27
    assert set(CODES) == expected
    assert set(BELGIAN_TRAFFIC) == expected


@pytest.mark.parametrize("code", CODES)
def test_every_series_parses_and_the_country_names_its_sources(code: str) -> None:
    country = pf.country(code)
    assert country.sources
    assert set(country.letters) <= set(pf.LETTERS)
    for fmt in country.formats:
        lay = pf.layout(code, fmt.name)
        assert fmt.share > 0
        assert 0 <= fmt.two_line < len(lay.groups), fmt.name
        assert set(lay.seps) <= set(pf.SEPARATORS)
        for share, bg, ink in fmt.colours:
            assert share > 0
            assert bg != ink
    for codes in country.codes.values():
        assert all(re.fullmatch(r"[A-Z0-9]+", c) for c in codes.codes)
        assert codes.complete or codes.syntax


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("B", "1ABC123"),
        ("NL", "GB001B"),
        ("F", "AB123CD"),
        ("D", "KAB1234"),
        ("L", "XY3456"),
        ("UK", "AB12CDE"),
        ("IRL", "191D12345"),
        ("E", "0681VBH"),
        ("P", "AA01AA"),
        ("I", "FR123XY"),
        ("A", "W12345A"),
        ("CH", "ZH123456"),
        ("FL", "FL12345"),
        ("PL", "WA12345"),
        ("CZ", "1A23456"),
        ("SK", "BA123AB"),
        ("H", "AAAB123"),
        ("SLO", "LJAB123"),
        ("HR", "ZG1234AB"),
        ("RO", "B123ABC"),
        ("BG", "CA1234AB"),
        ("GR", "AXA1000"),
        ("CY", "MAA001"),
        ("M", "ACF110"),
        ("DK", "AB12345"),
        ("S", "ABC12A"),
        ("N", "DP70231"),
        ("FIN", "ABC123"),
        ("IS", "AB123"),
        ("EST", "123ABC"),
        ("LV", "AB1234"),
        ("LT", "ABC123"),
        ("SRB", "BG123AA"),
        ("BIH", "A12E345"),
        ("MNE", "PGAB123"),
        ("NMK", "SK2345MG"),
        ("AL", "AB123CD"),
        ("RKS", "01123AB"),
        ("UA", "AA1234BC"),
        ("TR", "34ABC123"),
    ],
)
def test_the_sources_example_plates_fit_their_country(code: str, text: str) -> None:
    assert pf.regex(code).match(text)
    assert (code, pf.matches(text, (code,))[0][1]) in pf.matches(text)


def test_syntaxes_refuse_what_the_country_never_issues() -> None:
    assert not pf.regex("F").match("AO123CD")  # no O in the SIV series
    assert not pf.regex("NL").match("AB001B")  # no vowels since sidecode 4
    assert not pf.regex("GR").match("CDF1234")  # Greek plates only use Latin look-alikes
    assert not pf.regex("D").match("ABCDE12345")  # at most 8 characters
    assert not pf.regex("CH").match("XX123")  # not a canton
    assert not pf.regex("BIH").match("B12C345")  # only A E J K M O T
    assert not pf.regex("UK").match("AI12ABC")  # no I in the area tag


def test_other_spellings_of_a_code_find_the_country() -> None:
    assert pf.country("GB").code == "UK"
    assert pf.country("MK").code == "NMK"
    with pytest.raises(KeyError, match="no plate formats"):
        pf.country("XX")


def test_the_format_document_is_generated_from_the_table() -> None:
    doc = (REPO / "docs" / "PLATES-EUROPE.md").read_text(encoding="utf-8")
    assert doc == markdown(), "python -m agent.recognition.plateformats > docs/PLATES-EUROPE.md"


def test_the_table_is_consistent() -> None:
    assert pf.problems() == []
