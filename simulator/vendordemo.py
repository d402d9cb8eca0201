"""``anpr-sim demo --vendor NAME``: the demo's camera as one that reads plates and posts events.

The demo runs as with the video camera (brokers, back offices, the real
``anpr-agent run``, scoring against the truth); only the camera differs: an
:class:`~simulator.vendorcam.EventCamera` posts the scene's passes as NAME's
events (a preset, or a mapping file) to the agent's intake over HTTPS with a
bearer token, with read errors at ``--read-errors`` and resends at
``--resends``. The agent runs with ``camera.source = "events:"`` and an
``[intake]`` from ``ANPR_INTAKE__…`` overrides. :func:`intake_files` makes the
intake's TLS files and token (also for ``anpr-sim bench intake``).
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.intake import MappingError, load_mapping, load_preset
from simulator.broker import free_port
from simulator.pki import LOCAL_NAMES, issue_cert, new_ca, save_issued
from simulator.vendorcam import EventCamera

if TYPE_CHECKING:
    import argparse

    from agent.intake import Mapping

__all__ = [
    "IntakeFiles",
    "add_event_camera_options",
    "add_vendor_options",
    "event_camera",
    "events_step",
    "intake_env",
    "intake_files",
    "run_event_camera",
    "vendor_mapping",
]


@dataclass(frozen=True, slots=True)
class IntakeFiles:
    """The intake's server certificate and key, its camera CA and client identity, a token."""

    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path
    token_file: Path
    token: str


def intake_files(root: Path, camera_id: str = "cam-01") -> IntakeFiles:
    """A camera CA, the intake's server certificate (loopback names) and a 0600 token file."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    ca = new_ca("anpr-edge dev camera CA")
    ca_crt, _ = save_issued(root, "camera-ca", ca)
    crt, key = save_issued(root, "intake", issue_cert(ca, "localhost", server_names=LOCAL_NAMES))
    client_crt, client_key = save_issued(root, "camera", issue_cert(ca, camera_id))
    token = secrets.token_urlsafe(24)
    token_file = root / "intake.token"
    token_file.write_text(token + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    return IntakeFiles(ca_crt, crt, key, client_crt, client_key, token_file, token)


def vendor_mapping(vendor: str) -> tuple[Mapping, dict[str, str]]:
    """The mapping ``--vendor`` names (a preset, or a mapping file) and its override."""
    path = Path(vendor)
    if path.suffix == ".toml" and path.is_file():
        return load_mapping(path), {"ANPR_INTAKE__MAPPING": str(path.resolve())}
    return load_preset(vendor), {"ANPR_INTAKE__PRESET": vendor}


def intake_env(files: IntakeFiles, port: int, vendor: str) -> dict[str, str]:
    """``ANPR_…`` overrides that turn a config's camera into an event camera on ``port``."""
    _, which = vendor_mapping(vendor)
    return {
        "ANPR_CAMERA__SOURCE": "events:",
        "ANPR_INTAKE__LISTEN": f"127.0.0.1:{port}",
        "ANPR_INTAKE__TLS_CERT": str(files.cert),
        "ANPR_INTAKE__TLS_KEY": str(files.key),
        "ANPR_INTAKE__TOKEN": str(files.token_file),
        **which,
    }


def event_camera(
    opts: Any,  # noqa: ANN401 - simulator.demo.DemoOptions (demo imports this module)
    scene: Any,  # noqa: ANN401 - simulator.camera.SceneConfig
    folder: Path,
    truth: Path,
) -> tuple[EventCamera, dict[str, str]]:
    """The demo's event camera for one agent, and the overrides that point the agent at it."""
    mapping, _ = vendor_mapping(opts.vendor)
    files = intake_files(folder / "intake-pki")
    port = free_port()
    camera = EventCamera(
        scene,
        f"https://127.0.0.1:{port}/events/{mapping.name}",
        mapping,
        token=files.token,
        ca=files.ca,
        truth_path=truth,
        seconds=opts.seconds,
        read_errors=opts.read_errors,
        resends=opts.resends,
        seed=opts.seed,
    )
    return camera, intake_env(files, port, opts.vendor)


def events_step(streams: list[Any]) -> tuple[bool, str] | None:
    """The demo's ``events`` step: every event answered, none refused (None: no event camera)."""
    cams = [s for s in streams if isinstance(s, EventCamera)]
    if not cams:
        return None
    posted = sum(c.stats.posted for c in cams)
    resent = sum(c.stats.resent for c in cams)
    answers: dict[str, int] = {}
    for cam in cams:
        for key, n in cam.stats.answers.items():
            answers[key] = answers.get(key, 0) + n
    failures = sum(c.stats.failures for c in cams)
    refused = [r for c in cams for r in c.stats.refused]
    detail = (
        f"{posted} events posted (+{resent} resent): "
        + ", ".join(f"{n} {k}" for k, n in sorted(answers.items()))
        + (f"; {failures} unanswered" if failures else "")
        + (f"; first refusal: {refused[0]}" if refused else "")
    )
    return failures == 0 and not refused, detail


def add_vendor_options(demo: argparse.ArgumentParser) -> None:
    """``anpr-sim demo``'s options for an event camera."""
    g = demo.add_argument_group("event camera (a camera that reads plates itself)")
    g.add_argument(
        "--vendor",
        metavar="NAME",
        help="the camera posts read events in this preset's format (or a mapping .toml) "
        "to the agent's intake instead of streaming video",
    )
    g.add_argument("--read-errors", type=float, default=0.02, help="share of misread plates")
    g.add_argument("--resends", type=float, default=0.05, help="share of events sent twice")


def add_event_camera_options(camera: argparse.ArgumentParser) -> None:
    """``anpr-sim camera --events URL``: post read events instead of serving MJPEG."""
    g = camera.add_argument_group("event camera (--events)")
    g.add_argument(
        "--events", metavar="URL", help="post read events here, e.g. https://h:8443/events"
    )
    which = g.add_mutually_exclusive_group()
    which.add_argument("--preset", metavar="NAME", help="event format: a shipped preset")
    which.add_argument("--mapping", type=Path, metavar="FILE", help="event format: a mapping file")
    g.add_argument("--token-file", type=Path, help="file holding the intake's bearer token")
    g.add_argument("--ca", type=Path, help="CA that signed the intake's certificate")
    g.add_argument("--read-errors", type=float, default=0.02, help="share of misread plates")
    g.add_argument("--resends", type=float, default=0.05, help="share of events sent twice")


def run_event_camera(args: argparse.Namespace, scene: Any) -> int:  # noqa: ANN401 - SceneConfig
    """``anpr-sim camera --events URL``: run the scene, post its passes, report the answers."""
    try:
        mapping = load_mapping(args.mapping) if args.mapping else load_preset(args.preset or "")
        token = args.token_file.read_text(encoding="utf-8").strip() if args.token_file else None
    except (MappingError, OSError) as exc:
        print(f"anpr-sim: {exc}", file=sys.stderr)
        return 2
    camera = EventCamera(
        scene,
        args.events,
        mapping,
        token=token,
        ca=args.ca,
        truth_path=args.truth,
        seconds=args.seconds,
        read_errors=args.read_errors,
        resends=args.resends,
        seed=args.seed,
    )
    camera.start()
    print(f"event camera: {mapping.name} events to {args.events}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        while not camera.wait(0.5):
            pass
    camera.stop()
    step = events_step([camera])
    ok, detail = step if step is not None else (False, "no camera")
    print(detail)
    return 0 if ok else 1
