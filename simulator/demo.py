"""``anpr-sim demo``: the whole double flux on one machine, with one command.

1. a development PKI; a police and a civil mosquitto (mutual TLS, per-camera
   ACLs, separate CAs) — each refuses the other flux's identity;
2. the synthetic traffic camera, streaming MJPEG over HTTP, writing its truth;
3. the real ``anpr-agent run`` as a subprocess with ``config/simulator.toml``
   (files, ports and the camera URL come in through ``ANPR_…`` overrides);
4. both reference back offices (police: verify, unseal, ack, replay; civil:
   verify, dedupe windows), writing ``police.jsonl`` and ``civil.jsonl``;
5. optionally a police broker outage in the middle;
6. when the camera stops: wait until every journaled read reached the police
   back office, stop the agent (SIGTERM), score against the truth, and write
   ``summary.json`` and ``report.html``.

The exit code says whether the run was *sound*: every read the agent journaled
reached the back office verified (0 lost), no plate reached the civil side,
and the agent stopped cleanly. Recognition quality (recall, exact reads) is
reported against its targets but does not decide the exit code, unless
``--strict``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from agent.config.load import load_config
from agent.journal.db import JournalError, open_readonly
from agent.journal.records import parse_record
from agent.security.crypto import key_id
from agent.security.keyfiles import load_signing_key
from agent.uplink.probe import probe_broker
from simulator.backoffice import CivilBackOffice, PoliceBackOffice
from simulator.broker import Broker, camera_acl, free_port
from simulator.mqttc import client_context
from simulator.pki import DevPki, init_pki
from simulator.report import html_from_files
from simulator.score import load_jsonl, privacy_violations, score_files

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "DemoOptions",
    "DemoResult",
    "agent_env",
    "civil_broker",
    "police_broker",
    "result_json",
    "run_demo",
]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "config" / "simulator.toml"
CAMERA_ID = "cam-01"
TARGETS = {"recall": 0.95, "exact_rate": 0.95}


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


@dataclass(frozen=True)
class DemoOptions:
    """What to run."""

    workdir: Path
    config: Path = DEFAULT_CONFIG
    seconds: float = 60.0
    rate: float = 20.0  # vehicles per minute
    lanes: int = 1
    night: bool = False
    outage: float = 0.0  # seconds without the police broker, mid-run
    seed: int = 1
    strict: bool = False
    quiet: bool = False


@dataclass
class DemoResult:
    """What the demo did and saw."""

    steps: list[dict[str, object]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every step passed."""
        return all(bool(s["ok"]) for s in self.steps)

    def add(self, name: str, *, ok: bool, detail: str, quiet: bool) -> None:
        """Record a step and show it."""
        self.steps.append({"step": name, "ok": ok, "detail": detail})
        if not quiet:
            print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}", flush=True)


def result_json(result: DemoResult) -> str:
    """The demo's outcome as one JSON object: the summary figures, ``ok`` and the steps."""
    return json.dumps({**result.summary, "ok": result.ok, "steps": result.steps})


def _cross_checks(
    result: DemoResult, pki: DevPki, police: Broker, civil: Broker, quiet: bool
) -> None:
    """Each broker must refuse the other flux's identity: the two fluxes never meet."""
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


def _read_records(journal: Path) -> tuple[int, int]:
    """(reads journaled, head seq of the reads stream) of the agent's journal, read-only."""
    try:
        with open_readonly(journal, CAMERA_ID) as store:
            kinds = [parse_record(r.wire).kind for r in store.iter_records("reads")]
            head = store.heads().get("reads", (0, ""))[0]
    except JournalError:
        return 0, 0
    return kinds.count("read"), head


class _Agent:
    """``anpr-agent run`` as a subprocess, its log in a file."""

    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        self._log: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(config)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.log = log

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)

    def last_lines(self, n: int = 3) -> str:
        lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return " | ".join(lines[-n:])


def _scene_config(opts: DemoOptions) -> Any:  # noqa: ANN401 - the camera package's dataclass
    from simulator.camera import SceneConfig  # noqa: PLC0415 - the camera pulls in fonts, OpenCV

    return SceneConfig(
        seed=opts.seed,
        lanes=opts.lanes,
        rate_per_min=opts.rate,
        light="night" if opts.night else "day",
    )


def _lane_zones(cfg: Any) -> str:  # noqa: ANN401
    from simulator.camera import Scene  # noqa: PLC0415

    zones = Scene(cfg).lane_zones()
    items = ", ".join(
        "{ lane = %d, polygon = [%s] }"  # noqa: UP031 - TOML, not Python formatting
        % (lane, ", ".join(f"[{x:.4f}, {y:.4f}]" for x, y in polygon))
        for lane, polygon in zones
    )
    return f"[{items}]"


def run_demo(opts: DemoOptions) -> DemoResult:  # noqa: C901, PLR0912, PLR0915 - one story, in order
    """Run the demo; every process and broker is stopped before returning."""
    from simulator.camera.mjpeg import MjpegCamera  # noqa: PLC0415

    result = DemoResult()
    quiet = opts.quiet
    work = opts.workdir
    work.mkdir(parents=True, exist_ok=True)
    for stale in ("truth.jsonl", "police.jsonl", "civil.jsonl", "journal.sqlite"):
        for path in work.glob(f"{stale}*"):
            path.unlink()
    started = time.monotonic()
    pki = init_pki(work / "pki", CAMERA_ID)
    result.add("dev PKI", ok=True, detail=str(pki.root), quiet=quiet)
    signing = load_signing_key(pki.path("device-sign.key")).public_key()
    trusted: dict[str, dict[str, Ed25519PublicKey]] = {CAMERA_ID: {key_id(signing): signing}}
    seal = serialization.load_pem_private_key(
        pki.path("backoffice-seal.key").read_bytes(), password=None
    )
    assert isinstance(seal, x25519.X25519PrivateKey)  # noqa: S101 - we made it
    scene_cfg = _scene_config(opts)
    truth, police_out, civil_out = work / "truth.jsonl", work / "police.jsonl", work / "civil.jsonl"

    with (
        police_broker(work / "police-broker", pki) as police,
        civil_broker(work / "civil-broker", pki) as civil,
    ):
        result.add(
            "brokers", ok=True, detail=f"police {police.url}, civil {civil.url}", quiet=quiet
        )
        _cross_checks(result, pki, police, civil, quiet)
        office = PoliceBackOffice(
            police.url,
            client_context(
                pki.path("police-ca.crt"), pki.path("backoffice.crt"), pki.path("backoffice.key")
            ),
            seal_key=seal,
            trusted=trusted,
            out=police_out,
            keep_crops=True,
        )
        city = CivilBackOffice(
            civil.url,
            client_context(pki.path("civil-ca.crt"), pki.path("city.crt"), pki.path("city.key")),
            trusted=trusted,
            out=civil_out,
        )
        office.start()
        city.start()
        camera = MjpegCamera(scene_cfg, port=free_port(), truth_path=truth, seconds=opts.seconds)
        env = agent_env(work, pki, police, civil)
        env.update(
            {
                "ANPR_CAMERA__SOURCE": camera.url,
                "ANPR_CAMERA__LANES": str(opts.lanes),
                "ANPR_CAMERA__LANE_ZONES": _lane_zones(scene_cfg),
                "ANPR_SERVICE__METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
            }
        )
        window_s = load_config(opts.config, env).config.counts.window_s
        camera.start()
        agent = _Agent(opts.config, env, work / "agent.log")
        result.add("camera", ok=True, detail=f"{camera.url} for {opts.seconds:g} s", quiet=quiet)
        try:
            outage_at = opts.seconds / 3 if opts.outage > 0 else None
            t0 = time.monotonic()
            next_line = 0.0
            while not camera.wait(0.5):
                elapsed = time.monotonic() - t0
                if not agent.alive():
                    break
                if outage_at is not None and elapsed >= outage_at and police.running:
                    police.kill()
                    result.add(
                        "outage",
                        ok=True,
                        detail=f"police broker killed at {elapsed:.0f} s",
                        quiet=quiet,
                    )
                if (
                    outage_at is not None
                    and not police.running
                    and elapsed >= outage_at + opts.outage
                ):
                    police.start()
                    outage_at = None
                    result.add(
                        "outage",
                        ok=True,
                        detail=f"police broker back at {elapsed:.0f} s",
                        quiet=quiet,
                    )
                if not quiet and elapsed >= next_line:
                    feed = office.feed(CAMERA_ID)
                    print(
                        f"  .. {elapsed:5.0f} s  frames {camera.frames_sent:5d}  "
                        f"reads at police {feed.received if feed else 0:4d}  "
                        f"civil windows {len(city.windows)}",
                        flush=True,
                    )
                    next_line = elapsed + 5
            if not police.running:
                police.start()
            camera.stop()
            alive = agent.alive()
            result.add(
                "agent running",
                ok=alive,
                detail="anpr-agent run took the stream" if alive else agent.last_lines(),
                quiet=quiet,
            )
            # Let the last passes close, then wait until the police hold every read journaled.
            deadline = time.monotonic() + 60 + window_s
            reads_sent, head = 0, 0
            while alive and time.monotonic() < deadline:
                time.sleep(1.0)
                reads_sent, head = _read_records(work / "journal.sqlite")
                feed = office.feed(CAMERA_ID)
                settled = time.monotonic() - t0 > opts.seconds + 5  # last passes closed
                # A run of a minute or more should show the city at least one closed window.
                windows = bool(city.windows) or opts.seconds < window_s
                if settled and windows and (feed.contiguous_through() if feed else 0) >= head:
                    break
        finally:
            code = agent.stop()
            camera.stop()
        result.add("agent stopped", ok=code == 0, detail=f"exit code {code}", quiet=quiet)
        time.sleep(1.0)  # last acks and windows
        office.stop()
        city.stop()

    reads_sent, _ = _read_records(work / "journal.sqlite")
    feed = office.feed(CAMERA_ID)
    verified = sum(1 for s, k in (feed.kinds.items() if feed else []) if k == "read")
    summary: dict[str, Any] = score_files(truth, police_out, civil_out, reads_sent=reads_sent)
    summary.update(
        {
            "reads_sent": reads_sent,
            "reads_verified": verified,
            "lost": reads_sent - verified,
            "verification_problems": len(office.problems) + len(city.problems),
            "civil_windows": len(city.windows),
            "seconds": opts.seconds,
            "outage_s": opts.outage,
            "elapsed_s": round(time.monotonic() - started, 1),
            "targets": TARGETS,
        }
    )
    result.summary = summary
    result.add(
        "delivery",
        ok=summary["lost"] == 0 and summary["verification_problems"] == 0,
        detail=f"{verified} of {reads_sent} reads received and verified, {summary['lost']} lost",
        quiet=quiet,
    )
    result.add(
        "civil privacy",
        ok=summary["civil_privacy_violations"] == 0,
        detail=f"{summary['civil_privacy_violations']} plate fragments on the civil side "
        f"({len(city.windows)} windows)",
        quiet=quiet,
    )
    plates = [
        str(p["text"]) for p in load_jsonl(truth) if p.get("kind") == "pass" and p.get("text")
    ]
    log_lines = (work / "agent.log").read_text(encoding="utf-8", errors="replace").splitlines()
    log_leaks = privacy_violations(plates, log_lines)
    summary["log_privacy_violations"] = len(log_leaks)
    result.add(
        "log privacy",
        ok=not log_leaks,
        detail=f"{len(log_leaks)} plate fragments in {len(log_lines)} agent log lines"
        + (f" (first: line {log_leaks[0].where})" if log_leaks else ""),
        quiet=quiet,
    )
    met = all((summary.get(k) or 0) >= v for k, v in TARGETS.items())
    recognition = (
        f"recall {summary.get('recall')}, exact {summary.get('exact_rate')} "
        f"(targets {TARGETS['recall']:.0%}/{TARGETS['exact_rate']:.0%}: "
        f"{'met' if met else 'NOT met'})"
    )
    if opts.strict:
        result.add("recognition", ok=met, detail=recognition, quiet=quiet)
    elif not quiet:
        print(f"  [{'ok' if met else '--'}] recognition: {recognition}")
    (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    html = html_from_files(truth, police_out, civil_out, summary, crops=office.crops)
    (work / "report.html").write_text(html, encoding="utf-8")
    return result
