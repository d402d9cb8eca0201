"""Property: random appends, publishes, confirms and purges keep the journal invariants."""

from __future__ import annotations

import tempfile
from pathlib import Path

from conftest import JournalKit, make_read
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.journal.db import open_readonly
from agent.journal.verify import verify_records

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.integers(1, 4)),
        st.tuples(st.just("count"), st.integers(1, 2)),
        st.tuples(st.just("publish"), st.integers(0, 2**16)),
        st.tuples(st.just("confirm"), st.integers(-2, 40)),
        st.tuples(st.just("advance"), st.integers(1, 3 * 24)),  # hours
        st.tuples(st.just("maintain"), st.just(0)),
    ),
    max_size=30,
)


def _snapshot(path: Path) -> dict[str, dict[int, int]]:
    with open_readonly(path, "cam-01") as store:
        return {
            stream: {r.seq: r.state for r in store.iter_records(stream)}
            for stream in ("reads", "counts")
        }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_random_operations_keep_the_invariants(ops: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        kit = JournalKit(
            Path(tmp) / "j.sqlite",
            synchronous="NORMAL",
            retention_days=1,
            max_age_days=2,
            checkpoint_every=7,
        )
        journal = kit.open()
        before = _snapshot(kit.path)
        for op, arg in ops:
            if op == "read":
                for _ in range(arg):
                    journal.append_read(make_read())
            elif op == "count":
                journal.append_count({"total": arg})
            elif op == "publish":
                pending = [r.seq for r in journal.pending("reads", 100)]
                chosen = [s for i, s in enumerate(pending) if arg >> (i % 16) & 1]
                journal.mark_published("reads", chosen).result()
            elif op == "confirm":
                journal.mark_confirmed("reads", arg).result()
            elif op == "advance":
                kit.clock.advance(arg * 3600.0)
            else:
                journal.maintain().result()
            journal.sync().result()
            after = _snapshot(kit.path)
            for stream, states in after.items():
                seqs = sorted(states)
                # Contiguous: whatever remains is one unbroken run of seqs.
                assert seqs == list(range(seqs[0], seqs[-1] + 1)) if seqs else True
                # Forward only: no surviving record's state went back.
                old = before[stream]
                assert all(states[s] >= old[s] for s in states if s in old)
                # Pending is exactly the state-0 records, in order.
                assert [r.seq for r in journal.pending(stream, 10_000)] == [
                    s for s in seqs if states[s] == 0
                ]
            before = after
        kit.close()
        for stream in ("reads", "counts"):
            with open_readonly(kit.path, "cam-01") as store:
                wires = [r.wire for r in store.iter_records(stream)]
            _, problems = verify_records("cam-01", stream, kit.keys, wires)
            assert problems == [], [str(p) for p in problems]
