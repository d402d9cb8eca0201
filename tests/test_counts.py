"""Civil counts: the counter's windows, disclosure control, and the civil message.

The disclosure checks audit the published message on their own: they rebuild
every table consistent with it by search, without using the swaps or folds
that :func:`agent.counts.protect` chose.
"""

from __future__ import annotations

import ast
import base64
import functools
import itertools
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from agent.civil.counts import (
    OTHER,
    SCHEMA,
    UNKNOWN,
    CountWindow,
    WindowCounter,
    cell_key,
    civil_message,
    protect,
)
from agent.config.schema import CountsConfig
from agent.core.events import PlateRead
from simulator.fakes import FakeClock

if TYPE_CHECKING:
    from collections.abc import Mapping

    from agent.civil.counts import CellKey

REPO = Path(__file__).resolve().parents[1]
T0 = 1_800_000_000  # a multiple of 900 and 3600: window starts are easy to read
CAMERA = "cam-01"
LEGAL = "art. 25/7 wpa, mobility policy"  # lower case: no accidental plate-like runs


def cfg(**kw: object) -> CountsConfig:
    return CountsConfig.model_validate({"legal_basis": LEGAL, **kw})


def read(  # noqa: PLR0913 - one keyword per PlateRead attribute the counter uses
    wall_s: float,
    *,
    plate: str = "1ABC234",
    lane: int | None = 1,
    direction: str | None = "approaching",
    country: str | None = "B",
    vehicle_class: str | None = None,
) -> PlateRead:
    return PlateRead(
        text=plate,
        char_conf=tuple(900 for _ in plate),
        country=country,
        lane=lane,
        direction=direction,  # type: ignore[arg-type]
        vehicle_class=vehicle_class,
        wall_ms=round(wall_s * 1000),
        frames=3,
        crop_jpeg=b"\xff\xd8" + plate.encode() + b"\xff\xd9",
    )


# --------------------------------------------------------------------------- the audit


def _is_json_plain(value: object) -> bool:
    """Only ints, strings, lists and string-keyed objects: no floats, bools or nulls."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return False
    if isinstance(value, int | str):
        return True
    if isinstance(value, list):
        return all(_is_json_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json_plain(v) for k, v in value.items())
    return False


def _can_reach(
    target: tuple[str, ...],
    hidden: list[tuple[str, ...]],
    residual: Mapping[tuple[int, str], int],
    total_residual: int,
    goal: int,
) -> bool:
    """Can ``hidden`` be filled (integers >= 0) to meet every residual with target >= goal?

    A depth-first search over the hidden cells, target first, pruned by each
    slice's remaining capacity; exact, and quick on tables of this size.
    """
    order = [target] + [h for h in hidden if h != target]
    if any(n != 0 for (d, label), n in residual.items() if all(h[d] != label for h in order)):
        return False  # a slice with nothing hidden must already add up
    slices = sorted(sl for sl in residual if any(h[sl[0]] == sl[1] for h in order))
    mine = [[j for j, (d, label) in enumerate(slices) if h[d] == label] for h in order]
    members = [[i for i in range(len(order)) if j in mine[i]] for j in range(len(slices))]

    def fits(i: int, left: tuple[int, ...], total_left: int) -> bool:
        """Can cells i.. still cover every slice's residual, each at most its tightest slice?"""
        cap = [min([left[j] for j in mine[m]] + [total_left]) for m in range(len(order))]
        if sum(cap[i:]) < total_left:
            return False
        return all(left[j] <= sum(cap[m] for m in members[j] if m >= i) for j in range(len(slices)))

    @functools.cache
    def fill(i: int, left: tuple[int, ...], total_left: int) -> bool:
        if i == len(order):
            return total_left == 0 and not any(left)
        high = min([left[j] for j in mine[i]] + [total_left])
        low = goal if i == 0 else 0
        for v in range(high, low - 1, -1):
            after = list(left)
            for j in mine[i]:
                after[j] -= v
            if fits(i + 1, tuple(after), total_left - v) and fill(
                i + 1, tuple(after), total_left - v
            ):
                return True
        return False

    if any(residual[sl] < 0 for sl in slices) or total_residual < 0:
        return False
    return fill(0, tuple(residual[sl] for sl in slices), total_residual)


def _witness(
    target: tuple[str, ...],
    hidden: list[tuple[str, ...]],
    truth: Mapping[tuple[str, ...], int],
    k: int,
) -> dict[tuple[str, ...], int] | None:
    """A filling of ``hidden`` with target >= k, found by walking from the truth; None if stuck.

    Whatever it returns is checked against the message by :func:`_fills`; it is
    only a fast way to find a candidate.
    """
    x = {h: truth.get(h, 0) for h in hidden}
    inside = set(hidden)
    while x[target] < k:
        best: tuple[int, tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None = None
        for q in hidden:
            differ = [d for d in range(len(target)) if target[d] != q[d]]
            for mask in range(1, 2 ** len(differ) - 1):
                on = {differ[i] for i in range(len(differ)) if mask >> i & 1}
                r = tuple(q[d] if d in on else target[d] for d in range(len(target)))
                s = tuple(target[d] if d in on else q[d] for d in range(len(target)))
                if r in inside and s in inside and min(x[r], x[s]) > (best[0] if best else 0):
                    best = (min(x[r], x[s]), q, r, s)
        if best is None:
            return None
        t, q, r, s = best
        x[target] += t
        x[q] += t
        x[r] -= t
        x[s] -= t
    return x


def _fills(
    x: Mapping[tuple[str, ...], int],
    residual: Mapping[tuple[int, str], int],
    total_residual: int,
) -> bool:
    """Does ``x`` (values for the hidden cells) meet every published constraint exactly?"""
    if any(v < 0 for v in x.values()) or sum(x.values()) != total_residual:
        return False
    return all(
        sum(v for key, v in x.items() if key[d] == label) == n for (d, label), n in residual.items()
    )


def audit(
    message: Mapping[str, object], k: int, truth: Mapping[tuple[str, ...], int] | None = None
) -> None:
    """Fail unless no figure in 1..k-1 is published or derivable from ``message``.

    Published numbers must be 0 or >= k. For each suppressed cell, find a table
    consistent with everything published (cells, marginals, total) in which
    that cell is at least k: then the cell is not determined, and no sum of
    cells the message fixes that includes it can be below k. A candidate walked
    from ``truth`` (the folded raw table) is tried first and checked exactly;
    otherwise an exhaustive search decides.
    """
    assert _is_json_plain(message)
    small = range(1, k)
    dims = list(message["dimensions"])  # type: ignore[call-overload]
    for name in ("total", "late"):
        if name in message:
            assert message[name] not in small, name
        else:
            assert name in message["withheld"]  # type: ignore[operator]
    if "total" not in message:
        assert message["marginals"] == {}
        assert message["cells"] == []
        assert message["suppressed"] == []
        return
    total = message["total"]
    assert isinstance(total, int)
    marginals: dict[str, dict[str, int]] = message["marginals"]  # type: ignore[assignment]
    assert sorted(marginals) == sorted(dims)
    for per_category in marginals.values():
        assert sum(per_category.values()) == total
        assert all(n not in small for n in per_category.values())
    cats = [list(marginals[d]) for d in dims]
    published = {tuple(c[d] for d in dims): c["count"] for c in message["cells"]}  # type: ignore[attr-defined]
    hidden = [tuple(c[d] for d in dims) for c in message["suppressed"]]  # type: ignore[attr-defined]
    assert all(n not in small for n in published.values())
    assert not set(published) & set(hidden)
    assert set(published) | set(hidden) == set(itertools.product(*cats))
    residual = {
        (d, label): marginals[dim][label]
        - sum(n for key, n in published.items() if key[d] == label)
        for d, dim in enumerate(dims)
        for label in marginals[dim]
    }
    total_residual = total - sum(published.values())
    for cell in hidden:
        found = None if truth is None else _witness(cell, hidden, truth, k)
        if found is not None:
            assert found[cell] >= k
            assert _fills(found, residual, total_residual), cell
        else:
            assert _can_reach(cell, hidden, residual, total_residual, k), cell


def folded_truth(
    cells: Mapping[tuple[str, ...], int], message: Mapping[str, object]
) -> dict[tuple[str, ...], int]:
    """The raw table mapped onto the message's categories (a label not shown counts as other)."""
    dims = list(message["dimensions"])  # type: ignore[call-overload]
    shown = [set(message["marginals"][d]) - {OTHER} for d in dims]  # type: ignore[index]
    out: dict[tuple[str, ...], int] = {}
    for key, n in cells.items():
        folded = tuple(x if x in shown[i] else OTHER for i, x in enumerate(key))
        out[folded] = out.get(folded, 0) + n
    return out


def check_truthful(cells: Mapping[tuple[str, ...], int], message: Mapping[str, object]) -> None:
    """What the message does publish is exactly the raw data, folded."""
    if "total" not in message:
        assert 0 < sum(cells.values()) < message["k"]  # type: ignore[operator]
        return
    assert message["total"] == sum(cells.values())
    dims = list(message["dimensions"])  # type: ignore[call-overload]
    truth = folded_truth(cells, message)
    for cell in message["cells"]:  # type: ignore[attr-defined]
        assert truth.get(tuple(cell[d] for d in dims), 0) == cell["count"]
    for d, dim in enumerate(dims):
        for label, n in message["marginals"][dim].items():  # type: ignore[index]
            assert n == sum(v for key, v in truth.items() if key[d] == label)


def message_for(
    cells: Mapping[tuple[str, ...], int], dims: tuple[str, ...], k: int, late: int = 0
) -> dict[str, object]:
    window = CountWindow(T0, T0 + 900, tuple(sorted(cells.items())), late, "full")
    config = cfg(dimensions=dims, k=k)
    return dict(civil_message(window, config, CAMERA))


# --------------------------------------------------------------------------- tables

LABELS = {
    "lane": ["1", "2", "3", UNKNOWN],
    "direction": ["approaching", "receding", UNKNOWN],
    "country_group": ["B", "NL", "F", OTHER],
}


@st.composite
def tables(
    draw: st.DrawFn, max_labels: int = 4, headroom: int = 2, min_dims: int = 1, sparse: bool = True
) -> tuple[tuple[str, ...], int, dict[tuple[str, ...], int]]:
    """A random raw table: a few dimensions and labels, counts up to k + headroom*k."""
    dims = tuple(draw(st.permutations(list(LABELS)))[: draw(st.integers(min_dims, 3))])
    labels = [
        draw(st.lists(st.sampled_from(LABELS[d]), min_size=1, max_size=max_labels, unique=True))
        for d in dims
    ]
    k = draw(st.integers(2, 6))
    keys = list(itertools.product(*labels))
    counts = draw(
        st.lists(
            st.one_of(st.just(0), st.integers(1, k + headroom * k))
            if sparse
            else st.integers(0, k + headroom * k),
            min_size=len(keys),
            max_size=len(keys),
        )
    )
    return dims, k, {key: n for key, n in zip(keys, counts, strict=True) if n}


def shape(message: Mapping[str, object]) -> str:
    """How a message came out, for hypothesis' statistics."""
    if "total" not in message:
        return "total withheld"
    if not message["suppressed"]:
        return "nothing suppressed"
    if any(c["count"] for c in message["cells"]):  # type: ignore[attr-defined]
        return "some cells suppressed"
    return "whole cross-table suppressed"


@settings(max_examples=800, deadline=None)
@given(st.one_of(tables(), tables(min_dims=2, sparse=False)), st.integers(0, 12))
def test_no_published_or_derivable_figure_is_between_1_and_k_minus_1(
    table: tuple[tuple[str, ...], int, dict[tuple[str, ...], int]], late: int
) -> None:
    dims, k, cells = table
    message = message_for(cells, dims, k, late)
    event(f"{len(dims)} dimension(s): {shape(message)}")
    truth = folded_truth(cells, message) if "total" in message else None
    audit(message, k, truth)
    check_truthful(cells, message)


@settings(max_examples=300, deadline=None)
@given(tables(max_labels=3, headroom=0))
def test_exhaustive_search_finds_no_pinned_cell_in_small_tables(
    table: tuple[tuple[str, ...], int, dict[tuple[str, ...], int]],
) -> None:
    """The audit's exhaustive search alone (no walk from the truth), on small tables."""
    dims, k, cells = table
    message = message_for(cells, dims, k)
    event(f"{len(dims)} dimension(s): {shape(message)}")
    audit(message, k)


@settings(max_examples=200, deadline=None)
@given(tables())
def test_protection_is_deterministic_and_lists_every_hidden_cell_once(
    table: tuple[tuple[str, ...], int, dict[tuple[str, ...], int]],
) -> None:
    dims, k, cells = table
    first = protect(cells, dims, k)
    assert protect(dict(reversed(list(cells.items()))), dims, k) == first
    assert len(set(first.suppressed)) == len(first.suppressed)


def test_the_audit_catches_a_lone_suppressed_cell() -> None:
    """A scheme that hides a small cell but leaves its row and column open is caught."""
    message = message_for(
        {("1", "B"): 10, ("1", "NL"): 10, ("2", "B"): 10, ("2", "NL"): 10},
        ("lane", "country_group"),
        5,
    )
    cells = message["cells"]
    assert isinstance(cells, list)
    message["cells"] = [c for c in cells if c != {"lane": "1", "country_group": "B", "count": 10}]
    message["suppressed"] = [{"lane": "1", "country_group": "B"}]
    assert message["cells"] != message_for({}, ("lane",), 5)["cells"]
    # Make the lone hidden cell a small one: 3 vehicles, derivable from lane 1's marginal.
    message["marginals"] = {"country_group": {"B": 13, "NL": 20}, "lane": {"1": 13, "2": 20}}
    message["total"] = 33
    message["cells"] = [
        {"lane": "1", "country_group": "NL", "count": 10},
        {"lane": "2", "country_group": "B", "count": 10},
        {"lane": "2", "country_group": "NL", "count": 10},
    ]
    with pytest.raises(AssertionError):
        audit(message, 5)


def test_small_cells_are_hidden_among_themselves_when_they_can_cover_each_other() -> None:
    """One direction per lane: the rare countries hide each other, nothing big is lost."""
    cells: dict[CellKey, int] = {
        ("1", "approaching", "B"): 75,
        ("1", "approaching", "NL"): 15,
        ("1", "approaching", "F"): 4,
        ("1", "approaching", "D"): 3,
        ("1", "approaching", OTHER): 3,
        ("2", "receding", "B"): 75,
        ("2", "receding", "NL"): 15,
        ("2", "receding", "F"): 4,
        ("2", "receding", "D"): 3,
        ("2", "receding", "L"): 1,
        ("2", "receding", OTHER): 2,
    }
    table = protect(cells, ("lane", "direction", "country_group"), 5)
    assert table.total == 200
    assert dict(table.marginals[2]) == {"B": 150, "D": 6, "F": 8, "NL": 30, OTHER: 6}
    published = dict(table.cells)
    assert published[("1", "approaching", "B")] == 75
    assert published[("2", "receding", "NL")] == 15
    assert all(published[key] == 0 for key in published if key[2] in {"D", "F", OTHER})
    assert len(table.suppressed) == 6
    audit(message_for(cells, ("lane", "direction", "country_group"), 5), 5)


def test_a_primary_with_no_single_swap_is_covered_by_a_chain_of_swaps() -> None:
    """No one swap lifts (1, B) to k; two with distinct r and s cells do."""
    cells: dict[CellKey, int] = {
        ("1", "B"): 1,
        ("1", "C"): 4,
        ("1", "D"): 2,
        ("2", "B"): 3,
        ("2", "D"): 2,
        ("3", "B"): 2,
        ("3", "C"): 1,
        ("3", "D"): 4,
    }
    table = protect(cells, ("lane", "country_group"), 5)
    assert table.cells == ((("2", "C"), 0),)  # not the whole-table fallback
    audit(message_for(cells, ("lane", "country_group"), 5), 5)


def test_reads_are_reduced_to_a_closed_vocabulary() -> None:
    config = cfg(dimensions=list(LABELS))
    assert cell_key(read(T0, lane=9, direction=None, country="PL"), config) == (
        OTHER,
        UNKNOWN,
        OTHER,
    )
    assert cell_key(read(T0, lane=2, country="NL"), config) == ("2", "approaching", "NL")
    assert cell_key(read(T0, lane=None, country=None), config) == (
        UNKNOWN,
        "approaching",
        OTHER,
    )


def test_a_window_below_k_publishes_only_that_it_was_small() -> None:
    message = message_for({("1",): 2, ("2",): 1}, ("lane",), 5)
    assert "total" not in message
    assert message["withheld"] == ["total"]
    assert message["marginals"] == {}
    assert message["cells"] == []
    assert message["suppressed"] == []


def test_an_empty_window_is_published_as_zero() -> None:
    message = message_for({}, ("lane", "direction"), 5)
    assert message["total"] == 0
    assert message["marginals"] == {"direction": {}, "lane": {}}
    assert message["cells"] == []
    assert message["withheld"] == []


def test_small_categories_fold_into_other_and_other_is_topped_up() -> None:
    table = protect({("B",): 20, ("NL",): 6, ("F",): 2, ("L",): 1}, ("country_group",), 5)
    # F and L (3 together) fold; "other" would be 3, so the smallest named (NL) joins it.
    assert table.categories == (("B", OTHER),)
    assert dict(table.marginals[0]) == {"B": 20, OTHER: 9}
    assert table.suppressed == ()


# --------------------------------------------------------------------------- the counter


def test_a_read_exactly_on_a_boundary_opens_the_later_window() -> None:
    clock = FakeClock(wall=T0 + 10)
    counter = WindowCounter(cfg(window_s=900, grace_s=30), clock)
    counter.add(read(T0 + 900))
    counter.add(read(T0 + 899.999))
    clock.advance(900 + 30 - 10)  # T0+930: the first window closes, the second does not
    first = counter.poll()
    assert [(w.start, w.total) for w in first] == [(T0, 1)]
    clock.advance(900)
    assert [(w.start, w.total) for w in counter.poll()] == [(T0 + 900, 1)]


def test_late_reads_within_grace_count_in_their_window_and_after_it_in_the_next_message() -> None:
    clock = FakeClock(wall=T0)
    counter = WindowCounter(cfg(window_s=60, grace_s=10), clock)
    clock.advance(65)  # in the grace of window T0
    counter.add(read(T0 + 59))
    assert counter.poll() == []
    clock.advance(5)  # T0+70: window T0 closes
    (w0,) = counter.poll()
    assert (w0.start, w0.total, w0.late) == (T0, 1, 0)
    counter.add(read(T0 + 30))  # its window was emitted: late, not lost, not republished
    clock.advance(60)
    (w1,) = counter.poll()
    assert (w1.start, w1.total, w1.late) == (T0 + 60, 0, 1)


def test_windows_without_traffic_are_emitted_in_order() -> None:
    clock = FakeClock(wall=T0)
    counter = WindowCounter(cfg(window_s=60, grace_s=0), clock)
    clock.advance(5 * 60)
    windows = counter.poll()
    assert [w.start for w in windows] == [T0 + 60 * i for i in range(5)]
    assert all(w.total == 0 and w.coverage == "full" for w in windows)


def test_a_fresh_counter_marks_its_first_window_partial() -> None:
    clock = FakeClock(wall=T0 + 20)
    counter = WindowCounter(cfg(window_s=60, grace_s=0), clock)
    clock.advance(100)
    assert [w.coverage for w in counter.poll()] == ["partial", "full"]


def test_the_wall_clock_stepping_back_neither_repeats_nor_skips_a_window() -> None:
    clock = FakeClock(wall=T0)
    counter = WindowCounter(cfg(window_s=60, grace_s=5), clock)
    clock.advance(130)  # T0+130: windows T0 and T0+60 are out
    assert [w.start for w in counter.poll()] == [T0, T0 + 60]
    clock.step_wall(-100)  # NTP steps back to T0+30
    counter.add(read(clock.wall()))  # stamped inside an emitted window: late
    assert counter.poll() == []
    clock.advance(100)  # back at T0+130: T0+120 is still open
    assert counter.poll() == []
    clock.advance(55)  # T0+185 = end of T0+120 + grace
    (w,) = counter.poll()
    assert (w.start, w.late, w.coverage) == (T0 + 120, 1, "full")


def test_a_forward_step_emits_the_skipped_windows_marked_unwatched() -> None:
    clock = FakeClock(wall=T0)
    counter = WindowCounter(cfg(window_s=60, grace_s=0), clock)
    clock.advance(30)
    assert counter.poll() == []
    clock.step_wall(200)  # T0+230
    clock.advance(40)  # T0+270, while only 70 s passed: T0+70..T0+270 was never watched
    windows = counter.poll()
    assert [w.start for w in windows] == [T0, T0 + 60, T0 + 120, T0 + 180]
    assert [w.coverage for w in windows] == ["full", "partial", "none", "none"]


def test_poll_limit_spreads_a_long_backlog_over_calls() -> None:
    clock = FakeClock(wall=T0)
    counter = WindowCounter(cfg(window_s=60, grace_s=0), clock)
    clock.advance(10 * 60)
    assert len(counter.poll(limit=4)) == 4
    assert [w.start for w in counter.poll()] == [T0 + 60 * i for i in range(4, 10)]


def test_restart_mid_window_from_saved_state_emits_the_window_once() -> None:
    config = cfg(window_s=900, grace_s=30)
    clock = FakeClock(wall=T0 + 100)
    counter = WindowCounter(config, clock)
    clock.advance(800)  # T0+900
    counter.add(read(T0 + 500))
    clock.advance(40)
    assert [w.start for w in counter.poll()] == [T0]
    counter.add(read(T0 + 1000))
    counter.add(read(T0 + 1100, country="NL"))
    clock.advance(260)  # T0+1200, mid-window
    saved = json.loads(json.dumps(counter.state()))  # what the journal would keep
    del counter
    clock.advance(60)  # the agent is down for a minute
    restored = WindowCounter.restore(config, clock, saved)
    restored.add(read(T0 + 1300))
    clock.advance(500)  # T0+1760
    assert restored.poll() == []
    clock.advance(200)
    (w,) = restored.poll()
    assert (w.start, w.total, w.coverage) == (T0 + 900, 3, "partial")
    clock.advance(900)
    assert [x.start for x in restored.poll()] == [T0 + 1800]


def test_restart_from_the_journal_resumes_after_the_last_published_window() -> None:
    config = cfg(window_s=900, grace_s=30)
    clock = FakeClock(wall=T0 + 1200)
    counter = WindowCounter(config, clock, published_until=T0 + 900)
    assert counter.next_window_start == T0 + 900
    counter.add(read(T0 + 850))  # its window was published before the restart
    clock.advance(600 + 30)
    (w,) = counter.poll()
    assert (w.start, w.late, w.coverage) == (T0 + 900, 1, "partial")


def test_restart_after_a_long_outage_says_the_missed_windows_were_not_watched() -> None:
    clock = FakeClock(wall=T0 + 3 * 900 + 10)
    counter = WindowCounter(cfg(window_s=900, grace_s=0), clock, published_until=T0)
    clock.advance(900)
    assert [w.coverage for w in counter.poll()] == ["none", "none", "none", "partial"]


def test_restore_refuses_a_state_from_other_windows() -> None:
    clock = FakeClock(wall=T0)
    saved = WindowCounter(cfg(window_s=900), clock).state()
    with pytest.raises(ValueError, match="window_s"):
        WindowCounter.restore(cfg(window_s=600), clock, saved)
    with pytest.raises(ValueError, match="missing"):
        WindowCounter.restore(cfg(window_s=900), clock, {"version": 1})
    with pytest.raises(ValueError, match="integer"):
        WindowCounter.restore(cfg(window_s=900), clock, {**saved, "late": "3"})


# --------------------------------------------------------------------------- streams

plates = st.one_of(
    st.from_regex(r"\A[1-9][A-Z]{3}[0-9]{3}\Z"),  # Belgian: 1ABC234
    st.from_regex(r"\A[A-Z]{2}[0-9]{3}[A-Z]\Z"),  # Dutch-like: AB123C
    st.from_regex(r"\A[A-Z]{2}[0-9]{3}[A-Z]{2}\Z"),  # French-like: AB123CD
)

ops = st.one_of(
    st.tuples(st.just("read"), plates, st.integers(-400, 30), st.integers(0, 3)),
    st.tuples(st.just("advance"), st.integers(1, 400)),
    st.tuples(st.just("step"), st.integers(-300, 600)),
    st.tuples(st.just("poll"), st.integers(1, 5)),
    st.tuples(st.just("restart"), st.booleans()),
)


def _attrs(i: int) -> dict[str, object]:
    attrs: list[dict[str, object]] = [
        {"lane": 1, "direction": "approaching", "country": "B"},
        {"lane": 2, "direction": "receding", "country": "NL"},
        {"lane": None, "direction": None, "country": None},
        {"lane": 1, "direction": "approaching", "country": "PL"},
    ]
    return attrs[i]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([60, 300]), st.integers(0, 90), st.integers(2, 5), st.lists(ops, max_size=60)
)
def test_a_read_stream_yields_each_window_once_and_leaks_no_plate(
    window_s: int, grace_s: int, k: int, steps: list[tuple[object, ...]]
) -> None:
    config = cfg(window_s=window_s, grace_s=grace_s, k=k, dimensions=list(LABELS))
    clock = FakeClock(wall=T0 + 17)
    counter = WindowCounter(config, clock)
    windows: list[CountWindow] = []
    states: list[str] = []
    reads: list[PlateRead] = []
    lost = 0
    for step in steps:
        match step:
            case ("read", str(plate), int(offset), int(kind)):
                r = read(clock.wall() + offset + 0.123, plate=plate, **_attrs(kind))  # type: ignore[arg-type]
                reads.append(r)
                counter.add(r)
            case ("advance", int(seconds)):
                clock.advance(seconds)
            case ("step", int(seconds)):
                clock.step_wall(seconds)
            case ("poll", int(limit)):
                windows += counter.poll(limit=limit)
            case ("restart", bool(from_state)):
                saved = counter.state()
                states.append(json.dumps(saved, sort_keys=True))
                if from_state:
                    counter = WindowCounter.restore(config, clock, json.loads(states[-1]))
                else:  # a crash: resume after the last published window; open counts are gone
                    lost += _open_count(saved)
                    until = windows[-1].end if windows else None
                    counter = WindowCounter(config, clock, published_until=until)
    states.append(json.dumps(counter.state(), sort_keys=True))
    # Flush: bring the wall clock past every pending window, then past its grace.
    horizon = max([counter.next_window_start] + [r.wall_ms / 1000 for r in reads])
    clock.step_wall(max(0.0, horizon - clock.wall()))
    clock.advance(2 * window_s + grace_s + 1)
    windows += counter.poll()

    starts = [w.start for w in windows]
    assert starts == sorted(set(starts))
    assert all(b - a == window_s for a, b in itertools.pairwise(starts))
    assert sum(w.total + w.late for w in windows) == len(reads) - lost
    messages = [json.dumps(civil_message(w, config, CAMERA), sort_keys=True) for w in windows]
    for text, window in zip(messages, windows, strict=True):
        message = json.loads(text)
        truth = folded_truth(dict(window.cells), message) if "total" in message else None
        audit(message, k, truth)
        check_truthful(dict(window.cells), message)
    _assert_nothing_identifying(reads, messages + states, window_s)


def _open_count(state: Mapping[str, object]) -> int:
    """Reads the counter holds but has not emitted yet (what a crash loses)."""
    opened, late = state["open"], state["late"]
    assert isinstance(opened, list)
    assert isinstance(late, int)
    held = sum(int(n) for window in opened for _, n in window["cells"])
    return held + late


def _assert_nothing_identifying(reads: list[PlateRead], texts: list[str], window_s: int) -> None:
    fragments = {r.text[i : i + 4] for r in reads for i in range(len(r.text) - 3)}
    crops = {base64.b64encode(r.crop_jpeg).decode() for r in reads} | {
        r.crop_jpeg.hex() for r in reads
    }
    # Window bounds (multiples of window_s) and the state's coarse times (multiples
    # of 60 s) are published on purpose; any other pass second must not appear.
    pass_times = {str(r.wall_ms) for r in reads} | {
        str(r.wall_ms // 1000) for r in reads if r.wall_ms // 1000 % 60
    }
    for text in texts:
        assert not [f for f in fragments if f in text]
        assert not [c for c in crops if c in text]
        assert not [t for t in pass_times if t in text]
        for labels in re.findall(r'"(?:lane|direction|country_group)":"([^"]*)"', text):
            assert labels in ALLOWED_LABELS


ALLOWED_LABELS = (
    {str(i) for i in range(1, 9)}
    | {"approaching", "receding", OTHER, UNKNOWN}
    | {"B", "NL", "F", "D", "L"}
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(plates, st.integers(0, 899), st.integers(0, 3)), max_size=80),
    st.integers(2, 6),
)
def test_every_read_is_counted_once_and_no_message_holds_a_plate(
    stream: list[tuple[str, int, int]], k: int
) -> None:
    config = cfg(window_s=300, grace_s=20, k=k, dimensions=list(LABELS))
    clock = FakeClock(wall=T0)
    counter = WindowCounter(config, clock)
    reads = [read(T0 + s, plate=p, **_attrs(i)) for p, s, i in stream]  # type: ignore[arg-type]
    windows: list[CountWindow] = []
    for r in sorted(reads, key=lambda r: r.wall_ms):
        if r.wall_ms / 1000 > clock.wall():
            clock.advance(r.wall_ms / 1000 - clock.wall())
        windows += counter.poll()
        counter.add(r)
    state = json.dumps(counter.state(), sort_keys=True)
    clock.advance(T0 + 900 + 20 - clock.wall())  # the end of the third window plus grace
    windows += counter.poll()
    assert [w.start for w in windows] == [T0, T0 + 300, T0 + 600]
    assert sum(w.total + w.late for w in windows) == len(reads)
    messages = [json.dumps(civil_message(w, config, CAMERA), sort_keys=True) for w in windows]
    for text, window in zip(messages, windows, strict=True):
        message = json.loads(text)
        truth = folded_truth(dict(window.cells), message) if "total" in message else None
        audit(message, k, truth)
    _assert_nothing_identifying(reads, [*messages, state], 300)


def test_the_counts_package_neither_logs_nor_prints_nor_imports_the_simulator() -> None:
    """Nothing plate-related can reach a log from here: there is no log call at all."""
    for path in sorted((REPO / "agent" / "counts").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not [n for n in names if n.split(".")[0] in {"logging", "simulator"}], path
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "print", path


# --------------------------------------------------------------------------- the document


def test_the_protocol_example_is_what_the_code_produces() -> None:
    doc = (REPO / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- civil-counts-example -->\s*```json\n(.*?)```", doc, re.DOTALL)
    assert block, "docs/PROTOCOL.md lost its civil counts example"
    example = json.loads(block.group(1))
    assert example == example_message()
    assert example["schema"] == SCHEMA
    audit(example, example["k"])


def example_message() -> dict[str, object]:
    """The documented example: two lanes, one direction each, a quarter hour."""
    cells = {
        ("1", "approaching", "B"): 75,
        ("1", "approaching", "NL"): 15,
        ("1", "approaching", "F"): 4,
        ("1", "approaching", "D"): 3,
        ("1", "approaching", OTHER): 3,
        ("2", "receding", "B"): 61,
        ("2", "receding", "NL"): 12,
        ("2", "receding", "F"): 4,
        ("2", "receding", "D"): 3,
        ("2", "receding", "L"): 1,
        ("2", "receding", OTHER): 2,
    }
    window = CountWindow(T0, T0 + 900, tuple(sorted(cells.items())), 2, "full")
    config = cfg(legal_basis="municipal council decision 2026/114 (mobility plan)")
    return dict(civil_message(window, config, CAMERA))
