"""European number plate formats: one table for the renderer and the syntax checker.

Pure standard library, so that both ``simulator`` (which draws plates from it)
and ``agent`` (which checks reads against it) can import it without importing
each other. The records are in ``model``, the data in ``europe``;
``docs/PLATES-EUROPE.md`` is generated from it
(``python -m agent.recognition.plateformats``), with the source of every rule.

A format's ``layout`` spells what is printed, group by group:

- ``L`` a letter of the format's alphabet (``Format.letters``, else the
  country's), ``D`` a digit, ``N`` a digit 1-9, ``A`` a letter or a digit;
- ``[...]`` one character of a set (``A-Z`` ranges allowed; a character listed
  twice is drawn twice as often, the syntax counts it once);
- ``{name}`` a code from the country's list ``name`` (districts, cantons...);
- a quantifier after any of these: ``{3}``, ``{1,4}`` or ``?``;
- between groups: ``-`` a printed dash, a space (a gap), ``.`` a printed dot,
  or furniture that sits between the groups: ``|seal|`` (German seals),
  ``|arms|`` (a coat of arms, ``Format.emblem`` says whose), ``|stickers|``
  (round inspection stickers), ``|sticker|`` (one square sticker), ``|holo|``
  (the Polish hologram sticker), ``|box|`` (the Macedonian red box).

Texts are the characters A-Z0-9 without separators, as a reader reports them.
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import TYPE_CHECKING

from agent.recognition.plateformats.europe import EUROPE
from agent.recognition.plateformats.model import (
    DIGITS,
    LETTERS,
    SEPARATORS,
    CodeList,
    Country,
    Format,
    Layout,
    Template,
    Token,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ALIASES",
    "LETTERS",
    "SEPARATORS",
    "CodeList",
    "Country",
    "Format",
    "Layout",
    "Template",
    "Token",
    "countries",
    "country",
    "layout",
    "matches",
    "problems",
    "regex",
    "templates",
]

_CLASSES = {"D": DIGITS, "N": DIGITS[1:]}


def _expand_set(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            out.extend(chr(c) for c in range(ord(body[i]), ord(body[i + 2]) + 1))
            i += 3
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _quantifier(text: str, i: int) -> tuple[int, int, int]:
    """(low, high, next index) of a quantifier at ``text[i]`` (none: 1, 1, i)."""
    if i < len(text) and text[i] == "?":
        return 0, 1, i + 1
    if i < len(text) and text[i] == "{" and i + 1 < len(text) and text[i + 1].isdigit():
        end = text.index("}", i)
        low, _, high = text[i + 1 : end].partition(",")
        return int(low), int(high or low), end + 1
    return 1, 1, i


def _parse_group(
    text: str, letters: str, codes: Mapping[str, CodeList], *, syntax: bool
) -> tuple[Token, ...]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "[":
            end = text.index("]", i)
            chars, i = _expand_set(text[i + 1 : end]), end + 1
        elif ch == "{":
            end = text.index("}", i)
            name, i = text[i + 1 : end], end + 1
            low, high, i = _quantifier(text, i)
            entry = codes[name]
            if syntax and not entry.complete:
                tokens.extend(_parse_group(entry.syntax, letters, codes, syntax=True))
            else:
                tokens.append(Token("", low, high, entry.codes))
            continue
        elif ch == "L":
            chars, i = letters, i + 1
        elif ch == "A":
            chars, i = letters + DIGITS, i + 1
        elif ch in _CLASSES:
            chars, i = _CLASSES[ch], i + 1
        else:
            raise ValueError(f"bad layout character {ch!r} in {text!r}")
        low, high, i = _quantifier(text, i)
        tokens.append(Token(chars, low, high))
    return tuple(tokens)


def _split(text: str) -> list[tuple[str, bool]]:
    """Groups and separators of a layout, in order: (text, is separator)."""
    out: list[tuple[str, bool]] = []
    group: list[str] = []
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if depth == 0 and (ch in "- ." or ch == "|"):
            if ch == "|":
                end = text.index("|", i + 1)
                sep, i = text[i + 1 : end], end + 1
            else:
                sep, i = ch, i + 1
            out.append(("".join(group), False))
            out.append((sep, True))
            group = []
            continue
        depth += (ch in "[{") - (ch in "]}")
        group.append(ch)
        i += 1
    out.append(("".join(group), False))
    return out


def _ranges(chars: str) -> str:
    """A sorted character set written with ranges: ``ABCDEFH`` -> ``A-FH``."""
    codes = sorted({ord(c) for c in chars})
    out: list[str] = []
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        if j - i >= 2:
            out.append(f"{chr(codes[i])}-{chr(codes[j])}")
        else:
            out.extend(chr(c) for c in codes[i : j + 1])
        i = j + 1
    return "".join(out)


@functools.cache
def layout(country_code: str, format_name: str, *, syntax: bool = False) -> Layout:
    """The parsed layout of a format; ``syntax`` puts partial code lists' syntax in."""
    c = country(country_code)
    f = c.format(format_name)
    letters = f.letters or c.letters
    groups: list[tuple[Token, ...]] = []
    seps: list[str] = []
    for part, is_sep in _split(f.layout):
        if is_sep:
            if part not in SEPARATORS:
                raise ValueError(f"{country_code} {format_name}: unknown separator {part!r}")
            seps.append(part)
        else:
            groups.append(_parse_group(part, letters, c.codes, syntax=syntax))
    if len(seps) != len(groups) - 1:
        raise ValueError(f"{country_code} {format_name}: groups and separators do not alternate")
    return Layout(tuple(groups), tuple(seps))


def _token_regex(t: Token) -> str:
    if t.codes and all(len(code) == 1 for code in t.codes):
        body = f"[{_ranges(''.join(t.codes))}]"
    elif t.codes:
        body = "(?:" + "|".join(sorted(set(t.codes), key=lambda s: (-len(s), s))) + ")"
    else:
        chars = set(t.chars)
        body = f"[{_ranges(''.join(chars))}]" if len(chars) > 1 else re.escape(t.chars[0])
    if (t.low, t.high) == (1, 1):
        return body
    if t.low == t.high:
        return f"{body}{{{t.low}}}"
    return f"{body}{{{t.low},{t.high}}}"


@functools.cache
def format_regex(country_code: str, format_name: str) -> re.Pattern[str]:
    """The exact syntax of one format over A-Z0-9 (separators removed)."""
    lay = layout(country_code, format_name, syntax=True)
    body = "".join(_token_regex(t) for g in lay.groups for t in g)
    max_len = country(country_code).format(format_name).max_len
    head = f"(?=.{{1,{max_len}}}$)" if max_len else ""
    return re.compile(f"^{head}{body}$")


@functools.cache
def regex(country_code: str) -> re.Pattern[str]:
    """The union of a country's formats (all series still on the road)."""
    c = country(country_code)
    parts = [format_regex(c.code, f.name).pattern[1:-1] for f in c.formats]
    return re.compile("^(?:" + "|".join(f"(?:{p})" for p in parts) + ")$")


def _code_templates(codes: frozenset[str]) -> list[Template]:
    """Codes of one length as a union of position products, exactly.

    Codes are grouped by their first character, and first characters whose
    remainders spell the same templates share one: the French départements
    01-95 are [0][1-9], [1-8][0-9] and [9][0-5], so no template takes 96.
    """
    if not next(iter(codes)):
        return [()]
    rests: dict[str, set[str]] = {}
    for code in codes:
        rests.setdefault(code[0], set()).add(code[1:])
    heads: dict[tuple[Template, ...], set[str]] = {}
    for head, rest in sorted(rests.items()):
        heads.setdefault(tuple(_code_templates(frozenset(rest))), set()).add(head)
    return [
        (frozenset(first), *tail)
        for tails, first in sorted(heads.items(), key=lambda kv: min(kv[1]))
        for tail in tails
    ]


def _token_templates(t: Token) -> list[Template]:
    if t.codes:
        by_len: dict[int, set[str]] = {}
        for code in t.codes:
            by_len.setdefault(len(code), set()).add(code)
        singles = [
            tpl for _, group in sorted(by_len.items()) for tpl in _code_templates(frozenset(group))
        ]
        if (t.low, t.high) == (1, 1):
            return singles
        out: list[Template] = []
        for k in range(t.low, t.high + 1):
            out.extend(
                tuple(itertools.chain(*combo)) for combo in itertools.product(singles, repeat=k)
            )
        return out
    cls = frozenset(t.chars)
    return [(cls,) * k for k in range(t.low, t.high + 1)]


@functools.cache
def templates(country_code: str) -> tuple[Template, ...]:
    """Position templates of a country: the allowed characters at each position.

    A complete code list becomes the few templates that spell exactly its codes
    (``_code_templates``); a sampled one its syntax. A template still takes what
    ``max_len`` and a Viterbi pass cannot see apart, so a checker that swaps
    look-alikes (O/0, I/1, ...) works on these and confirms with ``regex``.
    """
    c = country(country_code)
    seen: dict[Template, None] = {}
    for f in c.formats:
        lay = layout(c.code, f.name, syntax=True)
        tokens = [t for g in lay.groups for t in g]
        for combo in itertools.product(*(_token_templates(t) for t in tokens)):
            tpl: Template = tuple(itertools.chain(*combo))
            if tpl and (not f.max_len or len(tpl) <= f.max_len):
                seen.setdefault(tpl, None)
    return tuple(seen)


def problems() -> list[str]:
    """What is inconsistent in the table (empty when it is sound).

    A code of a sampled (incomplete) list must fit the list's syntax, or the
    renderer would draw plates the syntax check refuses.
    """
    out: list[str] = []
    for c in countries():
        for name, entry in c.codes.items():
            if entry.complete:
                continue
            tokens = _parse_group(entry.syntax, c.letters, c.codes, syntax=True)
            pattern = re.compile("^" + "".join(_token_regex(t) for t in tokens) + "$")
            out.extend(
                f"{c.code} {{{name}}}: {code} does not fit {entry.syntax}"
                for code in entry.codes
                if not pattern.match(code)
            )
    return out


def matches(text: str, codes: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """(country, format) pairs whose syntax ``text`` fits, in table order."""
    out: list[tuple[str, str]] = []
    for c in countries():
        if codes is not None and c.code not in codes:
            continue
        out.extend((c.code, f.name) for f in c.formats if format_regex(c.code, f.name).match(text))
    return out


@functools.cache
def _table() -> dict[str, Country]:
    return {c.code: c for c in EUROPE}


# Other spellings of a country's code (older signs, ISO-style codes in configs).
ALIASES = {"GB": "UK", "MK": "NMK", "KS": "RKS", "SF": "FIN"}


def countries() -> tuple[Country, ...]:
    """Every country in the table, in table order."""
    return tuple(_table().values())


def country(code: str) -> Country:
    """The country with distinguishing sign ``code`` (or one of its ``ALIASES``)."""
    table = _table()
    key = ALIASES.get(code, code)
    if key not in table:
        raise KeyError(f"no plate formats for {code!r}; known: {', '.join(table)}")
    return table[key]
