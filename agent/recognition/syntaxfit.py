"""Syntax-constrained CTC decoding: the most probable plate text a country allows.

Greedy decoding takes the best class per frame and then ``agent.syntax`` swaps
look-alike characters where a country's syntax fixes a position to letters or
digits. That cannot drop a character read from furniture (a French region band's
digit, a coat of arms), cannot insert one the greedy path lost, and trusts any
swap of a listed pair however sure the model was.

Here every configured syntax template competes on the model's own evidence: a
Viterbi pass over the CTC lattice restricted to the template's character classes
gives the best path that spells a valid plate. Its log-probability is compared
with the unconstrained best path; the difference (``gap``, in nats) is what the
model would have to be wrong by for the valid text to be the truth. A small gap
means a misread domestic plate, fitted; a large one means a visitor's plate or a
model sure of a wrong character, which ``settle`` tells apart as well as the
read allows. Pure numpy; no I/O.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from agent.core.events import mean_conf
from agent.recognition.syntax import SUPPORTED, check, resolve, valid, visitors

if TYPE_CHECKING:
    from agent.recognition.ctc import Decoded

__all__ = ["MAX_GAP", "Fitted", "Labels", "Settled", "fit", "log_likelihood", "settle"]

# Nats by which a domestic fit may trail the free read, set with `anpr-sim eval reader`
# (models/README.md): larger fixes more of the configured countries' misreads,
# smaller keeps more visitors' plates as read.
MAX_GAP = 6.0

Floats = npt.NDArray[np.float32]
_NEG = np.float32(-1e9)
_FLOOR = np.float32(1e-12)


@dataclass(frozen=True, slots=True)
class Fitted:
    """The best valid text for a CTC output, and how far it is from the free read."""

    text: str
    country: str
    char_conf: tuple[int, ...]  # per mille, the best frame probability of each character
    gap: float  # nats: free best path minus this text's best path (>= 0)


class Labels(Protocol):
    """How a model's output columns map to characters (a reader card has both)."""

    @property
    def alphabet(self) -> str:
        """The characters, in column order, the blank left out."""
        ...

    @property
    def blank(self) -> int:
        """The blank's column."""
        ...


@dataclass(frozen=True, slots=True)
class Settled:
    """What a read says after the syntax has had its say."""

    text: str
    char_conf: tuple[int, ...]
    country: str | None  # None: no configured syntax accepted it

    @property
    def mean_conf(self) -> float:
        """Mean character confidence in 0..1 (0 for an empty read)."""
        return mean_conf(self.char_conf)


def settle(
    probs: Floats,
    decoded: Decoded,
    labels: Labels,
    countries: tuple[str, ...],
    max_gap: float = MAX_GAP,
) -> Settled:
    """Settle a greedy read against the configured countries' syntaxes.

    1. The read fits a configured syntax as it is: kept.
    2. A configured syntax's best text trails the free read by at most ``max_gap``
       nats: that text (it may drop a character read from furniture, restore one the
       greedy path lost, or change a doubtful one).
    3. The read fits a visitor's layout as it is: kept, with no country.
    4. Otherwise the look-alike swaps of ``agent.syntax.check`` (at most two), for a
       model confidently wrong between, say, I and 1.
    """
    exact = check(decoded.text, countries, max_fixes=0)
    if exact.country is not None:
        return Settled(decoded.text, decoded.char_conf, exact.country)
    (domestic,) = fit(probs, labels.alphabet, labels.blank, (countries,))
    if domestic is not None and domestic.gap <= max_gap:
        return Settled(domestic.text, domestic.char_conf, domestic.country)
    # Every other country's syntax, on the read as it is: a string test, not a Viterbi
    # pass per template of some forty countries.
    if check(decoded.text, visitors(countries), max_fixes=0).country is not None:
        return Settled(decoded.text, decoded.char_conf, None)
    swapped = check(decoded.text, countries)
    return Settled(swapped.text, decoded.char_conf, swapped.country)


_NONE = -1e30  # log of a probability too small to matter, kept finite (no inf warnings)


def log_likelihood(probs: Floats, text: str, alphabet: str, blank: int) -> float:
    """The CTC log-likelihood of ``text``: every alignment of it summed (the forward pass).

    ``probs`` is one T x C softmax output. Greedy and Viterbi decoding score one
    path; this scores the text, so the reads of several crops of one plate can be
    weighed on the same footing. A character outside ``alphabet`` gives ``_NONE``.
    """
    if any(ch not in alphabet for ch in text):
        return _NONE
    cols = [alphabet.index(ch) for ch in text]
    ext = np.full(2 * len(cols) + 1, blank, np.int64)
    ext[1::2] = [c + 1 if c >= blank else c for c in cols]
    # Character state s may be entered from s - 2 (skipping the blank between) unless
    # it repeats the character before it: "AA" needs a blank between its two As.
    skip = np.zeros(ext.size, np.bool_)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    logp = np.log(np.maximum(probs, _FLOOR)).astype(np.float64)
    alpha = np.full(ext.size, _NONE)
    alpha[: min(2, ext.size)] = logp[0, ext[:2]]
    one, two = np.full(ext.size, _NONE), np.full(ext.size, _NONE)
    for t in range(1, logp.shape[0]):
        one[1:] = alpha[:-1]
        two[2:] = np.where(skip[2:], alpha[:-2], _NONE)
        alpha = np.logaddexp(np.logaddexp(alpha, one), two) + logp[t, ext]
    return float(np.logaddexp(alpha[-1], alpha[-2])) if ext.size > 1 else float(alpha[-1])


@dataclass(frozen=True, slots=True)
class _Grammar:
    """Every template of some groups of countries, padded into arrays."""

    countries: tuple[tuple[str, ...], ...]  # per template: its group's countries that have it
    groups: npt.NDArray[np.int64]  # K: which group each template belongs to
    lengths: npt.NDArray[np.int64]  # K
    classes: npt.NDArray[np.int64]  # K x n_max indices into masks (last row: nothing)
    masks: npt.NDArray[np.bool_]  # M+1 x C: which model classes a character class allows


@functools.lru_cache(maxsize=16)
def _grammar(alphabet: str, blank: int, groups: tuple[tuple[str, ...], ...]) -> _Grammar | None:
    # A template several countries share is scored once, in the first group that has
    # it, for each of that group's countries that have it (in order).
    seen: dict[tuple[frozenset[str], ...], tuple[list[str], int]] = {}
    for group, countries in enumerate(groups):
        for country in resolve(countries):
            for template in SUPPORTED[country]:
                owners, first = seen.setdefault(template, ([], group))
                if first == group:
                    owners.append(country)
    if not seen:
        return None
    columns = {ch: (k + 1 if k >= blank else k) for k, ch in enumerate(alphabet)}
    sets = sorted({s for t in seen for s in t}, key=lambda s: "".join(sorted(s)))
    masks = np.zeros((len(sets) + 1, len(alphabet) + 1), np.bool_)
    for j, s in enumerate(sets):
        for ch in s:
            if ch in columns:
                masks[j, columns[ch]] = True
    n_max = max(len(t) for t in seen)
    nothing = len(sets)
    templates = list(seen)
    classes = np.full((len(templates), n_max), nothing, np.int64)
    for k, t in enumerate(templates):
        classes[k, : len(t)] = [sets.index(s) for s in t]
    return _Grammar(
        countries=tuple(tuple(seen[t][0]) for t in templates),
        groups=np.array([seen[t][1] for t in templates], np.int64),
        lengths=np.array([len(t) for t in templates], np.int64),
        classes=classes,
        masks=masks,
    )


def fit(
    probs: Floats,
    alphabet: str,
    blank: int,
    groups: tuple[tuple[str, ...], ...],
    *,
    near: int = 1,
) -> list[Fitted | None]:
    """For each group of countries, the most probable text one of their layouts allows.

    ``probs`` is one T x C softmax output; a group is e.g. the configured countries,
    or ``agent.recognition.syntax.visitors`` of them. Only templates within ``near`` characters of
    the greedy read's length compete (a plate is not hiding in a much longer or
    shorter read). None for a group with no known layout or none that fits.
    """
    grammar = _grammar(alphabet, blank, groups)
    out: list[Fitted | None] = [None] * len(groups)
    if grammar is None:
        return out
    logp = np.log(np.maximum(probs, _FLOOR)).astype(np.float32)
    best = logp.argmax(axis=1)
    greedy_len = int(np.count_nonzero((best != blank) & np.r_[True, best[1:] != best[:-1]]))
    keep = np.flatnonzero(np.abs(grammar.lengths - greedy_len) <= near)
    if keep.size == 0:
        return out
    scores, back, labels, finals = _viterbi(logp, blank, grammar, keep)
    free = float(logp.max(axis=1).sum())
    for i in range(len(groups)):
        mine = np.flatnonzero(grammar.groups[keep] == i)
        # Best first; ties: the first template, so the first country.
        for k in mine[np.argsort(-scores[mine], kind="stable")][:_TRIES]:
            if scores[k] <= _NEG / 2:
                break
            states = _backtrack(back[:, k], finals[k])
            text, conf = _spell(states, labels[:, k], probs, alphabet, blank)
            # The text must be a plate one of the template's countries issues (the
            # templates spell the table's rules; this holds should one be looser).
            country = next((c for c in grammar.countries[keep[k]] if valid(text, c)), None)
            if country is not None:
                out[i] = Fitted(text, country, conf, max(0.0, free - float(scores[k])))
                break
    return out


# Templates tried per group, best first, until one spells a plate its country issues.
_TRIES = 8


def _viterbi(
    logp: Floats, blank: int, grammar: _Grammar, keep: npt.NDArray[np.int64]
) -> tuple[Floats, npt.NDArray[np.int8], npt.NDArray[np.int8], npt.NDArray[np.int64]]:
    """Best CTC path of each kept template: scores, back-pointers, labels, final states.

    State s = 2i is the blank before character i, 2i + 1 is character i. A character
    state carries the label its path entered it with: staying costs that label's
    probability, and character i may follow character i - 1 without a blank only as a
    different label (else one wide "T" would pass for "TT"), as in CTC itself.
    """
    t_len = logp.shape[0]
    lengths = grammar.lengths[keep]
    classes = grammar.classes[keep][:, : int(lengths.max())]  # K x n
    k_n, n = classes.shape
    s_n = 2 * n + 1
    # Per character class and frame: the best and the runner-up member (column, value).
    scored = np.where(grammar.masks[None], logp[:, None, :], _NEG)  # T x M+1 x C
    order = np.argsort(-scored, axis=2)[..., :2]
    vals = np.take_along_axis(scored, order, axis=2)
    top_col, top_val = order[:, classes, 0], vals[:, classes, 0]  # T x K x n
    sec_col, sec_val = order[:, classes, 1], vals[:, classes, 1]
    blank_lp = logp[:, blank]
    idx = np.arange(k_n)
    # Scores of the blank states (before character i, i = 0..n) and character states.
    bs = np.full((k_n, n + 1), _NEG, np.float32)
    cs = np.full((k_n, n), _NEG, np.float32)
    lab = np.full((k_n, n), blank, np.int64)
    bs[:, 0] = blank_lp[0]
    cs[:, 0] = top_val[0, :, 0]
    lab[:, 0] = top_col[0, :, 0]
    back = np.zeros((t_len, k_n, s_n), np.int8)
    labels = np.zeros((t_len, k_n, n), np.int8)
    labels[0] = lab
    for t in range(1, t_len):
        # Blank i: stay, or come from character i - 1.
        from_char = cs > bs[:, 1:]
        new_bs = bs.copy()
        new_bs[:, 1:] = np.where(from_char, cs, bs[:, 1:])
        new_bs += blank_lp[t]
        # Character i: stay with its label, enter from blank i, or straight from
        # character i - 1 with another label.
        stay = cs + logp[t][lab]
        step = bs[:, :n] + top_val[t]
        clash = top_col[t, :, 1:] == lab[:, :-1]
        skip_lab = np.where(clash, sec_col[t, :, 1:], top_col[t, :, 1:])
        skip = np.full((k_n, n), _NEG, np.float32)
        skip[:, 1:] = cs[:, :-1] + np.where(clash, sec_val[t, :, 1:], top_val[t, :, 1:])
        take_step = step > stay
        best = np.where(take_step, step, stay)
        take_skip = skip > best
        cs = np.where(take_skip, skip, best)
        lab = np.where(take_step, top_col[t], lab)
        lab[:, 1:] = np.where(take_skip[:, 1:], skip_lab, lab[:, 1:])
        bs = new_bs
        back[t, :, 2::2] = from_char
        back[t, :, 1::2] = np.where(take_skip, 2, take_step)
        labels[t] = lab
    end_blank, end_char = bs[idx, lengths], cs[idx, lengths - 1]
    finals = np.where(end_blank >= end_char, 2 * lengths, 2 * lengths - 1)
    return np.maximum(end_blank, end_char), back, labels, finals


def _backtrack(back: npt.NDArray[np.int8], final: int) -> list[int]:
    state = int(final)
    states = [state]
    for t in range(back.shape[0] - 1, 0, -1):
        state -= int(back[t, state])
        states.append(state)
    states.reverse()
    return states


def _spell(
    states: list[int], labels: npt.NDArray[np.int8], probs: Floats, alphabet: str, blank: int
) -> tuple[str, tuple[int, ...]]:
    """The labels along the best path, one per character state; their best probability."""
    text: list[str] = []
    conf: list[int] = []
    prev = -1
    for t, s in enumerate(states):
        if s % 2 == 0:
            prev = -1
            continue
        col = int(labels[t, s // 2])
        if s != prev:
            text.append(alphabet[col - 1 if col > blank else col])
            conf.append(round(float(probs[t, col]) * 1000))
        else:
            conf[-1] = max(conf[-1], round(float(probs[t, col]) * 1000))
        prev = s
    return "".join(text), tuple(conf)
