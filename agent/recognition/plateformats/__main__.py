"""Write the format table as Markdown.

``python -m agent.recognition.plateformats > docs/PLATES-EUROPE.md``
"""

from __future__ import annotations

import random
import sys

from agent.recognition import plateformats as pf
from agent.recognition.plateformats.europe import BELGIAN_TRAFFIC

_INTRO = """\
# European plate formats

Generated from `agent/recognition/plateformats/europe.py` by
`python -m agent.recognition.plateformats`; edit the table there, not this file
(a test checks they agree). One table serves the
plate renderer (`simulator/plates`) and the syntax checks (`plateformats.regex`,
`plateformats.templates`): what is drawn is what is checked.

Layouts: `L` a letter of the series' alphabet, `D` a digit, `N` a digit 1-9,
`A` a letter or digit, `[..]` a set, `{name}` a code from the country's list,
`{m,n}` / `?` repeats; between groups `-` dash, space, `|seal|` German seals,
`|arms|` a coat of arms, `|stickers|` round inspection stickers, `|sticker|` a
square sticker, `|holo|` the Polish hologram sticker, `|box|` the Macedonian
red box. Texts are read as A-Z0-9 without separators. Share: the series'
part of the country's plates on the road (an estimate, for sampling). Look:
background/characters, left band (eu: EU stars, flag: national flag, plain:
code only), typeface family the renderer imitates, furniture. (unc.) marks a
rule the sources do not settle.
"""


def _example(country: pf.Country, fmt: pf.Format, seed: int) -> str:
    rng = random.Random(f"{country.code}/{fmt.name}/{seed}")  # noqa: S311  (examples, not secrets)
    lay = pf.layout(country.code, fmt.name)
    for _ in range(50):
        groups = []
        for group in lay.groups:
            text = ""
            for t in group:
                n = rng.randint(t.low, t.high)
                text += "".join(
                    rng.choice(t.codes) if t.codes else rng.choice(t.chars) for _ in range(n)
                )
            groups.append(text)
        if not fmt.max_len or sum(map(len, groups)) <= fmt.max_len:
            break
    out = groups[0]
    for sep, printed in zip(lay.seps, groups[1:], strict=True):
        out += {"-": "-", " ": " ", ".": "·"}.get(sep, f" ({sep}) ") + printed
    return out


def _look(fmt: pf.Format) -> str:
    colours = ", ".join(
        f"{bg}/{ink}" + (f" {share:.0%}" if share < 1 else "") for share, bg, ink in fmt.colours
    )
    parts = [colours]
    if fmt.band != "none":
        parts.append(f"band {fmt.band}" + (f" {fmt.band_share:.0%}" if fmt.band_share < 1 else ""))
    parts.append(f"font {fmt.font}")
    for label, value in (
        ("arms", fmt.emblem),
        ("right", fmt.right),
        ("frame", fmt.frame),
        ("top", fmt.top),
    ):
        if value:
            parts.append(f"{label} {value}")
    if fmt.two_line:
        parts.append(
            f"two-line {fmt.two_share:.0%} (top: {fmt.two_line} group{'s' * (fmt.two_line > 1)})"
        )
    if fmt.size != (520, 110):
        parts.append(f"{fmt.size[0]}x{fmt.size[1]} mm")
    return "; ".join(parts)


def markdown() -> str:
    """The whole table as Markdown."""
    lines = [_INTRO]
    total = sum(BELGIAN_TRAFFIC.values())
    lines.append("## Countries and default sampling weights (Belgian traffic)\n")
    lines.append("| code | country | weight | series |")
    lines.append("|---|---|---|---|")
    for c in pf.countries():
        weight = BELGIAN_TRAFFIC.get(c.code, 0.0) / total
        lines.append(f"| {c.code} | {c.name} | {weight:.2%} | {len(c.formats)} |")
    lines.append("")
    for c in pf.countries():
        lines.append(f"## {c.name} ({c.code})\n")
        if c.note:
            lines.append(f"{c.note[0].upper()}{c.note[1:]}.\n")
        letters = pf.LETTERS if c.letters == pf.LETTERS else c.letters
        lines.append(f"Serial letters: `{letters}`.\n")
        lines.append("| series | layout | example | share | since | look | syntax |")
        lines.append("|---|---|---|---|---|---|---|")
        for f in c.formats:
            syntax = pf.format_regex(c.code, f.name).pattern
            if len(syntax) > 90:
                syntax = syntax[:87] + "..."
            layout = f.layout.replace("|", "\\|")
            example = _example(c, f, 1).replace("|", "\\|")
            note = f" {f.note[0].upper()}{f.note[1:]}." if f.note else ""
            syntax = syntax.replace("|", "\\|")
            lines.append(
                f"| {f.name} | `{layout}` | {example} | {f.share:.0%} | {f.since} |"
                f" {_look(f)}.{note} | `{syntax}` |"
            )
        for name, codes in c.codes.items():
            kind = "all" if codes.complete else f"a sample; syntax `{codes.syntax}`"
            lines.append(f"\n`{{{name}}}` ({kind}): {' '.join(codes.codes)}")
        lines.append(
            "\nSources: " + "; ".join(f"<{s}>" if s.startswith("http") else s for s in c.sources)
        )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
