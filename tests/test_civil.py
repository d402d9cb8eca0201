"""The civil flux end to end: counts windows journaled once, delivered on their own connection."""

from __future__ import annotations

import dataclasses
import logging
import random
from typing import TYPE_CHECKING

import pytest
from conftest import make_read
from uplink_rig import city_backoffice, civil_uplink, wait_until

from agent.civil.flux import CivilFlux
from agent.config.schema import CountsConfig
from agent.journal.db import open_readonly
from agent.journal.verify import verify_records

if TYPE_CHECKING:
    from conftest import JournalKit

    from agent.core.clock import Clock
    from agent.core.events import PlateRead
    from agent.journal.store import Journal
    from simulator.broker import Broker
    from simulator.pki import DevPki

pytestmark = pytest.mark.broker

COUNTS = CountsConfig(window_s=60, grace_s=5, k=5, legal_basis="test")
T0 = 1_800_000_000  # the fake clock's start, a window boundary


def _plate(rng: random.Random) -> str:
    letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTVWXYZ") for _ in range(3))
    return f"{rng.randint(1, 9)}{letters}{rng.randint(0, 999):03d}"


def _read(rng: random.Random, at_s: float) -> PlateRead:
    return dataclasses.replace(
        make_read(_plate(rng)),
        wall_ms=int(at_s * 1000),
        lane=rng.choice((1, 2)),
        direction=rng.choice(("approaching", "receding")),
        country=rng.choice(("B", "B", "B", "NL", "F")),
    )


def journal_clock(journal: Journal) -> Clock:
    return journal._clock


def _run_windows(kit: JournalKit, flux: CivilFlux, rng: random.Random, windows: int) -> list[str]:
    plates = []
    for _ in range(windows):
        start = kit.clock.wall()
        for i in range(rng.randint(0, 40)):
            read = _read(rng, start + i)
            plates.append(read.text)
            flux.add(read)
        kit.clock.advance(60)
        flux.tick()
    return plates


def test_windows_reach_the_city_in_order_once_through_a_broker_outage(
    civil: Broker, pki: DevPki, kit: JournalKit
) -> None:
    journal = kit.open()
    flux = CivilFlux(COUNTS, camera_id="cam-01", journal=journal, clock=kit.clock)
    uplink = civil_uplink(pki, journal, civil.url, journal_clock(journal))
    city = city_backoffice(pki, kit, civil.url)
    city.start()
    assert city.wait_ready(10)  # subscribed before the first count goes out
    uplink.start()
    rng = random.Random(5)
    try:
        kit.clock.advance(5)  # into the first window
        _run_windows(kit, flux, rng, 2)
        assert wait_until(lambda: len(city.windows) == flux.windows_journaled == 2, 30)
        civil.kill()  # the city's broker is down for several windows
        _run_windows(kit, flux, rng, 4)
        civil.start()
        _run_windows(kit, flux, rng, 1)
        assert wait_until(lambda: len(city.windows) == flux.windows_journaled == 7, 30)
    finally:
        uplink.stop(2)
        city.stop()
    starts = [int(city.windows[i]["window_start"]) for i in city.window_order]  # type: ignore[call-overload]
    assert starts == sorted(starts)
    assert starts == list(range(T0, T0 + 60 * len(starts), 60))
    assert len(set(city.window_order)) == len(city.window_order)
    assert city.problems == []


def test_restart_mid_window_publishes_each_window_exactly_once(kit: JournalKit) -> None:
    journal = kit.open()
    rng = random.Random(7)
    flux = CivilFlux(COUNTS, camera_id="cam-01", journal=journal, clock=kit.clock)
    kit.clock.advance(5)
    _run_windows(kit, flux, rng, 3)
    # Reads in the open window, then the agent dies before closing it.
    for i in range(10):
        flux.add(_read(rng, kit.clock.wall() + i))
    kit.clock.advance(20)
    restarted = CivilFlux(COUNTS, camera_id="cam-01", journal=journal, clock=kit.clock)
    assert restarted.published_until == T0 + 3 * 60
    kit.clock.advance(60)
    restarted.tick()
    journal.sync().result()
    with open_readonly(kit.path, "cam-01") as store:
        wires = [r.wire for r in store.iter_records("counts")]
    _, problems = verify_records("cam-01", "counts", kit.keys, wires)
    assert problems == []
    from agent.journal.records import parse_record  # noqa: PLC0415

    ids = [parse_record(w).body["data"]["id"] for w in wires if parse_record(w).kind == "count"]  # type: ignore[index]
    assert ids == [f"cam-01/{T0 + 60 * i}" for i in range(4)]


def test_no_plate_reaches_the_civil_side_or_the_logs(
    civil: Broker, pki: DevPki, kit: JournalKit, caplog: pytest.LogCaptureFixture
) -> None:
    journal = kit.open()
    flux = CivilFlux(COUNTS, camera_id="cam-01", journal=journal, clock=kit.clock)
    uplink = civil_uplink(pki, journal, civil.url, journal_clock(journal))
    city = city_backoffice(pki, kit, civil.url)
    rng = random.Random(11)
    with caplog.at_level(logging.DEBUG):
        city.start()
        assert city.wait_ready(10)  # subscribed before the first count goes out
        uplink.start()
        try:
            kit.clock.advance(5)
            plates = _run_windows(kit, flux, rng, 6)
            assert wait_until(lambda: len(city.windows) == 6, 20)
        finally:
            uplink.stop(2)
            city.stop()
    with open_readonly(kit.path, "cam-01") as store:
        civil_rows = b"".join(r.wire for r in store.iter_records("counts")).decode()
    received = repr(city.windows)
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert len(plates) > 50
    for plate in plates:
        for size in range(4, len(plate) + 1):
            for start in range(len(plate) - size + 1):
                part = plate[start : start + size]
                assert part not in civil_rows
                assert part not in received
                assert part not in logs
