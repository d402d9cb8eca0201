"""The systemd units: hardened (exposure score), consistent with the example config; the
template (one instance per camera) has the single unit's hardening with its own files."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "anpr-agent.service"
TEMPLATE = REPO / "systemd" / "anpr-agent@.service"
MAX_EXPOSURE = 1.5
# What differs between the single unit and the template: the per-camera files and names.
PER_INSTANCE = {"Description", "ExecStart", "SyslogIdentifier", "StateDirectory", "LoadCredential"}


def _directives(unit: Path = UNIT) -> list[tuple[str, str]]:
    pairs = []
    for line in unit.read_text().splitlines():
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


def test_the_agent_may_read_the_clock_state_but_not_set_the_clock() -> None:
    for unit in (UNIT, TEMPLATE):
        pairs = _directives(unit)
        # adjtimex(modes=0) reads the sync state; ProtectClock=yes would forbid the call.
        assert ("SystemCallFilter", "adjtimex") in pairs
        assert ("ProtectClock", "no") in pairs
        assert dict(pairs)["CapabilityBoundingSet"] == ""  # no CAP_SYS_TIME: cannot set it


def test_the_template_has_the_units_hardening_and_per_camera_files() -> None:
    single, template = _directives(UNIT), _directives(TEMPLATE)
    assert [p for p in single if p[0] not in PER_INSTANCE] == [
        p for p in template if p[0] not in PER_INSTANCE
    ]
    unit = dict(template)
    assert unit["ExecStart"].endswith("run --config /etc/anpr-agent/%i.toml")
    assert unit["StateDirectory"] == "anpr-agent/%i"
    assert "%i" in unit["SyslogIdentifier"]
    single_creds = {v.split(":", 1)[0] for k, v in single if k == "LoadCredential"}
    template_creds = [v for k, v in template if k == "LoadCredential"]
    assert {v.split(":", 1)[0] for v in template_creds} == single_creds
    assert all(
        v.split(":", 1)[1].startswith("/etc/anpr-agent/%i/credentials/") for v in template_creds
    )


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", [UNIT, TEMPLATE], ids=["unit", "template"])
def test_exposure_score_is_at_most_1_5(unit: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit)],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    if found is None:
        pytest.skip(f"systemd-analyze gave no score here: {result.stderr.strip()[:200]}")
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout
