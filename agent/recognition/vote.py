"""Turn the reads of one vehicle pass into one read: a pure function.

The reads of a pass disagree a little (a character misread in one frame, a
truncated read as the plate leaves the view) and sometimes a lot (a read of
the wrong plate, of a sign). :func:`vote` clusters the reads by string
similarity, keeps the largest cluster (ties: the higher summed confidence),
and votes per character among the cluster's reads of the most common length,
each vote weighted by its character confidence. A plate entering or leaving the
view, or half hidden, reads as a piece of itself ("5O67" of "5067PER"): a
cluster that is such a piece of a longer one counts for the longer one, so the
frames where the whole plate was seen are not outvoted by the frames where
only a piece was.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from agent.core.events import PlateText

__all__ = ["Vote", "is_piece", "levenshtein", "piece_distance", "similarity", "vote"]


@dataclass(frozen=True, slots=True)
class Vote:
    """The outcome of a vote: text, per-character confidence (per-mille), country, support."""

    text: str = field(repr=False)
    char_conf: tuple[int, ...] = field(repr=False)
    country: str | None
    support: int  # reads in the winning cluster and in the pieces of it that count for it
    best: int  # index (into the input) of the winning cluster's most confident read


def _last_row(a: str, b: str, first: list[int]) -> list[int]:
    """The edit-distance table's last row for ``a`` against ``b``, starting from ``first``."""
    previous = first
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions)."""
    return _last_row(a, b, list(range(len(b) + 1)))[-1]


def similarity(a: str, b: str) -> float:
    """1 - normalised Levenshtein distance (1.0 identical, 0.0 nothing in common)."""
    if not a and not b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


def piece_distance(piece: str, whole: str) -> int:
    """Fewest edits that turn ``piece`` into some substring of ``whole``."""
    # A match may start anywhere in ``whole`` (a first row of zeros) and end anywhere.
    return min(_last_row(piece, whole, [0] * (len(whole) + 1)))


def is_piece(piece: str, whole: str) -> bool:
    """``piece`` reads like part of ``whole`` (three characters or more, one edit per four)."""
    return 3 <= len(piece) < len(whole) and piece_distance(piece, whole) <= max(1, len(piece) // 4)


# A piece counts for a whole seen at least 1/PIECE_RATIO as often as it: one odd long read
# (furniture around the plate) must not collect every read of the plate, but a two-line
# plate whose lines are read alone far more often than whole is still read whole. At 3,
# 300 s of synthetic video (seed 7, reader 0.5.0) sent 5067PER as 5O67 (6 whole reads to
# 23 of its first line); 4 to 100 read the same 275 passes of three videos alike.
PIECE_RATIO = 4


def _mean(conf: Sequence[int]) -> float:
    return sum(conf) / len(conf) if conf else 0.0


def vote(
    reads: Sequence[PlateText], *, min_similarity: float = 0.6, min_support: int = 1
) -> Vote | None:
    """One read for a pass, or None when there is nothing (or too little) to vote on."""
    candidates = [(i, r) for i, r in enumerate(reads) if r.text]
    if not candidates:
        return None
    # Most confident first, so each cluster is led by its best read.
    candidates.sort(key=lambda item: (-_mean(item[1].char_conf), item[0]))
    clusters: list[list[tuple[int, PlateText]]] = []
    for item in candidates:
        for cluster in clusters:
            if similarity(cluster[0][1].text, item[1].text) >= min_similarity:
                cluster.append(item)
                break
        else:
            clusters.append([item])

    def backing(c: list[tuple[int, PlateText]]) -> int:
        whole = c[0][1].text
        return len(c) + sum(
            len(o)
            for o in clusters
            if PIECE_RATIO * len(c) >= len(o) and is_piece(o[0][1].text, whole)
        )

    winner = max(
        clusters, key=lambda c: (backing(c), len(c), sum(sum(r.char_conf) for _, r in c), -c[0][0])
    )
    backed = backing(winner)
    if backed < min_support:
        return None
    length = Counter(len(r.text) for _, r in winner).most_common(1)[0][0]
    same_length = [r for _, r in winner if len(r.text) == length]
    chars: list[str] = []
    confs: list[int] = []
    for pos in range(length):
        weight: defaultdict[str, int] = defaultdict(int)
        support: defaultdict[str, list[int]] = defaultdict(list)
        for read in same_length:
            c = read.text[pos]
            conf = read.char_conf[pos] if pos < len(read.char_conf) else 0
            weight[c] += conf + 1  # +1: a zero-confidence read still counts a little
            support[c].append(conf)
        best_char = max(weight, key=lambda c: (weight[c], c))
        chars.append(best_char)
        # Confidence of the outcome: the winner's share of the weight times its mean confidence.
        share = weight[best_char] / sum(weight.values())
        confs.append(round(share * _mean(support[best_char])))
    countries = Counter(r.country for _, r in winner if r.country)
    country = countries.most_common(1)[0][0] if countries else None
    return Vote("".join(chars), tuple(confs), country, backed, winner[0][0])
