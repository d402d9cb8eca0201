"""``anpr-agent check-intake``: what read a vendor event makes, before a camera sends one.

``check-intake --sample FILE`` parses one event body with a preset, a mapping
file or a config's ``[intake]`` and prints the read the agent would journal
(the plate redacted unless ``--show-plate``), or the status and reason the
listener would refuse it with. ``--list`` shows the shipped presets and where
each format is documented. :func:`intake_problems` is ``check-config``'s part.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agent.config.load import ConfigError, load_config
from agent.config.schema import RecognitionConfig
from agent.intake import (
    BadEventError,
    EventLimits,
    IntakeError,
    MappingError,
    event_read,
    load_mapping,
    load_preset,
    preset_names,
    read_token,
    resolve_mapping,
    server_context,
)
from agent.service import syntax_fit

if TYPE_CHECKING:
    import argparse

    from agent.config.load import LoadedConfig
    from agent.intake import EventRead, Mapping

__all__ = ["add_parser", "intake_problems"]

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
_SAMPLE_MAX = 64 * 1024**2


def _err(line: str) -> None:
    print(f"anpr-agent: {line}", file=sys.stderr)


def intake_problems(loaded: LoadedConfig) -> list[str]:
    """One line per problem with a config's ``[intake]``: its mapping, TLS files and token."""
    intake = loaded.config.intake
    if intake is None:
        return []
    problems: list[str] = []
    try:
        resolve_mapping(intake.preset, intake.mapping)
    except MappingError as exc:
        problems += [f"intake: {p}" for p in exc.problems]
    unresolved = set(loaded.unresolved_credentials)
    if not {"intake.tls_cert", "intake.tls_key", "intake.client_ca"} & unresolved:
        try:
            server_context(intake)
        except IntakeError as exc:
            problems.append(str(exc))
    if "intake.token" not in unresolved:
        try:
            read_token(intake)
        except IntakeError as exc:
            problems.append(str(exc))
    return problems


def _mapping(args: argparse.Namespace) -> tuple[Mapping, tuple[str, ...], int] | None:
    """(mapping, syntax countries, lanes) from the options; None after printing why not."""
    try:
        if args.config is not None:
            loaded = load_config(args.config, os.environ)
            cfg = loaded.config
            if cfg.intake is None:
                _err(f"{args.config}: has no [intake] section")
                return None
            mapping = resolve_mapping(cfg.intake.preset, cfg.intake.mapping)
            return mapping, cfg.recognition.countries, cfg.camera.lanes
        if args.preset is not None:
            mapping = load_preset(args.preset)
        elif args.mapping is not None:
            mapping = load_mapping(args.mapping)
        else:
            _err("name the format: --preset NAME, --mapping FILE or --config FILE")
            return None
    except ConfigError as exc:
        for problem in exc.problems:
            _err(f"{args.config}: {problem}")
        return None
    except MappingError as exc:
        for problem in exc.problems:
            _err(problem)
        return None
    return mapping, RecognitionConfig().countries, 8


def _content_type(mapping: Mapping, body: bytes, given: str | None) -> str:
    if given:
        return str(given)
    if mapping.multipart:
        first = body.lstrip().split(b"\r\n", 1)[0].split(b"\n", 1)[0]
        boundary = first.removeprefix(b"--").decode("latin-1").strip()
        return f"multipart/form-data; boundary={boundary}"
    return f"application/{mapping.body}"


def _describe(event: EventRead, show_plate: bool, now_ms: int) -> dict[str, object]:
    read = event.read
    conf = read.char_conf
    uniform = len(set(conf)) <= 1
    when = dt.datetime.fromtimestamp(read.wall_ms / 1000, dt.UTC)
    return {
        "plate": read.text if show_plate else "*" * len(read.text),
        "characters": len(read.text),
        "country": read.country,
        "confidence": round(sum(conf) / (1000 * len(conf)), 3) if conf else None,
        "per_character": None if uniform else [c / 1000 for c in conf],
        "pass_time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "pass_age_s": round((now_ms - read.wall_ms) / 1000, 1),
        "lane": read.lane,
        "direction": read.direction,
        "vehicle_class": read.vehicle_class,
        "event_id": event.event_id,
        "crop_jpeg_bytes": len(read.crop_jpeg),
    }


def _cmd_list() -> int:
    for name in preset_names():
        preset = load_preset(name)
        print(f"{name}: {preset.vendor}; {preset.body}{' multipart' if preset.multipart else ''}")
        print(f"    source: {preset.source}")
    return EXIT_OK


def _sample(path: Path) -> bytes | None:
    try:
        with path.open("rb") as fh:
            return fh.read(_SAMPLE_MAX)
    except OSError as exc:
        _err(f"{path}: cannot read: {exc.strerror or exc}")
        return None


def _cmd_check_intake(args: argparse.Namespace) -> int:
    if args.list:
        return _cmd_list()
    if args.sample is None:
        _err("check-intake needs --sample FILE (or --list)")
        return EXIT_USAGE
    found = _mapping(args)
    body = _sample(args.sample) if found is not None else None
    if found is None or body is None:
        return EXIT_USAGE
    mapping, countries, lanes = found
    now_ms = int(time.time() * 1000)
    # A sample is often an old capture: its age is shown, not refused.
    limits = EventLimits(lanes=lanes, max_skew_s=1e12, max_age_s=1e12)
    try:
        event = event_read(
            body,
            _content_type(mapping, body, args.content_type),
            mapping,
            fit=syntax_fit(countries),
            limits=limits,
            now_ms=now_ms,
        )
    except BadEventError as exc:
        if args.json:
            print(json.dumps({"ok": False, "status": exc.status, "error": exc.reason}))
        else:
            print(f"refused ({exc.status}): {args.sample}: {exc.reason}")
        return EXIT_REFUSED
    return _report(event, args, mapping, now_ms)


def _report(
    event: EventRead | None, args: argparse.Namespace, mapping: Mapping, now_ms: int
) -> int:
    if event is None:
        reason = "not a read event: the mapping's only_when does not match"
        if args.json:
            print(json.dumps({"ok": True, "ignored": reason}))
        else:
            print(f"ignored: {args.sample}: {reason} (answered 'ignored', nothing journaled)")
        return EXIT_OK
    described = _describe(event, args.show_plate, now_ms)
    if args.json:
        print(json.dumps({"ok": True, "mapping": mapping.name, "read": described}))
        return EXIT_OK
    print(f"ok: {args.sample} with {mapping.name} ({mapping.vendor}) makes this read:")
    for key, value in described.items():
        print(f"  {key:>15}: {'-' if value is None else value}")
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``check-intake``."""
    p = sub.add_parser(
        "check-intake",
        help="show the read a camera's event makes (or why the intake refuses it)",
    )
    p.add_argument("--sample", type=Path, metavar="FILE", help="one event body, as sent")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--preset", metavar="NAME", help="a shipped event format (see --list)")
    which.add_argument("--mapping", type=Path, metavar="FILE", help="a mapping file (TOML)")
    which.add_argument("--config", type=Path, metavar="FILE", help="the [intake] of a config")
    p.add_argument(
        "--content-type",
        metavar="TYPE",
        help="the Content-Type the camera sends (default: from the format; a multipart "
        "sample's boundary is taken from its first line)",
    )
    p.add_argument("--show-plate", action="store_true", help="print the plate text in clear")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--list", action="store_true", help="list the shipped presets and sources")
    p.set_defaults(func=_cmd_check_intake)
