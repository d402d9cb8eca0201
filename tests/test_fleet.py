"""Fleet mode: several simulated cameras, one broker, one back office, nothing lost."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from simulator.fleet import run_fleet

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.broker
def test_three_cameras_deliver_every_read_verified(tmp_path: Path) -> None:
    result = run_fleet(3, 3.0, 5.0, tmp_path, drain_s=60)
    assert result["sent"] >= 30  # 3 cameras x 5/s x 3 s, give or take a tick
    assert result["received"] == result["sent"]
    assert result["verified"] == result["sent"]
    assert result["lost"] == 0
    assert result["problems"] == 0
    assert result["p95_latency_ms"] is not None
