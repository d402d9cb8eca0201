"""Fleet mode: several simulated cameras, one broker, one back office, nothing lost."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from simulator.fleet import run_fleet

if TYPE_CHECKING:
    from pathlib import Path

    from simulator.broker import Broker
    from simulator.pki import DevPki


@pytest.mark.broker
def test_three_cameras_deliver_every_read_verified(tmp_path: Path) -> None:
    result = run_fleet(3, 3.0, 5.0, tmp_path, drain_s=60)
    assert isinstance(result["sent"], int)
    assert result["sent"] >= 30  # 3 cameras x 5/s x 3 s, give or take a tick
    assert result["received"] == result["sent"]
    assert result["verified"] == result["sent"]
    assert result["lost"] == 0
    assert result["problems"] == 0
    assert result["p95_latency_ms"] is not None


@pytest.mark.broker
def test_fleets_load_an_external_broker_side_by_side_with_certificates_from_its_pki(
    tmp_path: Path, pki: DevPki, police: Broker
) -> None:
    # Two fleets side by side on one broker, each consuming only its own cameras.
    results: dict[str, dict[str, object]] = {}

    def fleet(prefix: str) -> None:
        results[prefix] = run_fleet(
            2,
            2.0,
            5.0,
            tmp_path / prefix,
            broker_url=police.url,
            pki_dir=pki.root,
            id_prefix=prefix,
        )

    threads = [threading.Thread(target=fleet, args=(p,)) for p in ("za", "zb")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for result in results.values():
        assert isinstance(result["sent"], int)
        assert result["sent"] >= 16
        assert result["verified"] == result["sent"]
        assert result["lost"] == 0
        assert result["problems"] == 0
        assert result["broker_cpu_s"] is None  # not our process to measure
    assert set(results) == {"za", "zb"}
    assert "za-0001" in police.log_text()  # the broker saw the issued identities
