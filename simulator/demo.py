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
   ``summary.json`` and ``report.html`` (each read beside its crop and, with
   ``recognition.overview`` on as in ``config/simulator.toml``, its overview).

``--cameras N`` runs N agents side by side, as on a box with N cameras: each
its own synthetic camera (scene seed + k), identity (certificates issued by
the same dev CAs, its own signing key), journal and metrics port, against the
same brokers and back offices; each is scored on its own (``cam-0K/``) and
the summary adds them up.

The exit code says whether the run was *sound*: every read the agent journaled
reached the back office verified (0 lost), no plate reached the civil side,
and the agent stopped cleanly. Recognition quality (recall, exact reads) is
reported against its targets but does not decide the exit code, unless
``--strict``.
"""

from __future__ import annotations

import dataclasses
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
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from agent.config.load import load_config
from agent.journal.db import JournalError, open_readonly
from agent.journal.records import parse_record
from agent.security.crypto import key_id
from agent.security.keyfiles import load_signing_key
from agent.uplink.probe import probe_broker
from simulator.backoffice import CivilBackOffice, PoliceBackOffice
from simulator.broker import Broker, camera_acl, free_port
from simulator.mqttc import client_context
from simulator.pki import DevPki, init_pki, issue_cert, load_issued, save_issued, write_key
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
        crl=pki.path("police-ca.crl"),
    )


def civil_broker(workdir: Path, pki: DevPki, port: int | None = None) -> Broker:
    """The city's broker, under its own CA: cameras write counts and status only."""
    return Broker(
        workdir,
        ca=pki.path("civil-ca.crt"),
        cert=pki.path("civil-broker.crt"),
        key=pki.path("civil-broker.key"),
        acl=camera_acl("civil/v1", ("city",), uplink=("counts", "status", "descriptor")),
        port=port,
        crl=pki.path("civil-ca.crl"),
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
            "ANPR_POLICE__CRL": str(pki.path("police-ca.crl")),
            "ANPR_POLICE__CERT": str(pki.path("device.crt")),
            "ANPR_POLICE__KEY": str(pki.path("device.key")),
            "ANPR_CIVIL__BROKERS": json.dumps([civil.url]),
            "ANPR_CIVIL__CA": str(pki.path("civil-ca.crt")),
            "ANPR_CIVIL__CRL": str(pki.path("civil-ca.crl")),
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
    seed: int = 1  # camera k (from 0) renders scene seed + k
    strict: bool = False
    quiet: bool = False
    cameras: int = 1  # agents side by side, each with its own camera, identity and journal
    vendor: str | None = None  # an event camera posting this preset's (or mapping's) events
    read_errors: float = 0.0  # event camera: share of reads with a wrong character
    resends: float = 0.0  # event camera: share of events sent twice (same event id)


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


def _backlog_sample(
    cams: list[_Camera], office: PoliceBackOffice, into: dict[str, list[tuple[int, int]]]
) -> None:
    """Each camera's reads journaled but not yet held by the police back office, now."""
    now_ms = int(time.time() * 1000)
    for cam in cams:
        try:
            with open_readonly(cam.journal, cam.id) as store:
                head = store.heads().get("reads", (0, ""))[0]
        except JournalError:
            continue
        feed = office.feed(cam.id)
        held = feed.contiguous_through() if feed else 0
        into.setdefault(cam.id, []).append((now_ms, max(0, head - held)))


def _read_records(journal: Path, camera: str = CAMERA_ID) -> tuple[int, int]:
    """(reads journaled, head seq of the reads stream) of an agent's journal, read-only."""
    try:
        with open_readonly(journal, camera) as store:
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


@dataclass
class _Camera:
    """One camera of the run: its identity, its files, its synthetic stream and its agent."""

    id: str
    dir: Path  # truth, journal and agent log of this camera
    signing_key: Path
    certs: dict[str, Path]  # police/civil cert and key
    scene: Any
    stream: Any = None  # the MjpegCamera
    agent: _Agent | None = None

    @property
    def journal(self) -> Path:
        return self.dir / "journal.sqlite"

    @property
    def truth(self) -> Path:
        return self.dir / "truth.jsonl"


def _cameras(opts: DemoOptions, pki: DevPki) -> list[_Camera]:
    """cam-01 uses the PKI's own device identity; cam-02.. get theirs from the same CAs.

    One camera keeps the single-camera layout (everything in the work directory);
    several get a directory each.
    """
    cams = []
    for index in range(opts.cameras):
        cam_id = f"cam-{index + 1:02d}"
        folder = opts.workdir if opts.cameras == 1 else opts.workdir / cam_id
        folder.mkdir(parents=True, exist_ok=True)
        if index == 0:
            sign = pki.path("device-sign.key")
            certs = {
                "police.cert": pki.path("device.crt"),
                "police.key": pki.path("device.key"),
                "civil.cert": pki.path("civil-device.crt"),
                "civil.key": pki.path("civil-device.key"),
            }
        else:
            sign, certs = _issue_camera(pki, cam_id)
        scene = _scene_config(dataclasses.replace(opts, seed=opts.seed + index))
        cams.append(_Camera(cam_id, folder, sign, certs, scene))
    return cams


def _issue_camera(pki: DevPki, cam_id: str) -> tuple[Path, dict[str, Path]]:
    """A further camera's signing key and client identities, issued by the PKI's CAs."""
    root = pki.root
    certs = {}
    for side in ("police", "civil"):
        ca = load_issued(pki.path(f"{side}-ca.crt"), root / f"{side}-ca.key")
        crt, key = save_issued(root, f"{cam_id}-{side}-device", issue_cert(ca, cam_id))
        certs[f"{side}.cert"], certs[f"{side}.key"] = crt, key
    sign = root / f"{cam_id}-device-sign.key"
    if not sign.exists():
        write_key(sign, ed25519.Ed25519PrivateKey.generate())
    return sign, certs


def _camera_env(cam: _Camera, pki: DevPki, police: Broker, civil: Broker) -> dict[str, str]:
    env = agent_env(cam.dir, pki, police, civil)
    env.update(
        {
            "ANPR_CAMERA__ID": cam.id,
            "ANPR_KEYS__SIGNING_KEY": str(cam.signing_key),
            "ANPR_POLICE__CERT": str(cam.certs["police.cert"]),
            "ANPR_POLICE__KEY": str(cam.certs["police.key"]),
            "ANPR_CIVIL__CERT": str(cam.certs["civil.cert"]),
            "ANPR_CIVIL__KEY": str(cam.certs["civil.key"]),
            "ANPR_CAMERA__SOURCE": cam.stream.url,
            "ANPR_CAMERA__LANES": str(cam.scene.lanes),
            "ANPR_CAMERA__LANE_ZONES": _lane_zones(cam.scene),
            "ANPR_SERVICE__METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        }
    )
    return env


def _split_lines(source: Path, camera: str, dest: Path) -> Path:
    """The lines of one camera from a back office's file (each line names its camera)."""
    lines = [x for x in load_jsonl(source) if x.get("camera") == camera]
    dest.write_text("".join(json.dumps(x, sort_keys=True) + "\n" for x in lines), encoding="utf-8")
    return dest


@dataclass
class _Traffic:
    """What the run recorded beside the back offices' files, for the report."""

    backlog: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # camera -> samples
    outage_ms: list[int] = field(default_factory=lambda: [0, 0])  # police down from, to

    def outage(self) -> tuple[int, int] | None:
        return (self.outage_ms[0], self.outage_ms[1]) if all(self.outage_ms) else None


def _fresh_workdir(work: Path) -> None:
    """The work directory without the files of an earlier run (the PKI is kept)."""
    work.mkdir(parents=True, exist_ok=True)
    for stale in ("truth.jsonl", "police.jsonl", "civil.jsonl", "journal.sqlite"):
        for path in [*work.glob(f"{stale}*"), *work.glob(f"cam-*/{stale}*")]:
            path.unlink()


def _back_offices(
    pki: DevPki, cams: list[_Camera], police: Broker, civil: Broker, work: Path
) -> tuple[PoliceBackOffice, CivilBackOffice]:
    """Both reference back offices, started, trusting each camera's signing key."""
    trusted: dict[str, dict[str, Ed25519PublicKey]] = {}
    for cam in cams:
        signing = load_signing_key(cam.signing_key).public_key()
        trusted[cam.id] = {key_id(signing): signing}
    seal = serialization.load_pem_private_key(
        pki.path("backoffice-seal.key").read_bytes(), password=None
    )
    if not isinstance(seal, x25519.X25519PrivateKey):
        raise TypeError("the dev PKI's back-office sealing key is not X25519")
    office = PoliceBackOffice(
        police.url,
        client_context(
            pki.path("police-ca.crt"), pki.path("backoffice.crt"), pki.path("backoffice.key")
        ),
        seal_key=seal,
        trusted=trusted,
        out=work / "police.jsonl",
        keep_crops=True,
        images=work / "police-images",
    )
    city = CivilBackOffice(
        civil.url,
        client_context(pki.path("civil-ca.crt"), pki.path("city.crt"), pki.path("city.key")),
        trusted=trusted,
        out=work / "civil.jsonl",
    )
    office.start()
    city.start()
    return office, city


def _start_cameras(  # noqa: PLR0913 - the run's options, its cameras and both brokers
    opts: DemoOptions,
    cams: list[_Camera],
    *,
    pki: DevPki,
    police: Broker,
    civil: Broker,
    result: DemoResult,
) -> int:
    """Start each camera and its agent; the count window (s) the agents use."""
    from simulator.camera.mjpeg import MjpegCamera  # noqa: PLC0415
    from simulator.vendordemo import event_camera  # noqa: PLC0415

    window_s = 0
    for cam in cams:
        vendor_env: dict[str, str] = {}
        if opts.vendor:  # a camera that reads plates itself (simulator/vendordemo.py)
            cam.stream, vendor_env = event_camera(opts, cam.scene, cam.dir, cam.truth)
        else:
            # The scene starts when the agent's capture connects: its first vehicle
            # is not gone before the agent (loading its models) could see it.
            cam.stream = MjpegCamera(
                cam.scene,
                port=free_port(),
                truth_path=cam.truth,
                seconds=opts.seconds,
                wait_for_client=True,
            )
        env = {**_camera_env(cam, pki, police, civil), **vendor_env}
        window_s = load_config(opts.config, env).config.counts.window_s
        cam.stream.start()
        cam.agent = _Agent(opts.config, env, cam.dir / "agent.log")
        result.add(
            "camera",
            ok=True,
            detail=f"{cam.id}: {cam.stream.url} for {opts.seconds:g} s",
            quiet=opts.quiet,
        )
    return window_s


def _progress_line(
    elapsed: float, cams: list[_Camera], office: PoliceBackOffice, city: CivilBackOffice
) -> str:
    at_police = []
    for cam in cams:
        feed = office.feed(cam.id)
        at_police.append(f"{feed.received if feed else 0:4d}")
    return (
        f"  .. {elapsed:5.0f} s  frames {sum(c.stream.frames_sent for c in cams):5d}  "
        f"reads at police {' + '.join(at_police)}  civil windows {len(city.windows)}"
    )


def _drive(  # noqa: PLR0913 - the run, its cameras, agents, back offices and police broker
    opts: DemoOptions,
    cams: list[_Camera],
    agents: list[_Agent],
    *,
    office: PoliceBackOffice,
    city: CivilBackOffice,
    police: Broker,
    result: DemoResult,
    traffic: _Traffic,
) -> float:
    """While the cameras play: sample the backlog, cut the police broker if asked, report.

    Returns the monotonic time the cameras started.
    """
    outage_at = opts.seconds / 3 if opts.outage > 0 else None
    t0 = time.monotonic()
    next_line = 0.0
    while not all(c.stream.wait(0.5 / len(cams)) for c in cams):
        elapsed = time.monotonic() - t0
        if not all(a.alive() for a in agents):
            break
        _backlog_sample(cams, office, traffic.backlog)
        if outage_at is not None and elapsed >= outage_at and police.running:
            police.kill()
            traffic.outage_ms[0] = int(time.time() * 1000)
            detail = f"police broker killed at {elapsed:.0f} s"
            result.add("outage", ok=True, detail=detail, quiet=opts.quiet)
        if outage_at is not None and not police.running and elapsed >= outage_at + opts.outage:
            police.start()
            traffic.outage_ms[1] = int(time.time() * 1000)
            outage_at = None
            detail = f"police broker back at {elapsed:.0f} s"
            result.add("outage", ok=True, detail=detail, quiet=opts.quiet)
        if not opts.quiet and elapsed >= next_line:
            print(_progress_line(elapsed, cams, office, city), flush=True)
            next_line = elapsed + 5
    if not police.running:
        police.start()
        traffic.outage_ms[1] = int(time.time() * 1000)
    return t0


def _wait_delivered(  # noqa: PLR0913 - the run, its cameras, back offices and its clock
    opts: DemoOptions,
    cams: list[_Camera],
    *,
    office: PoliceBackOffice,
    city: CivilBackOffice,
    traffic: _Traffic,
    t0: float,
    window_s: int,
) -> None:
    """Let the last passes close, then wait until the police hold every read journaled."""
    deadline = time.monotonic() + 60 + window_s
    while time.monotonic() < deadline:
        time.sleep(1.0)
        _backlog_sample(cams, office, traffic.backlog)
        settled = time.monotonic() - t0 > opts.seconds + 5  # last passes closed
        # A run of a minute or more should show the city at least one closed window.
        windows = bool(city.windows) or opts.seconds < window_s
        complete = True
        for cam in cams:
            _, head = _read_records(cam.journal, cam.id)
            feed = office.feed(cam.id)
            complete = complete and (feed.contiguous_through() if feed else 0) >= head
        if settled and windows and complete:
            return


def _judge(
    result: DemoResult,
    opts: DemoOptions,
    per_camera: dict[str, dict[str, Any]],
    summary: dict[str, Any],
    civil_windows: int,
) -> None:
    """Add the verdict lines: delivery and privacy decide; recognition only with --strict."""
    quiet = opts.quiet
    for cam_id, cam_summary in per_camera.items():
        who = "" if len(per_camera) == 1 else f"{cam_id}: "
        result.add(
            "delivery",
            ok=cam_summary["lost"] == 0 and summary["verification_problems"] == 0,
            detail=f"{who}{cam_summary['reads_verified']} of {cam_summary['reads_sent']} reads "
            f"received and verified, {cam_summary['lost']} lost",
            quiet=quiet,
        )
    result.add(
        "civil privacy",
        ok=summary["civil_privacy_violations"] == 0,
        detail=f"{summary['civil_privacy_violations']} plate fragments on the civil side "
        f"({civil_windows} windows)",
        quiet=quiet,
    )
    log_leaks = summary["log_privacy_violations"]
    result.add(
        "log privacy",
        ok=not log_leaks,
        detail=f"{log_leaks} plate fragments in the agent log(s)",
        quiet=quiet,
    )
    met = all(all((s.get(k) or 0) >= v for k, v in TARGETS.items()) for s in per_camera.values())
    recognition = "; ".join(
        f"{'' if len(per_camera) == 1 else cam_id + ' '}recall {s.get('recall')}, "
        f"exact {s.get('exact_rate')}"
        for cam_id, s in per_camera.items()
    ) + (
        f" (targets {TARGETS['recall']:.0%}/{TARGETS['exact_rate']:.0%}: "
        f"{'met' if met else 'NOT met'})"
    )
    if opts.strict:
        result.add("recognition", ok=met, detail=recognition, quiet=quiet)
    elif not quiet:
        print(f"  [{'ok' if met else '--'}] recognition: {recognition}")


def _write_reports(
    cams: list[_Camera],
    work: Path,
    per_camera: dict[str, dict[str, Any]],
    office: PoliceBackOffice,
    traffic: _Traffic,
) -> None:
    """Each camera's report.html: reads beside their crops and overviews, and the charts."""
    for cam in cams:
        several = len(cams) > 1
        html = html_from_files(
            cam.truth,
            cam.dir / "police.jsonl" if several else work / "police.jsonl",
            cam.dir / "civil.jsonl" if several else work / "civil.jsonl",
            per_camera[cam.id],
            crops=office.crops,
            overviews=office.overviews,
            backlog=traffic.backlog.get(cam.id, ()),
            outage_ms=traffic.outage(),
        )
        (cam.dir / "report.html").write_text(html, encoding="utf-8")


def run_demo(opts: DemoOptions) -> DemoResult:
    """Run the demo; every process and broker is stopped before returning.

    The story: PKI and cameras -> brokers and back offices -> cameras and agents
    -> traffic (and an outage) -> delivery -> stop -> score -> verdict and reports.
    """
    from simulator.vendordemo import events_step  # noqa: PLC0415

    result = DemoResult()
    quiet = opts.quiet
    work = opts.workdir
    _fresh_workdir(work)
    started = time.monotonic()
    pki = init_pki(work / "pki", CAMERA_ID)
    result.add("dev PKI", ok=True, detail=str(pki.root), quiet=quiet)
    cams = _cameras(opts, pki)
    traffic = _Traffic()
    with (
        police_broker(work / "police-broker", pki) as police,
        civil_broker(work / "civil-broker", pki) as civil,
    ):
        result.add(
            "brokers", ok=True, detail=f"police {police.url}, civil {civil.url}", quiet=quiet
        )
        _cross_checks(result, pki, police, civil, quiet)
        office, city = _back_offices(pki, cams, police, civil, work)
        window_s = _start_cameras(opts, cams, pki=pki, police=police, civil=civil, result=result)
        agents = [c.agent for c in cams if c.agent is not None]
        try:
            t0 = _drive(
                opts,
                cams,
                agents,
                office=office,
                city=city,
                police=police,
                result=result,
                traffic=traffic,
            )
            for cam in cams:
                cam.stream.stop()
            alive = all(a.alive() for a in agents)
            result.add(
                "agent running",
                ok=alive,
                detail=f"anpr-agent run took the stream ({len(agents)} agent(s))"
                if alive
                else " / ".join(a.last_lines() for a in agents if not a.alive()),
                quiet=quiet,
            )
            if alive:
                _wait_delivered(
                    opts,
                    cams,
                    office=office,
                    city=city,
                    traffic=traffic,
                    t0=t0,
                    window_s=window_s,
                )
        finally:
            codes = [a.stop() for a in agents]
            for cam in cams:
                cam.stream.stop()
        result.add(
            "agent stopped",
            ok=all(c == 0 for c in codes),
            detail=f"exit code {', '.join(map(str, codes))}",
            quiet=quiet,
        )
        events = events_step([c.stream for c in cams])
        if events is not None:
            result.add("events", ok=events[0], detail=events[1], quiet=quiet)
        time.sleep(1.0)  # last acks and windows
        office.stop()
        city.stop()

    police_out, civil_out = work / "police.jsonl", work / "civil.jsonl"
    per_camera = {cam.id: _score_camera(cam, office, opts, police_out, civil_out) for cam in cams}
    summary = _summary(per_camera, office, city, opts, time.monotonic() - started)
    result.summary = summary
    _judge(result, opts, per_camera, summary, len(city.windows))
    (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    _write_reports(cams, work, per_camera, office, traffic)
    return result


def _score_camera(
    cam: _Camera, office: PoliceBackOffice, opts: DemoOptions, police_out: Path, civil_out: Path
) -> dict[str, Any]:
    """One camera's score, from its truth and its lines of the back offices' files."""
    if opts.cameras > 1:
        police_out = _split_lines(police_out, cam.id, cam.dir / "police.jsonl")
        civil_out = _split_lines(civil_out, cam.id, cam.dir / "civil.jsonl")
    reads_sent, _ = _read_records(cam.journal, cam.id)
    feed = office.feed(cam.id)
    verified = sum(1 for k in (feed.kinds.values() if feed else []) if k == "read")
    summary: dict[str, Any] = score_files(cam.truth, police_out, civil_out, reads_sent=reads_sent)
    plates = [
        str(p["text"]) for p in load_jsonl(cam.truth) if p.get("kind") == "pass" and p.get("text")
    ]
    log_lines = (cam.dir / "agent.log").read_text(encoding="utf-8", errors="replace")
    overview_sizes = [len(v) for (camera, _), v in office.overviews.items() if camera == cam.id]
    summary.update(
        {
            "camera": cam.id,
            "reads_sent": reads_sent,
            "reads_verified": verified,
            "lost": reads_sent - verified,
            "overviews": len(overview_sizes),
            "overview_bytes_mean": round(sum(overview_sizes) / len(overview_sizes))
            if overview_sizes
            else 0,
            "log_privacy_violations": len(privacy_violations(plates, log_lines.splitlines())),
        }
    )
    return summary


def _summary(
    per_camera: dict[str, dict[str, Any]],
    office: PoliceBackOffice,
    city: CivilBackOffice,
    opts: DemoOptions,
    elapsed: float,
) -> dict[str, Any]:
    """One camera: its figures as they always were. Several: the totals, and each camera's."""
    shared = {
        "verification_problems": len(office.problems) + len(city.problems),
        "civil_windows": len(city.windows),
        "seconds": opts.seconds,
        "outage_s": opts.outage,
        "elapsed_s": round(elapsed, 1),
        "targets": TARGETS,
    }
    if len(per_camera) == 1:
        return {**next(iter(per_camera.values())), **shared}
    totals = {
        key: sum(int(s.get(key) or 0) for s in per_camera.values())
        for key in (
            "reads_sent",
            "reads_verified",
            "lost",
            "overviews",
            "civil_privacy_violations",
            "log_privacy_violations",
        )
    }
    return {"cameras": len(per_camera), **totals, **shared, "per_camera": per_camera}
