"""The format table's vocabulary: alphabets, separators and the records a country is made of."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DIGITS",
    "LETTERS",
    "SEPARATORS",
    "CodeList",
    "Country",
    "Format",
    "Layout",
    "Template",
    "Token",
]

LETTERS = string.ascii_uppercase
DIGITS = string.digits
# What may stand between two groups (see the module docstring).
SEPARATORS = ("-", " ", ".", "seal", "arms", "stickers", "sticker", "holo", "box")

Template = tuple[frozenset[str], ...]  # one allowed character set per position


@dataclass(frozen=True, slots=True)
class CodeList:
    """Codes a group may start with (districts, provinces, cantons...).

    ``complete`` lists are the whole set, so the syntax checks them; otherwise
    the list is only what the renderer draws from and the syntax uses ``syntax``
    (a layout fragment such as ``L{1,3}``) in its place.
    """

    codes: tuple[str, ...]
    complete: bool = True
    syntax: str = ""


@dataclass(frozen=True, slots=True)
class Format:
    """One plate series of a country: its syntax, its share, how it looks."""

    name: str
    layout: str
    share: float  # of the country's plates on the road (relative weight)
    since: str = ""
    letters: str = ""  # what ``L`` means here; empty: the country's letters
    max_len: int = 0  # > 0: texts longer than this do not exist (Germany: 8)
    two_line: int = 0  # groups on the top line of the two-line (square) plate; 0: none
    two_share: float = 0.0  # share of this series' plates that are two-line
    colours: tuple[tuple[float, str, str], ...] = ((1.0, "white", "black"),)
    band: str = "eu"  # left band: eu (stars), flag (national flag), plain (code only), none
    band_share: float = 1.0  # share of plates that carry the band
    font: str = "din"  # plate typeface family the renderer imitates (see draw.FAMILIES)
    emblem: str = ""  # whose coat of arms |arms| draws; ends: shields at both plate ends
    right: str = ""  # right-hand band: fr (département), it (year, province), pt (date), al
    frame: str = ""  # border or stripes: at (red-white-red), dk (red), si (green), is (blue)
    top: str = ""  # small text above the characters: ie (county name in Irish)
    size: tuple[int, int] = (520, 110)  # one-line plate, mm
    note: str = ""


@dataclass(frozen=True, slots=True)
class Country:
    """A country's plate formats and where the rules come from."""

    code: str  # international distinguishing sign, as the agent's config spells it
    name: str
    formats: tuple[Format, ...]
    sources: tuple[str, ...]
    letters: str = LETTERS  # the serial letters the country issues
    codes: Mapping[str, CodeList] = field(default_factory=dict)
    band_code: str = ""  # what the band prints when it is not ``code``
    flag: tuple[str, ...] = ()  # national flag stripes (top to bottom) for a flag band
    note: str = ""

    def format(self, name: str) -> Format:
        """The format called ``name``."""
        for f in self.formats:
            if f.name == name:
                return f
        raise KeyError(f"{self.code} has no format {name!r}")


@dataclass(frozen=True, slots=True)
class Token:
    """One position pattern: characters (or a code list) repeated low..high times."""

    chars: str  # allowed characters, repeats weight the draw; empty when ``codes``
    low: int = 1
    high: int = 1
    codes: tuple[str, ...] = ()  # the token is one code of this list

    @property
    def allowed(self) -> frozenset[str]:
        """The characters this token may print (code lists: all their characters)."""
        return frozenset(self.chars) if not self.codes else frozenset("".join(self.codes))


@dataclass(frozen=True, slots=True)
class Layout:
    """A parsed layout: groups of tokens and what separates consecutive groups."""

    groups: tuple[tuple[Token, ...], ...]
    seps: tuple[str, ...]
