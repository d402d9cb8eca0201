"""The systemd unit: hardened (exposure score), and consistent with the example config."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "anpr-agent.service"
MAX_EXPOSURE = 2.0


def _directives() -> list[tuple[str, str]]:
    pairs = []
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            pairs.append((key.strip(), value.strip()))
    return pairs


def test_the_unit_is_a_notify_service_with_a_watchdog_and_no_privileges() -> None:
    unit = dict(_directives())
    assert unit["Type"] == "notify"
    assert int(unit["WatchdogSec"]) > 0
    assert unit["Restart"] == "always"
    assert unit["DynamicUser"] == "yes"
    assert unit["StateDirectory"] == "anpr-agent"
    assert unit["NoNewPrivileges"] == "yes"
    assert unit["CapabilityBoundingSet"] == ""
    assert unit["ProtectSystem"] == "strict"
    assert "run --config" in unit["ExecStart"]


def test_every_credential_the_example_config_names_is_loaded() -> None:
    example = (REPO / "config" / "agent.example.toml").read_text()
    settings = "\n".join(x for x in example.splitlines() if not x.lstrip().startswith("#"))
    named = set(re.findall(r'"credential:([^"]+)"', settings))
    loaded = {v.split(":", 1)[0] for k, v in _directives() if k == "LoadCredential"}
    assert named
    assert named == loaded
    state = re.search(r'^path = "(/var/lib/anpr-agent/[^"]+)"', example, re.MULTILINE)
    assert state is not None  # the journal sits in the StateDirectory


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_exposure_score_is_at_most_2() -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNIT)],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    if found is None:
        pytest.skip(f"systemd-analyze gave no score here: {result.stderr.strip()[:200]}")
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout
