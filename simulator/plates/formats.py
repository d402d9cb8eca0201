"""Plate strings with each country's real syntax, and how they are printed.

A ``PlateSpec`` says what the plate reads (``text``, A-Z0-9 only, the ground
truth) and how the groups are laid out: separators, furniture between groups
(German seals, a coat of arms), one or two lines. The syntaxes, looks and
shares come from the one format table, ``plateformats`` (its data and sources:
``docs/PLATES-EUROPE.md``); France keeps its tuned generator (the real-dev set
is French) and Brazil (evaluation set only) its own.

Which country a plate comes from is drawn with weights (``BELGIAN_TRAFFIC`` by
default): a mapping code -> weight, from code or from ``parse_weights`` /
``load_weights`` (``B=80,NL=7`` or a JSON/TOML file). ``EU`` stands for "the rest
of Europe" (every table country but B, NL, F, D, L, each by its own weight).
"""

from __future__ import annotations

import json
import string
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from agent.recognition import plateformats
from agent.recognition.plateformats.europe import BELGIAN_TRAFFIC, IE_COUNTY_NAMES

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = [
    "BELGIAN_TRAFFIC",
    "COUNTRIES",
    "EUROPE",
    "NEIGHBOURS",
    "PlateSpec",
    "Sep",
    "load_weights",
    "parse_weights",
    "random_spec",
    "sample_country",
]

# "-" printed dash, " " gap, "" nothing, "dot" a raised dot (Brazil), "." a printed dot;
# furniture between groups: "seal" German seals, "arms" a coat of arms (PlateSpec.emblem),
# "stickers" two round inspection stickers, "sticker" one square sticker, "holo" the
# Polish hologram sticker, "box" the Macedonian red box.
Sep = Literal["-", " ", "", "dot", ".", "seal", "arms", "stickers", "sticker", "holo", "box"]

# The table's countries (international distinguishing signs), the neighbours the
# training mix has always named on their own, and the two pseudo-codes: EU (the rest
# of Europe) and BR (Brazilian plates, for the real-dev evaluation set).
EUROPE: tuple[str, ...] = tuple(c.code for c in plateformats.countries())
NEIGHBOURS = ("B", "NL", "F", "D", "L")
COUNTRIES: tuple[str, ...] = (*NEIGHBOURS, "EU", "BR", *(c for c in EUROPE if c not in NEIGHBOURS))

LETTERS = string.ascii_uppercase
DIGITS = string.digits
FR_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"  # no I, O, U


@dataclass(frozen=True, slots=True)
class PlateSpec:
    """What a plate says and how it is printed."""

    country: str  # a table country's code, or BR
    style: str  # colour/layout family: be, nl, fr, fr_old, de, lu, br_old, br_merc, or the code
    groups: tuple[str, ...]  # the printed groups; "".join(groups) == text
    seps: tuple[Sep, ...]  # one separator between consecutive groups
    lines: int = 1  # 1 or 2
    first_line_groups: int = 0  # two-line plates: how many groups on the top line
    band: str | None = None  # the band's code ("B", "NL", ...), None for no band
    extra: str | None = None  # furniture text: département, city, year, county, region
    series: str = ""  # the table format it follows ("" for the hand-made ones)

    @property
    def text(self) -> str:
        """The plate's characters, A-Z0-9 only (the reader's ground truth)."""
        return "".join(self.groups)


def _pick(rng: np.random.Generator, chars: str, n: int) -> str:
    return "".join(chars[int(i)] for i in rng.integers(0, len(chars), n))


def _choice(rng: np.random.Generator, items: tuple[str, ...] | list[str]) -> str:
    return items[int(rng.integers(0, len(items)))]


def _token_text(rng: np.random.Generator, token: plateformats.Token) -> str:
    n = int(rng.integers(token.low, token.high + 1))
    if token.codes:
        return "".join(_choice(rng, token.codes) for _ in range(n))
    return _pick(rng, token.chars, n)


def _series(rng: np.random.Generator, country: plateformats.Country) -> plateformats.Format:
    shares = np.array([f.share for f in country.formats], np.float64)
    return country.formats[int(rng.choice(len(shares), p=shares / shares.sum()))]


def _extra(
    rng: np.random.Generator, code: str, fmt: plateformats.Format, groups: tuple[str, ...]
) -> str | None:
    """The furniture text a series prints besides its characters."""
    if fmt.right == "it" and rng.random() < 0.6:  # optional year and province stickers
        prov = _choice(rng, plateformats.country("I").codes["prov"].codes)
        return f"{int(rng.integers(0, 25)):02d} {prov}"
    if fmt.right == "pt":  # year over month of first registration
        return f"{int(rng.integers(90, 125)) % 100:02d} {int(rng.integers(1, 13)):02d}"
    if fmt.top == "ie":
        county = groups[1]
        return IE_COUNTY_NAMES.get(county)
    if code == "UA" and fmt.name == "1995":
        return f"{int(rng.integers(1, 27)):02d}"
    return None


def _from_table(rng: np.random.Generator, code: str) -> PlateSpec:
    country = plateformats.country(code)
    fmt = _series(rng, country)
    lay = plateformats.layout(country.code, fmt.name)
    for _ in range(50):  # max_len: redraw the rare too-long combination
        groups = tuple("".join(_token_text(rng, t) for t in g) for g in lay.groups)
        if not fmt.max_len or sum(map(len, groups)) <= fmt.max_len:
            break
    two = fmt.two_line > 0 and rng.random() < fmt.two_share
    band = None
    if fmt.band != "none" and rng.random() < fmt.band_share:
        band = country.band_code or country.code
    style = {"B": "be", "NL": "nl", "D": "de", "L": "lu"}.get(country.code, country.code.lower())
    return PlateSpec(
        country.code,
        style,
        groups,
        lay.seps,  # type: ignore[arg-type]  # the table's separators are Sep values
        lines=2 if two else 1,
        first_line_groups=fmt.two_line if two else 0,
        band=band,
        extra=_extra(rng, country.code, fmt, groups),
        series=fmt.name,
    )


def _fr(rng: np.random.Generator) -> PlateSpec:
    dept = f"{int(rng.integers(1, 96)):02d}"
    if rng.random() < 0.55:
        groups = (_pick(rng, FR_LETTERS, 2), _pick(rng, DIGITS, 3), _pick(rng, FR_LETTERS, 2))
        two = rng.random() < 0.08
        return PlateSpec(
            "F",
            "fr",
            groups,
            ("-", "-"),
            lines=2 if two else 1,
            first_line_groups=1 if two else 0,
            band="F",
            extra=dept,
            series="SIV",
        )
    # FNI (before 2009): 1-4 digits, 1-3 letters, département (2A/2B in Corsica).
    n_dig = _choice(rng, ["4", "4", "3", "3", "2", "1"])
    n_let = _choice(rng, ["2", "2", "2", "3", "1"])
    dep = _choice(rng, [dept] * 12 + ["2A", "2B", f"97{int(rng.integers(1, 7))}"])
    number = _pick(rng, DIGITS[1:], 1) + _pick(rng, DIGITS, int(n_dig) - 1)  # no leading 0
    groups = (number, _pick(rng, LETTERS, int(n_let)), dep)
    two = rng.random() < 0.08
    sep: Sep = "-" if rng.random() < 0.15 else " "
    # Reflective FNI plates (yellow or white) mostly carry the EU band; the black
    # ones of vintage cars do not (the drawing drops it for them).
    return PlateSpec(
        "F",
        "fr_old",
        groups,
        (sep, sep),
        lines=2 if two else 1,
        first_line_groups=2 if two else 0,
        band="F" if rng.random() < 0.75 else None,
        series="FNI",
    )


_BR_CITIES = (
    ("SP", "SAO PAULO"),
    ("RJ", "RIO DE JANEIRO"),
    ("PR", "CURITIBA"),
    ("MG", "BELO HORIZONTE"),
    ("SP", "CAMPINAS"),
    ("SP", "SANTOS"),
    ("BA", "FEIRA DE SANTANA"),
    ("RS", "PORTO ALEGRE"),
    ("PE", "RECIFE"),
    ("GO", "GOIANIA"),
)


def _br(rng: np.random.Generator) -> PlateSpec:
    if rng.random() < 0.6:
        groups = (_pick(rng, LETTERS, 3), _pick(rng, DIGITS, 4))
        state, city = _BR_CITIES[int(rng.integers(0, len(_BR_CITIES)))]
        line = _choice(rng, (f"{city} {state}", f"{state}-{city}", f"{state} - {city}"))
        sep: Sep = "dot" if rng.random() < 0.5 else "-"
        return PlateSpec("BR", "br_old", groups, (sep,), extra=line)
    text = _pick(rng, LETTERS, 3) + _pick(rng, DIGITS, 1) + _pick(rng, LETTERS, 1)
    text += _pick(rng, DIGITS, 2)
    return PlateSpec("BR", "br_merc", (text,), (), extra="BRASIL")


def _weights(weights: Mapping[str, float] | None) -> tuple[list[str], np.ndarray]:
    table = dict(BELGIAN_TRAFFIC if weights is None else weights)
    if "EU" in table:  # the rest of Europe, each country by its Belgian-traffic weight
        rest = {c: w for c, w in BELGIAN_TRAFFIC.items() if c not in NEIGHBOURS}
        share = table.pop("EU") / sum(rest.values())
        for c, w in rest.items():
            table[c] = table.get(c, 0.0) + w * share
    codes = [c for c, w in table.items() if w > 0]
    for c in codes:
        if c != "BR" and c not in EUROPE:
            raise ValueError(f"unknown country {c!r}; expected one of {COUNTRIES}")
    p = np.array([table[c] for c in codes], np.float64)
    if not codes or not np.isfinite(p).all():
        raise ValueError("country weights must be finite and at least one positive")
    return codes, p / p.sum()


def sample_country(rng: np.random.Generator, weights: Mapping[str, float] | None = None) -> str:
    """A country code drawn with ``weights`` (default: ``BELGIAN_TRAFFIC``; ``EU`` expands)."""
    codes, p = _weights(weights)
    return codes[int(rng.choice(len(codes), p=p))]


def parse_weights(text: str) -> dict[str, float]:
    """``"B=80,NL=7,EU=2"`` as a mapping; raises ValueError with the offending item."""
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        code, sep, value = item.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not sep or weight < 0 or code.strip() not in (*COUNTRIES,):
            raise ValueError(
                f"bad country weight {item!r}: expected CODE=WEIGHT, CODE in {COUNTRIES}"
            )
        out[code.strip()] = weight
    _weights(out)  # refuse an all-zero mix here, not at the first draw
    return out


def load_weights(path: Path) -> dict[str, float]:
    """Country weights from a JSON or TOML file holding ``{code: weight}``."""
    raw = path.read_text(encoding="utf-8")
    data = tomllib.loads(raw) if path.suffix == ".toml" else json.loads(raw)
    if isinstance(data, dict) and isinstance(data.get("countries"), dict):
        data = data["countries"]  # a [countries] table in a larger TOML file
    items = data.items() if isinstance(data, dict) else None
    if items is None:
        raise ValueError(f"{path}: expected a mapping of country code to weight")
    return parse_weights(",".join(f"{k}={v}" for k, v in items))


def random_spec(
    rng: np.random.Generator,
    country: str | None = None,
    *,
    weights: Mapping[str, float] | None = None,
) -> PlateSpec:
    """A random plate of ``country``; None draws the country with ``weights``.

    ``country`` is a table code (``plateformats``), ``EU`` (a country of the rest
    of Europe, by Belgian-traffic weight) or ``BR``.
    """
    if country is None or country == "EU":
        mix = weights if country is None else {"EU": 1.0}
        country = sample_country(rng, mix)
    if country == "F":
        return _fr(rng)
    if country == "BR":
        return _br(rng)
    if country not in EUROPE:
        try:
            country = plateformats.country(country).code
        except KeyError:
            raise ValueError(f"unknown country {country!r}; expected one of {COUNTRIES}") from None
    return _from_table(rng, country)
