"""Country plate syntaxes, and confusion fixes where the syntax decides.

A CTC reader confuses O/0, I/1, B/8, S/5, Z/2 (and D/0, G/6 less often). Where a
country's syntax fixes a position to letters or to digits, the wrong member of
such a pair can be swapped back; where a position may hold either (the first
character of a Belgian plate), nothing is changed. Texts are A-Z0-9 only. See
``shared/PLATES.md`` for the formats.
"""

from __future__ import annotations

import itertools
import re
import string
from dataclasses import dataclass

__all__ = ["SHAPES", "SUPPORTED", "SyntaxMatch", "check", "supported", "visitors"]

_L = frozenset(string.ascii_uppercase)
_D = frozenset(string.digits)
_NL = frozenset("BDFGHJKLNPRSTVXZ")  # no vowels since sidecode 4, no C/Q
_FR = _L - frozenset("IOU")
# The pairs a plate font makes hard to tell apart; nothing more aggressive (A/4, T/7)
# because a wrong swap turns a misread into a confident, syntactically valid misread.
# Candidates in order; the first one the position allows is taken. O -> Q serves the
# countries that print no O (France, Italy): there a round letter is a Q.
_SWAPS = {
    "O": "0Q", "D": "0", "Q": "0O", "I": "1", "Z": "2", "S": "5", "G": "6", "B": "8",
    "0": "OQ", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B",
}  # fmt: skip

Template = tuple[frozenset[str], ...]


def _t(*parts: tuple[frozenset[str], int]) -> Template:
    return tuple(itertools.chain.from_iterable([cls] * n for cls, n in parts))


def _be() -> list[Template]:
    first = (_D - {"0"}) | _L
    return [_t((first, 1), (_L, 3), (_D, 3)), _t((_L, 3), (_D, 3)), _t((_D, 3), (_L, 3))]


def _nl() -> list[Template]:
    codes = (
        "LL-DDD-L",
        "L-DDD-LL",
        "LLL-DD-L",
        "DD-LL-LL",
        "DD-LLL-D",
        "D-LLL-DD",
        "LL-DD-LL",
        "DD-DD-LL",
        "LL-LL-DD",
        "LL-DD-DD",
        "DD-LL-DD",
    )
    return [tuple(_NL if c == "L" else _D for c in code.replace("-", "")) for code in codes]


def _fr() -> list[Template]:
    # SIV LL-DDD-LL, and the trade plates W-DDD-LL ("W garage") of the same series.
    out = [_t((_FR, 2), (_D, 3), (_FR, 2)), _t((frozenset("W"), 1), (_D, 3), (_FR, 2))]
    dept2 = (_D, _D)
    for n_dig, n_let in itertools.product(range(1, 5), range(1, 4)):
        head = _t((_D, n_dig), (_L, n_let))
        out.append(head + dept2)
        out.append((*head, frozenset("2"), frozenset("AB")))  # Corsica 2A/2B
        out.append((*head, frozenset("9"), frozenset("7"), _D))  # overseas 97x
    return out


def _de() -> list[Template]:
    out = []
    for n_let, n_dig in itertools.product(range(2, 6), range(1, 5)):
        if n_let + n_dig <= 8:
            base = _t((_L, n_let), (_D - {"0"}, 1), (_D, n_dig - 1))
            out.append(base)
            if n_let + n_dig < 8:
                out.append((*base, frozenset("EH")))
    return out


def _lu() -> list[Template]:
    return [_t((_L, 2), (_D, 4)), _t((_L, 1), (_D, 4)), _t((_L, 2), (_D, 3))]


def _es() -> list[Template]:
    return [_t((_D, 4), (_L - frozenset("AEIOUQ"), 3))]


def _it() -> list[Template]:
    it = _L - frozenset("IOQU")
    return [_t((it, 2), (_D, 3), (it, 2))]


def _br() -> list[Template]:
    # The old grey series LLL-DDDD and Mercosur LLL-D-L-DD (both still on the road).
    return [_t((_L, 3), (_D, 4)), _t((_L, 3), (_D, 1), (_L, 1), (_D, 2))]


def _gb() -> list[Template]:
    return [_t((_L - frozenset("IQZ"), 2), (_D, 2), (_L - frozenset("IQ"), 3))]


SUPPORTED: dict[str, list[Template]] = {
    "B": _be(),
    "NL": _nl(),
    "F": _fr(),
    "D": _de(),
    "L": _lu(),
    "E": _es(),
    "I": _it(),
    "GB": _gb(),
    "BR": _br(),
}
_PLAIN = re.compile(r"^[A-Z0-9]+$")


def _shapes(*codes: str) -> list[Template]:
    return [tuple(_L if c == "L" else _D for c in code.replace(" ", "")) for code in codes]


# Letter/digit layouts of visitors' plates from shared/PLATES.md, letters unrestricted.
# They are not a syntax to fit a read into: they are what a domestic fit is weighed
# against (agent.fitctc), so a visitor's plate read right is not forced into a
# domestic look-alike.
SHAPES: dict[str, list[Template]] = {
    "UK": _shapes("LL DD LLL", "L DDD LLL", "LLL DDD L"),
    "PL": _shapes("LL DDDDD", "LL DDDLL", "LL DDLLL", "LL DLLLL", "LLL DDDDD", "LLL DDDLL"),
    "CZ": _shapes("DLD DDDD", "DLL DDDD"),
    "SK": _shapes("LL DDDLL"),
    "RO": _shapes("LL DD LLL", "L DD LLL", "L DDD LLL"),
    "BG": _shapes("L DDDD LL", "LL DDDD LL"),
    "HR": _shapes("LL DDD L", "LL DDD LL", "LL DDDD L", "LL DDDD LL"),
    "CH": _shapes(*("LL " + "D" * n for n in range(1, 7))),
}


def visitors(countries: tuple[str, ...]) -> tuple[str, ...]:
    """The known plate layouts (syntaxes and shapes) of every country not configured."""
    return tuple(c for c in (*SUPPORTED, *SHAPES) if c not in countries)


def supported(countries: tuple[str, ...]) -> list[str]:
    """The codes in ``countries`` that have no syntax here (empty when all are known)."""
    return [c for c in countries if c not in SUPPORTED]


@dataclass(frozen=True, slots=True)
class SyntaxMatch:
    """A text fitted to a country's syntax, and how many characters were swapped."""

    text: str
    country: str | None  # None: no configured syntax fits; text is the raw read
    fixes: int


def _fit(text: str, template: Template) -> tuple[str, int] | None:
    out: list[str] = []
    fixes = 0
    for ch, allowed in zip(text, template, strict=True):
        if ch in allowed:
            out.append(ch)
            continue
        swap = next((c for c in _SWAPS.get(ch, "") if c in allowed), None)
        if swap is None:
            return None
        out.append(swap)
        fixes += 1
    return "".join(out), fixes


def check(text: str, countries: tuple[str, ...], max_fixes: int = 2) -> SyntaxMatch:
    """Fit ``text`` to the first country (in ``countries`` order) needing the fewest swaps.

    At most ``max_fixes`` characters are swapped: a read that needs more is more
    likely a misread or another country's plate, and is returned unchanged.
    """
    if not _PLAIN.match(text):
        return SyntaxMatch(text, None, 0)
    best: SyntaxMatch | None = None
    for country in countries:
        for template in SUPPORTED.get(country, ()):
            if len(template) != len(text):
                continue
            fitted = _fit(text, template)
            if fitted is None or fitted[1] > max_fixes:
                continue
            if best is None or fitted[1] < best.fixes:
                best = SyntaxMatch(fitted[0], country, fitted[1])
                if best.fixes == 0:
                    return best
    return best if best is not None else SyntaxMatch(text, None, 0)
