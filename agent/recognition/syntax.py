"""Country plate syntaxes, and confusion fixes where the syntax decides.

The syntaxes are the European plate-format table's (``agent.recognition.plateformats``,
``docs/PLATES-EUROPE.md``), the one the simulator's renderer draws plates from, so
what is drawn is what is checked; Brazil (not in the table) keeps its two series
here. A CTC reader confuses O/0, I/1, B/8, S/5, Z/2 (and D/0, G/6 less often).
Where a country's syntax fixes a position to letters or to digits, the wrong
member of such a pair can be swapped back; where a position may hold either (the
first character of a Belgian plate), nothing is changed. The table's position
templates spell what its regular expressions take (a complete list of district
codes as the few templates that spell exactly those codes); every fit is still
confirmed by the country's regular expression, so a template looser than the
rule can never pass a text the country does not issue. Texts are A-Z0-9 only.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass

from agent.recognition import plateformats

__all__ = [
    "SUPPORTED",
    "SyntaxMatch",
    "Template",
    "canonical",
    "check",
    "known",
    "resolve",
    "supported",
    "valid",
    "visitors",
]

_L = frozenset(string.ascii_uppercase)
_D = frozenset(string.digits)
# The pairs a plate font makes hard to tell apart; nothing more aggressive (A/4, T/7)
# because a wrong swap turns a misread into a confident, syntactically valid misread.
# Candidates in order; the first one the position allows is taken. O -> Q serves the
# countries that print no O (France, Italy): there a round letter is a Q.
_SWAPS = {
    "O": "0Q", "D": "0", "Q": "0O", "I": "1", "Z": "2", "S": "5", "G": "6", "B": "8",
    "0": "OQ", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B",
}  # fmt: skip

Template = plateformats.Template


def _br() -> tuple[Template, ...]:
    # The old grey series LLL-DDDD and Mercosur LLL-D-L-DD (both still on the road).
    return ((_L,) * 3 + (_D,) * 4, (_L,) * 3 + (_D, _L, _D, _D))


_BR = re.compile(r"^[A-Z]{3}[0-9](?:[0-9]|[A-Z])[0-9]{2}$")

# Every country's position templates: the table's, and Brazil's.
SUPPORTED: dict[str, tuple[Template, ...]] = {
    **{c.code: plateformats.templates(c.code) for c in plateformats.countries()},
    "BR": _br(),
}
_PLAIN = re.compile(r"^[A-Z0-9]+$")


@functools.cache
def canonical(code: str) -> str | None:
    """The table's code for ``code`` (an alias such as GB -> UK resolved); None if unknown."""
    if code == "BR":
        return code
    try:
        return plateformats.country(code).code
    except KeyError:
        return None


def known() -> tuple[str, ...]:
    """Every code a configuration may name: the table's, its aliases, and BR."""
    return (*SUPPORTED, *plateformats.ALIASES)


def supported(countries: tuple[str, ...]) -> list[str]:
    """The codes in ``countries`` that have no syntax here (empty when all are known)."""
    return [c for c in countries if canonical(c) is None]


@functools.cache
def resolve(countries: tuple[str, ...]) -> tuple[str, ...]:
    """``countries`` as the table's codes, in order, each once; unknown codes left out."""
    out: dict[str, None] = {}
    for c in countries:
        code = canonical(c)
        if code is not None:
            out.setdefault(code, None)
    return tuple(out)


@functools.cache
def _regex(country: str) -> re.Pattern[str]:
    return _BR if country == "BR" else plateformats.regex(country)


def valid(text: str, country: str) -> bool:
    """Whether ``text`` is a plate ``country`` issues (its exact syntax, not the templates)."""
    code = canonical(country)
    return code is not None and _regex(code).match(text) is not None


@functools.cache
def visitors(countries: tuple[str, ...]) -> tuple[str, ...]:
    """Every country with a known syntax that is not configured (visitors' plates)."""
    mine = set(resolve(countries))
    return tuple(c for c in SUPPORTED if c not in mine)


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

    Codes are resolved through the table (GB is UK); unknown ones are skipped. At
    most ``max_fixes`` characters are swapped: a read that needs more is more likely
    a misread or another country's plate, and is returned unchanged. A fit must be
    a plate the country issues (its regular expression), not only fit a template.
    """
    if not _PLAIN.match(text):
        return SyntaxMatch(text, None, 0)
    if max_fixes == 0:  # the text as it is: a country's regular expression says it all
        country = next((c for c in resolve(countries) if _regex(c).match(text)), None)
        return SyntaxMatch(text, country, 0)
    best: SyntaxMatch | None = None
    for country in resolve(countries):
        for template in SUPPORTED[country]:
            if len(template) != len(text):
                continue
            fitted = _fit(text, template)
            if fitted is None or fitted[1] > max_fixes:
                continue
            if best is not None and fitted[1] >= best.fixes:
                continue
            if not _regex(country).match(fitted[0]):
                continue  # a template looser than the country's rule
            best = SyntaxMatch(fitted[0], country, fitted[1])
            if best.fixes == 0:
                return best
    return best if best is not None else SyntaxMatch(text, None, 0)
