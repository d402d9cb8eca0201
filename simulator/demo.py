"""``anpr-sim demo``: the whole double-flux setup on one machine, with one command.

Today it brings up the dev PKI, a police and a civil mosquitto (mutual TLS,
per-camera ACLs), validates ``config/simulator.toml`` with the real
``anpr-agent`` and connects the agent's two identities to their brokers, then
shows that the wrong identity is refused on each side. It grows into the full
simulated camera → agent → back offices run as the pipeline lands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent.probe import probe_broker
from simulator.broker import Broker, camera_acl
from simulator.mqttc import client_context
from simulator.pki import DevPki, init_pki

__all__ = ["DemoResult", "agent_env", "civil_broker", "police_broker", "result_json", "run_demo"]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "config" / "simulator.toml"
CAMERA_ID = "cam-01"


def police_broker(workdir: Path, pki: DevPki, port: int | None = None) -> Broker:
    """The police back office's broker: cameras write reads/status/descriptor, read ack/replay."""
    return Broker(
        workdir,
        ca=pki.path("police-ca.crt"),
        cert=pki.path("police-broker.crt"),
        key=pki.path("police-broker.key"),
        acl=camera_acl("anpr/v1", ("backoffice",), uplink=("reads", "status", "descriptor")),
        port=port,
    )


def civil_broker(workdir: Path, pki: DevPki, port: int | None = None) -> Broker:
    """The city's broker, under its own CA: cameras write counts and status only."""
    return Broker(
        workdir,
        ca=pki.path("civil-ca.crt"),
        cert=pki.path("civil-broker.crt"),
        key=pki.path("civil-broker.key"),
        acl=camera_acl("civil/v1", ("city",), uplink=("counts", "status")),
        port=port,
    )


def agent_env(workdir: Path, pki: DevPki, police: Broker, civil: Broker) -> dict[str, str]:
    """Environment overrides that point ``config/simulator.toml`` at this run's files and ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANPR_")}
    env.update(
        {
            "ANPR_CAMERA__ID": pki.camera_id,
            "ANPR_JOURNAL__PATH": str(workdir / "journal.sqlite"),
            "ANPR_KEYS__SIGNING_KEY": str(pki.path("device-sign.key")),
            "ANPR_KEYS__SEALING_PUBLIC_KEY": str(pki.path("backoffice-seal.pub")),
            "ANPR_POLICE__BROKERS": json.dumps([police.url]),
            "ANPR_POLICE__CA": str(pki.path("police-ca.crt")),
            "ANPR_POLICE__CERT": str(pki.path("device.crt")),
            "ANPR_POLICE__KEY": str(pki.path("device.key")),
            "ANPR_CIVIL__BROKERS": json.dumps([civil.url]),
            "ANPR_CIVIL__CA": str(pki.path("civil-ca.crt")),
            "ANPR_CIVIL__CERT": str(pki.path("civil-device.crt")),
            "ANPR_CIVIL__KEY": str(pki.path("civil-device.key")),
        }
    )
    return env


@dataclass
class DemoResult:
    """What the demo did and saw; ``ok`` only when every step behaved as it must."""

    steps: list[dict[str, object]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every step passed."""
        return all(bool(s["ok"]) for s in self.steps)

    def add(self, name: str, *, ok: bool, detail: str, quiet: bool) -> None:
        """Record a step and show it."""
        self.steps.append({"step": name, "ok": ok, "detail": detail})
        if not quiet:
            print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}", flush=True)


def _agent(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_demo(workdir: Path, config: Path = DEFAULT_CONFIG, *, quiet: bool = False) -> DemoResult:
    """Run the demo in ``workdir``; brokers are stopped before returning."""
    result = DemoResult()
    started = time.monotonic()
    pki = init_pki(workdir / "pki", CAMERA_ID)
    result.add("dev PKI", ok=True, detail=str(pki.root), quiet=quiet)
    with (
        police_broker(workdir / "police-broker", pki) as police,
        civil_broker(workdir / "civil-broker", pki) as civil,
    ):
        result.add("police broker", ok=True, detail=f"{police.url} (mTLS, ACL)", quiet=quiet)
        result.add("civil broker", ok=True, detail=f"{civil.url} (mTLS, own CA)", quiet=quiet)
        env = agent_env(workdir, pki, police, civil)
        checked = _agent(["check-config", str(config)], env)
        result.add(
            "anpr-agent check-config",
            ok=checked.returncode == 0,
            detail=(checked.stdout or checked.stderr).strip().splitlines()[-1],
            quiet=quiet,
        )
        connected = _agent(["check-connect", "--config", str(config)], env)
        for line in (connected.stdout + connected.stderr).strip().splitlines():
            result.add("anpr-agent check-connect", ok=" ok:" in line, detail=line, quiet=quiet)
        # Each side must refuse the other side's identity: the two fluxes never meet.
        for side, broker, ca, cert in (
            ("police", police, "police-ca.crt", "civil-device"),
            ("civil", civil, "civil-ca.crt", "device"),
        ):
            ctx = client_context(pki.path(ca), pki.path(f"{cert}.crt"), pki.path(f"{cert}.key"))
            probe = probe_broker(broker.url, ctx, f"{CAMERA_ID}-cross")
            result.add(
                f"{side} broker refuses the other flux's identity",
                ok=not probe.ok,
                detail=probe.detail,
                quiet=quiet,
            )
    result.steps.append(
        {"step": "elapsed", "ok": True, "detail": f"{time.monotonic() - started:.1f} s"}
    )
    return result


def result_json(result: DemoResult) -> str:
    """The demo's outcome as one JSON object."""
    return json.dumps({"ok": result.ok, "steps": result.steps})
