"""Plate strings with each country's real syntax, and how they are printed.

A ``PlateSpec`` says what the plate reads (``text``, A-Z0-9 only, the ground
truth) and how the groups are laid out: separators, furniture between groups
(German seals, a coat of arms), one or two lines. See ``shared/PLATES.md``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np

__all__ = ["COUNTRIES", "PlateSpec", "Sep", "random_spec"]

# "-" printed dash, " " gap, "dot" a raised dot (Brazil), "seal" German registration
# seals, "arms" a coat of arms.
Sep = Literal["-", " ", "", "dot", "seal", "arms"]

# Country codes as the agent's config spells them; EU is "another EU country",
# BR Brazilian (old grey and Mercosur) plates for the real-dev evaluation set.
COUNTRIES = ("B", "NL", "F", "D", "L", "EU", "BR")

LETTERS = string.ascii_uppercase
DIGITS = string.digits
NL_LETTERS = "BDFGHJKLNPRSTVXZ"
FR_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"  # no I, O, U
DE_DISTRICTS = (
    "B",
    "M",
    "HH",
    "K",
    "F",
    "S",
    "D",
    "HB",
    "MZ",
    "BN",
    "KA",
    "AC",
    "DU",
    "E",
    "GE",
    "H",
    "KR",
    "MG",
    "BO",
    "DO",
    "WI",
    "LB",
    "ES",
    "TR",
    "SB",
    "OF",
    "RE",
    "BIT",
    "DAH",
    "EMS",
    "HSK",
    "MYK",
    "NRW",
    "WES",
    "KLE",
    "GÜT",
)
EU_BANDS = ("I", "E", "PL", "CZ", "SK", "RO", "BG", "A", "P", "SLO", "HR", "LT", "DK", "FIN")


@dataclass(frozen=True, slots=True)
class PlateSpec:
    """What a plate says and how it is printed."""

    country: str  # one of COUNTRIES
    style: str  # colour/layout family: be, nl, fr, fr_old, de, lu, eu, br_old, br_merc
    groups: tuple[str, ...]  # the printed groups; "".join(groups) == text
    seps: tuple[Sep, ...]  # one separator between consecutive groups
    lines: int = 1  # 1 or 2
    first_line_groups: int = 0  # two-line plates: how many groups on the top line
    band: str | None = None  # EU band code ("B", "NL", ...), None for no band
    extra: str | None = None  # furniture text: French département, Brazilian city

    @property
    def text(self) -> str:
        """The plate's characters, A-Z0-9 only (the reader's ground truth)."""
        return "".join(self.groups)


def _pick(rng: np.random.Generator, chars: str, n: int) -> str:
    return "".join(chars[int(i)] for i in rng.integers(0, len(chars), n))


def _choice(rng: np.random.Generator, items: tuple[str, ...] | list[str]) -> str:
    return items[int(rng.integers(0, len(items)))]


def _be(rng: np.random.Generator) -> PlateSpec:
    roll = rng.random()
    if roll < 0.75:
        first = _choice(rng, ["1", "1", "1", "2", "2", "3", "7", "8", "9", "T", "O", "G", "M", "Q"])
        groups: tuple[str, ...] = (first, _pick(rng, LETTERS, 3), _pick(rng, DIGITS, 3))
    elif roll < 0.9:
        groups = (_pick(rng, LETTERS, 3), _pick(rng, DIGITS, 3))
    else:
        groups = (_pick(rng, DIGITS, 3), _pick(rng, LETTERS, 3))
    return PlateSpec("B", "be", groups, ("-",) * (len(groups) - 1), band="B")


_NL_SIDECODES = (
    "LL-DDD-L",
    "L-DDD-LL",
    "LLL-DD-L",
    "DD-LL-LL",
    "DD-LLL-D",
    "D-LLL-DD",
    "LL-DD-LL",
    "DD-DD-LL",
    "LL-LL-DD",
    "XX-DD-DD",
)


def _from_pattern(rng: np.random.Generator, pattern: str, letters: str) -> tuple[str, ...]:
    return tuple(
        "".join(_pick(rng, letters if c in "LX" else DIGITS, 1) for c in group)
        for group in pattern.split("-")
    )


def _nl(rng: np.random.Generator) -> PlateSpec:
    groups = _from_pattern(rng, _choice(rng, _NL_SIDECODES), NL_LETTERS)
    return PlateSpec("NL", "nl", groups, ("-", "-"), band="NL")


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
    )


def _de(rng: np.random.Generator) -> PlateSpec:
    district = _choice(rng, DE_DISTRICTS).replace("Ü", "U")
    room = 8 - len(district)
    n_let = int(rng.integers(1, 3))
    n_dig = int(rng.integers(1, min(4, room - n_let) + 1))
    digits = str(int(rng.integers(1, 10))) + _pick(rng, DIGITS, n_dig - 1)
    if len(district) + n_let + n_dig < 8 and rng.random() < 0.08:
        digits += _choice(rng, ["E", "H"])
    groups = (district, _pick(rng, LETTERS, n_let), digits)
    return PlateSpec("D", "de", groups, ("seal", " "), band="D")


def _lu(rng: np.random.Generator) -> PlateSpec:
    roll = rng.random()
    if roll < 0.7:
        groups = (_pick(rng, LETTERS, 2), _pick(rng, DIGITS, 4))
    elif roll < 0.85:
        groups = (_pick(rng, LETTERS, 1), _pick(rng, DIGITS, 4))
    else:
        groups = (_pick(rng, LETTERS, 2), _pick(rng, DIGITS, 3))
    return PlateSpec("L", "lu", groups, (" ",), band="L")


_EU_PATTERNS: tuple[tuple[str, tuple[Sep, ...]], ...] = (
    ("LL DDD LL", (" ", " ")),  # IT
    ("DDDD LLL", (" ",)),  # ES
    ("LL DD LLL", (" ",)),  # UK
    ("DLL DDDD", (" ",)),  # CZ
    ("LL DDDLL", ("arms",)),  # SK, coat of arms between the groups
    ("LL DDDDD", ("arms",)),  # HR-like
    ("LLL DDDDD", (" ",)),  # PL
    ("LL DD LLL", ("arms",)),  # RO-like with a round sticker
    ("LL DDDD LL", (" ", " ")),  # BG
)


def _eu(rng: np.random.Generator) -> PlateSpec:
    pattern, seps = _EU_PATTERNS[int(rng.integers(0, len(_EU_PATTERNS)))]
    parts = pattern.split(" ")
    if len(seps) == 1 and len(parts) == 3:
        parts = [parts[0], parts[1] + parts[2]]
    groups = tuple(
        "".join(_pick(rng, LETTERS if c == "L" else DIGITS, 1) for c in p) for p in parts
    )
    two = len(groups) == 2 and rng.random() < 0.12
    return PlateSpec(
        "EU",
        "eu",
        groups,
        seps if len(seps) == len(groups) - 1 else (" ",) * (len(groups) - 1),
        lines=2 if two else 1,
        first_line_groups=1 if two else 0,
        band=_choice(rng, EU_BANDS),
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


_MAKERS = {"B": _be, "NL": _nl, "F": _fr, "D": _de, "L": _lu, "EU": _eu, "BR": _br}


def random_spec(rng: np.random.Generator, country: str | None = None) -> PlateSpec:
    """A random plate of ``country`` (one of ``COUNTRIES``; None picks one)."""
    if country is None:
        country = _choice(rng, COUNTRIES)
    try:
        maker = _MAKERS[country]
    except KeyError:
        raise ValueError(f"unknown country {country!r}; expected one of {COUNTRIES}") from None
    return maker(rng)
