"""Civil counts count vehicles: every pass the tracker closes, read or not, and an open window
survives a graceful restart."""

from __future__ import annotations

import dataclasses
import json
import stat
from typing import TYPE_CHECKING

import pytest
from conftest import make_read

from agent.civil.counts import UNKNOWN, cell_key
from agent.civil.flux import CivilFlux
from agent.config.load import ConfigError, load_config
from agent.config.schema import CountsConfig
from agent.core.events import PlateBox, PlateRead, PlateText, Sighting, UnreadPass
from agent.journal.records import parse_record
from agent.recognition.tracker import Tracker

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import JournalKit

COUNTS = CountsConfig(window_s=60, grace_s=5, k=2, legal_basis="test")
T0 = 1_800_000_000  # the fake clock's start, a window boundary


def _box(x: float, y: float, w: float) -> PlateBox:
    h = w / 4.7
    return PlateBox(((x, y), (x + w, y), (x + w, y + h), (x, y + h)), 0.9)


def _text(text: str) -> PlateText:
    return PlateText(text, tuple([950] * len(text)), "B")


def test_a_plate_followed_across_the_view_but_never_read_is_a_pass() -> None:
    tracker = Tracker(frame_size=(1280, 720), lanes=1, timeout_s=0.3, min_support=2)
    for i in range(12):  # a plate crossing the view (a bike rack over it: boxed, never read)
        t = i * 0.04
        tracker.update(t, 5_000 + int(t * 1000), [Sighting(_box(500, 100 + i * 40, 90), None)])
    passes = tracker.update(1.0, 6_000, [])
    assert passes == [UnreadPass(lane=1, direction="approaching", wall_ms=5_440)]


def test_a_still_box_and_a_lamp_moving_with_a_read_plate_are_not_vehicles() -> None:
    tracker = Tracker(frame_size=(1280, 720), lanes=1, timeout_s=0.3, min_support=2)
    for i in range(12):
        t = i * 0.04
        sightings = [
            Sighting(_box(200, 400, 90), None),  # a sign: boxed in every frame, never moves
            Sighting(_box(500, 100 + i * 40, 90), _text("1ABC123")),  # the plate, read
            Sighting(_box(640, 60 + i * 40, 60), None),  # a lamp of the same vehicle
        ]
        tracker.update(t, 5_000 + int(t * 1000), sightings)
    passes = tracker.update(1.0, 6_000, [])
    assert [type(p).__name__ for p in passes] == ["PlateRead"]
    assert isinstance(passes[0], PlateRead)
    assert passes[0].text == "1ABC123"


def test_an_unread_pass_counts_with_country_group_unknown() -> None:
    unread = UnreadPass(lane=1, direction="receding", wall_ms=T0 * 1000)
    assert cell_key(unread, COUNTS) == ("1", "receding", UNKNOWN)
    # A read whose country is not one of the groups stays "other", as before.
    assert cell_key(dataclasses.replace(make_read(), country="PL"), COUNTS)[2] == "other"


def test_vehicle_class_is_refused_as_a_dimension(tmp_path: Path) -> None:
    from conftest import pki_config  # noqa: PLC0415

    from simulator.pki import init_pki  # noqa: PLC0415

    pki = init_pki(tmp_path / "pki", "cam-01")
    text = pki_config(pki).replace(
        '[counts]\nlegal_basis = "test"',
        '[counts]\nlegal_basis = "test"\ndimensions = ["lane", "vehicle_class"]',
    )
    config = tmp_path / "agent.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(config, {})
    assert any(
        "counts.dimensions" in p and "'vehicle_class' not measured by this agent" in p
        for p in info.value.problems
    )


def _windows(kit: JournalKit) -> list[dict[str, object]]:
    assert kit.journal is not None
    kit.journal.sync().result()
    records = [parse_record(r.wire) for r in kit.journal.records("counts", 1, 1000)]
    return [r.body["data"] for r in records if r.kind == "count"]  # type: ignore[misc]


def test_a_window_counts_read_and_unread_passes_and_survives_a_graceful_restart(
    kit: JournalKit,
) -> None:
    journal = kit.open()
    state = kit.path.with_name("journal.sqlite.counts-state")
    flux = CivilFlux(
        COUNTS, camera_id="cam-01", journal=journal, clock=kit.clock, poll_s=3600, state_path=state
    )
    flux.start()
    kit.clock.advance(65)  # window T0 is journaled empty; window T0+60 opens
    flux.tick()
    at = int(kit.clock.wall() * 1000)
    for i in range(3):
        flux.add(dataclasses.replace(make_read(), wall_ms=at + i))
    flux.add(UnreadPass(lane=1, direction="approaching", wall_ms=at + 5))
    flux.stop()  # a graceful stop in the middle of the window
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    saved = json.loads(state.read_text(encoding="utf-8"))
    assert saved["open"][0]["start"] == T0 + 60
    assert "1ABC123" not in state.read_text(encoding="utf-8")

    kit.clock.advance(10)
    again = CivilFlux(
        COUNTS, camera_id="cam-01", journal=journal, clock=kit.clock, poll_s=3600, state_path=state
    )
    assert again.restored
    again.start()
    assert not state.exists()  # used up: a crash later must not restore it twice
    again.add(dataclasses.replace(make_read(), wall_ms=at + 20_000))
    kit.clock.advance(60)
    again.tick()
    again.stop()
    windows = _windows(kit)
    assert [w["window_start"] for w in windows] == [T0, T0 + 60]
    assert windows[1]["total"] == 5  # 3 read + 1 unread before the stop, 1 after


def test_a_saved_state_that_does_not_follow_the_journal_is_not_used(kit: JournalKit) -> None:
    journal = kit.open()
    state = kit.path.with_name("journal.sqlite.counts-state")
    flux = CivilFlux(
        COUNTS, camera_id="cam-01", journal=journal, clock=kit.clock, poll_s=3600, state_path=state
    )
    flux.add(dataclasses.replace(make_read(), wall_ms=T0 * 1000 + 10))
    flux.stop()
    kit.clock.advance(130)
    flux.tick()  # a window the saved state still holds open gets journaled meanwhile
    again = CivilFlux(
        COUNTS, camera_id="cam-01", journal=journal, clock=kit.clock, poll_s=3600, state_path=state
    )
    assert not again.restored
    assert state.exists()


def test_a_read_pass_counts_in_the_window_its_plate_was_last_seen(kit: JournalKit) -> None:
    # Read at 59.4 s, still seen (unread) until 60.3 s: the vehicle left in the next window.
    journal = kit.open()
    flux = CivilFlux(COUNTS, camera_id="cam-01", journal=journal, clock=kit.clock, poll_s=3600)
    for _ in range(2):  # k = 2: two of each, so the totals are published
        read = dataclasses.replace(
            make_read(), wall_ms=T0 * 1000 + 59_400, seen_ms=T0 * 1000 + 60_300
        )
        flux.add(read)
        flux.add(dataclasses.replace(make_read(), wall_ms=T0 * 1000 + 30_000))  # no seen_ms
    kit.clock.advance(130)
    flux.tick()
    totals = [w["total"] for w in _windows(kit)]
    assert totals == [2, 2]
