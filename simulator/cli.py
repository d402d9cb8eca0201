"""``anpr-sim``: the simulator's command line (dev PKI, throwaway brokers, demo)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.bench import add_parsers as add_bench_parsers
from simulator.broker import BrokerError
from simulator.camera.cli import add_parsers as add_camera_parsers
from simulator.camera.oracle import add_parsers as add_oracle_parsers
from simulator.demo import (
    DEFAULT_CONFIG,
    DemoOptions,
    civil_broker,
    police_broker,
    result_json,
    run_demo,
)
from simulator.fleet import add_parsers as add_fleet_parsers
from simulator.pki import init_pki
from simulator.platecli import add_parsers as add_plate_parsers
from simulator.report import add_parsers as add_score_parsers
from simulator.vendordemo import add_vendor_options

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def _err(line: str) -> None:
    print(f"anpr-sim: {line}", file=sys.stderr)


def _cmd_pki_init(args: argparse.Namespace) -> int:
    try:
        pki = init_pki(args.dir, args.camera_id, force=args.force)
    except FileExistsError as exc:
        _err(str(exc))
        return 2
    print(f"dev PKI for camera {pki.camera_id} in {pki.root} (private files 0600)")
    return 0


def _cmd_brokers(args: argparse.Namespace) -> int:
    """Run the police and civil brokers in the foreground until Ctrl-C / SIGTERM."""
    pki = init_pki(args.workdir / "pki", args.camera_id)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with (
        police_broker(args.workdir / "police-broker", pki, args.police_port) as police,
        civil_broker(args.workdir / "civil-broker", pki, args.civil_port) as civil,
    ):
        print(f"police broker {police.url}  (log {police.log_path})")
        print(f"civil broker  {civil.url}  (log {civil.log_path})")
        print(f"dev PKI       {pki.root}")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.hub:
        from simulator.hubdemo import main_hub_demo  # noqa: PLC0415 - needs the [hub] extra

        return main_hub_demo(
            args.workdir.resolve(), args.cameras, seed=args.seed, as_json=args.json
        )
    if args.cameras > 8:
        _err("demo --cameras: 1 to 8 agents (up to 200 count cameras with --hub)")
        return 2
    opts = DemoOptions(
        workdir=args.workdir.resolve(),
        config=args.config.resolve(),
        seconds=args.seconds,
        rate=args.rate,
        lanes=args.lanes,
        night=args.night,
        outage=args.outage,
        seed=args.seed,
        strict=args.strict,
        quiet=args.json,
        cameras=args.cameras,
        vendor=args.vendor,
        read_errors=args.read_errors,
        resends=args.resends,
    )
    if not args.json:
        print(f"anpr-edge demo in {opts.workdir} ({opts.seconds:g} s, {opts.rate:g} vehicles/min)")
    result = run_demo(opts)
    if args.json:
        print(result_json(result))
    else:
        print(
            f"demo: {'sound' if result.ok else 'FAILED'}; summary {opts.workdir / 'summary.json'}, "
            f"report {opts.workdir / ('cam-*/' if opts.cameras > 1 else '') / 'report.html'}"
        )
    return 0 if result.ok else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    parser = argparse.ArgumentParser(prog="anpr-sim", description="anpr-edge simulator")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    pki = sub.add_parser("pki", help="development PKI").add_subparsers(
        dest="pki_command", required=True, metavar="ACTION"
    )
    init = pki.add_parser("init", help="create CAs, broker/client certs, sealing and signing keys")
    init.add_argument("dir", type=Path, metavar="DIR")
    init.add_argument("--camera-id", default="cam-01", help="CN of the camera's client certs")
    init.add_argument("--force", action="store_true", help="replace an existing PKI in DIR")
    init.set_defaults(func=_cmd_pki_init)

    brokers = sub.add_parser("brokers", help="run a police and a civil mTLS mosquitto")
    brokers.add_argument("--workdir", type=Path, default=Path(".demo"))
    brokers.add_argument("--camera-id", default="cam-01")
    brokers.add_argument("--police-port", type=int, default=18883)
    brokers.add_argument("--civil-port", type=int, default=18884)
    brokers.set_defaults(func=_cmd_brokers)

    demo = sub.add_parser("demo", help="bring up the whole double-flux setup and check it")
    demo.add_argument(
        "--out",
        "--workdir",
        dest="workdir",
        type=Path,
        default=Path(".demo"),
        help="where the PKI, journal, truth/police/civil JSON lines and report.html go",
    )
    demo.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    demo.add_argument("--json", action="store_true", help="print one JSON object at the end")
    demo.add_argument("--seconds", type=float, default=60.0, help="how long the camera runs")
    demo.add_argument("--rate", type=float, default=20.0, help="vehicles per minute")
    demo.add_argument("--lanes", type=int, default=1, choices=(1, 2, 3, 4))
    demo.add_argument("--night", action="store_true", help="night, infrared lighting")
    demo.add_argument("--outage", type=float, default=0.0, help="seconds without the police broker")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument(
        "--cameras",
        type=int,
        default=1,
        choices=range(1, 201),
        metavar="N",
        help="agents side by side, each with its own camera, identity, journal and port (1-8); "
        "with --hub, count cameras (1-200)",
    )
    demo.add_argument(
        "--hub",
        action="store_true",
        help="cameras -> civil broker -> anpr-hub -> two cities with different grants, checked",
    )
    demo.add_argument(
        "--strict", action="store_true", help="also fail when recall/exact miss their targets"
    )
    add_vendor_options(demo)
    demo.set_defaults(func=_cmd_demo)
    add_bench_parsers(sub)
    add_plate_parsers(sub)
    add_camera_parsers(sub)
    add_oracle_parsers(sub)
    add_fleet_parsers(sub)
    add_score_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except BrokerError as exc:
        _err(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
