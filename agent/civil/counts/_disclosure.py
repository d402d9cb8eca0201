"""Disclosure control for one window's count table: no published figure reveals 1..k-1.

What a message publishes about one window (``D`` = number of dimensions):

* the total ``T``;
* one marginal per dimension (the count per category);
* the full cross-table over the published categories, every cell either given
  or listed as suppressed.

The steps, each one pure and deterministic:

1. **Small window.** If ``1 <= T <= k-1`` nothing but the fact is published
   (total withheld, no marginals, no cells). ``T = 0`` is published.
2. **Fold.** Per dimension, every category whose marginal is below ``k``
   (zero included, so a missing label says "fewer than k", never "1..k-1")
   folds into ``other``. If ``other`` is then 1..k-1, the smallest
   named category folds into it too, until ``other`` is 0 or at least ``k``
   (or is all there is, and then equals ``T >= k``). Every published marginal
   is therefore at least ``k``.
3. **Primary suppression.** Cross-table cells with 1..k-1 are suppressed.
4. **Complementary suppression by swaps.** For a primary cell ``p``, a *swap*
   is a nonzero cell ``q`` and a set ``S`` of dimensions; ``r`` takes ``q``'s
   labels on ``S`` and ``p``'s elsewhere, ``s`` the other way round. The move
   ``+p +q -r -s`` leaves every marginal and the total unchanged (on each
   dimension ``{r, s}`` carries the same labels as ``{p, q}``), and along it
   ``p`` grows by up to ``min(r, s)``. Each primary not yet protected gets the
   swap with ``min(r, s) >= k - p`` that hides the least new mass (often one
   among primaries only: nothing big is hidden); failing that, a chain of
   swaps whose ``r`` and ``s`` cells are all distinct and whose gains add up
   to ``k - p``. ``p, q, r, s`` are all suppressed. A swap also protects any
   of its cells it alone lifts to ``k`` (``q`` forwards by ``min(r, s)``, ``r``
   and ``s`` backwards by ``min(p, q)``). Every cell of 1..k-1 is a primary,
   so each hidden cell is at least ``k`` or protected. If a primary cannot be
   protected, the whole cross-table is suppressed (marginals and total stay).

Why no figure in 1..k-1 can be derived from the message. Call a table
*consistent* if it has non-negative integer cells over the published categories
and agrees with every published cell, marginal and total. Claim: every
suppressed cell reaches at least ``k`` in some consistent table.

* A hidden cell that is not a primary holds at least ``k`` in the true table.
* A primary protected by swaps ``(p, q_i, r_i, s_i)`` with all ``r_i, s_i``
  distinct: adding ``t_i * (+p +q_i -r_i -s_i)`` with ``t_i = min(r_i, s_i)``
  for every ``i`` keeps the true table consistent (published cells untouched,
  marginals and total unchanged, and no cell loses more than its own value,
  since each ``r_i``, ``s_i`` is lowered by one move only), and lifts ``p`` by
  ``sum t_i >= k - p``. A cell protected by one swap alone: that one move,
  forwards or backwards.
* With the whole cross-table suppressed, the only constraints left are the
  marginals, each at least ``k``. Put ``u = min_d marginal_d(cell) >= k`` in
  the cell and fill the remaining marginals (they all sum to ``T - u``) by
  giving consecutive blocks of the remaining ``T - u`` vehicles to each
  category, one dimension at a time: a consistent table with the cell at least ``u``.

Consequences: (a) a suppressed primary takes at least two values over the
consistent tables (its true value and one at least ``k``), so it is never
determined, and it cannot even be bounded below ``k``; (b) any sum of cells the
message determines is at least ``k`` if it includes a suppressed cell (it is
constant over consistent tables and at least that cell's value in the table
where the cell reaches ``k``), and otherwise is a sum of published cells, each
0 or at least ``k``; (c) every published number is 0 or at least ``k``.

The attacker modelled here is the standard one of table auditing: they know
the message and the table's structure, not the raw data. What the rule itself
tells them is the usual "fewer than k" statement: a suppressed cell is
nonzero, a withheld total is 1..k-1, a folded label held fewer than ``k``
(or was the smallest named one when ``other`` needed filling up).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.civil.counts._cells import OTHER, CellKey

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

__all__ = ["ProtectedTable", "protect"]


@dataclass(frozen=True, slots=True)
class ProtectedTable:
    """One window's table after disclosure control: only what may be published.

    ``total`` is ``None`` when withheld (1..k-1 vehicles); then ``categories``,
    ``marginals``, ``cells`` and ``suppressed`` are empty. Otherwise every
    combination of ``categories`` is in exactly one of ``cells`` (with its
    count) and ``suppressed``, in the order of ``itertools.product``.
    """

    k: int
    dimensions: tuple[str, ...]
    total: int | None
    categories: tuple[tuple[str, ...], ...]
    marginals: tuple[tuple[tuple[str, int], ...], ...]
    cells: tuple[tuple[CellKey, int], ...]
    suppressed: tuple[CellKey, ...]


def _fold(marginal: Mapping[str, int], k: int) -> tuple[str, ...]:
    """The categories of one dimension that may be shown by name, plus ``other`` if nonzero."""
    named = {c: n for c, n in marginal.items() if c != OTHER and n >= k}
    other = sum(marginal.values()) - sum(named.values())
    while 0 < other < k and named:
        smallest = min(named, key=lambda c: (named[c], c))
        other += named.pop(smallest)
    return tuple(sorted(named)) + ((OTHER,) if other > 0 else ())


_Swap = tuple[CellKey, CellKey, CellKey]


def _swaps(p: CellKey, table: Mapping[CellKey, int], nonzero: list[CellKey]) -> Iterator[_Swap]:
    """Every ``(q, r, s)`` along whose move ``+p +q -r -s`` the cell ``p`` can grow."""
    for q in nonzero:
        differ = [d for d, (a, b) in enumerate(zip(p, q, strict=True)) if a != b]
        # Only subsets of the differing dimensions matter (where p and q agree a swap
        # changes nothing); the empty and the full subset give back p and q themselves.
        for mask in range(1, 2 ** len(differ) - 1):
            r, s = list(p), list(q)
            for i, d in enumerate(differ):
                if mask >> i & 1:
                    r[d], s[d] = q[d], p[d]
            r_key, s_key = tuple(r), tuple(s)
            if table[r_key] and table[s_key]:
                yield q, r_key, s_key


def _cover(
    p: CellKey,
    table: Mapping[CellKey, int],
    nonzero: list[CellKey],
    suppressed: set[CellKey],
    k: int,
) -> list[_Swap] | None:
    """Swaps that together let ``p`` reach ``k``, their r and s cells all distinct; or None.

    One swap if one suffices (the one hiding the least new mass); otherwise a
    greedy chain, largest gain first.
    """
    need = k - table[p]

    def gain(swap: _Swap) -> int:
        return min(table[swap[1]], table[swap[2]])

    def new_mass(swap: _Swap) -> tuple[int, int]:
        new = [c for c in swap if c not in suppressed]
        return sum(table[c] for c in new), len(new)

    candidates = list(_swaps(p, table, nonzero))
    single = [sw for sw in candidates if gain(sw) >= need]
    if single:
        return [min(single, key=lambda sw: (new_mass(sw), sw))]
    chain: list[_Swap] = []
    used: set[CellKey] = set()
    for swap in sorted(candidates, key=lambda sw: (-gain(sw), new_mass(sw), sw)):
        if used.isdisjoint(swap[1:]):
            chain.append(swap)
            used.update(swap[1:])
            need -= gain(swap)
            if need <= 0:
                return chain
    return None


def _folded_table(
    cells: Mapping[CellKey, int], dims: int, k: int
) -> tuple[tuple[tuple[str, ...], ...], dict[CellKey, int]]:
    """Fold each dimension (step 2) and return its categories and the full cross-table."""
    marginals: list[dict[str, int]] = [{} for _ in range(dims)]
    for key, count in cells.items():
        for d, label in enumerate(key):
            marginals[d][label] = marginals[d].get(label, 0) + count
    categories = tuple(_fold(m, k) for m in marginals)
    shown = [set(c) - {OTHER} for c in categories]
    table = dict.fromkeys(itertools.product(*categories), 0)
    for key, count in cells.items():
        if count:
            folded = tuple(label if label in shown[d] else OTHER for d, label in enumerate(key))
            table[folded] += count
    return categories, table


def _suppress(table: Mapping[CellKey, int], k: int) -> set[CellKey]:
    """Primary and complementary suppression (steps 3 and 4): the cells to withhold."""
    primaries = sorted(key for key, n in table.items() if 0 < n < k)
    nonzero = [key for key, n in table.items() if n]
    suppressed: set[CellKey] = set(primaries)
    protected: set[CellKey] = set()
    for p in primaries:
        if p in protected:
            continue
        chain = _cover(p, table, [q for q in nonzero if q != p], suppressed, k)
        if chain is None:
            return set(table)  # fall back: the marginals alone protect every cell
        protected.add(p)
        for q, r, s in chain:
            suppressed.update((q, r, s))
            # Along one move, q grows by min(r, s); backwards, r and s grow by min(p, q).
            # Each cell that one move alone lifts to k is protected by it.
            forward, backward = min(table[r], table[s]), min(table[p], table[q])
            protected.update(c for c in (q,) if table[c] + forward >= k)
            protected.update(c for c in (r, s) if table[c] + backward >= k)
    return suppressed


def protect(cells: Mapping[CellKey, int], dimensions: Sequence[str], k: int) -> ProtectedTable:
    """Apply the module's disclosure control to one window's raw counts.

    ``cells`` maps a key (one label per dimension, in ``dimensions`` order) to a
    count; missing keys are 0. Pure and deterministic: the same table always
    gives the same result.
    """
    if k < 2:  # k = 1 would protect nothing
        raise ValueError("k must be at least 2")
    dims = tuple(dimensions)
    for key, count in cells.items():
        if len(key) != len(dims) or count < 0:
            raise ValueError("each cell needs one label per dimension and a count >= 0")
    total = sum(cells.values())
    if 0 < total < k:
        return ProtectedTable(k, dims, None, (), (), (), ())

    categories, table = _folded_table(cells, len(dims), k)
    marginals = tuple(
        tuple((c, sum(n for key, n in table.items() if key[d] == c)) for c in categories[d])
        for d in range(len(dims))
    )
    suppressed = _suppress(table, k)
    return ProtectedTable(
        k=k,
        dimensions=dims,
        total=total,
        categories=categories,
        marginals=marginals,
        cells=tuple((key, n) for key, n in table.items() if key not in suppressed),
        suppressed=tuple(key for key in table if key in suppressed),
    )
