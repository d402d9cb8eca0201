"""Shared fixtures: a dev PKI per session, real mosquitto brokers per test."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from simulator.demo import civil_broker, police_broker
from simulator.pki import DevPki, init_pki

if TYPE_CHECKING:
    from collections.abc import Iterator

    from simulator.broker import Broker

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return init_pki(tmp_path_factory.mktemp("pki"), "cam-01")


@pytest.fixture
def police(tmp_path: Path, pki: DevPki) -> Iterator[Broker]:
    with police_broker(tmp_path / "police-broker", pki) as broker:
        yield broker


@pytest.fixture
def civil(tmp_path: Path, pki: DevPki) -> Iterator[Broker]:
    with civil_broker(tmp_path / "civil-broker", pki) as broker:
        yield broker
