"""``anpr-agent``: the daemon's command line.

Exit codes: 0 fine; 1 the check ran and found a problem (e.g. a broker refused us);
2 bad usage, configuration or keys — always with one line per problem, never a
traceback for a user error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent import __version__
from agent.cli.intake import add_parser as add_intake_parser
from agent.cli.intake import intake_problems
from agent.cli.journal import add_parsers as add_journal_parsers
from agent.cli.read import add_parser as add_read_parser
from agent.cli.run import add_parsers as add_run_parsers
from agent.config.box import shared_on_one_box
from agent.config.load import ConfigError, LoadedConfig, load_config
from agent.recognition.shipped import model_cards, shipped_card, shipped_models
from agent.security.keyfiles import KeyFileError
from agent.security.tls import build_client_context
from agent.service import preflight
from agent.uplink.probe import probe_broker

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from agent.config.schema import RecognitionConfig

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _err(line: str) -> None:
    print(f"anpr-agent: {line}", file=sys.stderr)


def _load(path: Path, env: Mapping[str, str] | None = None) -> LoadedConfig | None:
    """Load and fully check a config; print problems and return None when unusable."""
    try:
        loaded = load_config(path, os.environ if env is None else env)
    except ConfigError as exc:
        for problem in exc.problems:
            _err(f"{path}: {problem}")
        return None
    problems = preflight(loaded)
    for problem in problems:
        _err(f"{path}: {problem}")
    return None if problems else loaded


def _check_models(path: Path, recognition: RecognitionConfig) -> str | None:
    """Load every model ``run`` would load; print its problems, else describe the models.

    Loading checks each card (fields, input and output spec), the model file's
    sha256 against it, and the graph against the card.
    """
    # Imported here: onnxruntime and OpenCV load only for the commands that read plates.
    from agent.recognition.detector import DetectorError, PlateDetector  # noqa: PLC0415
    from agent.recognition.reader import PlateReader, ReaderCard, ReaderError  # noqa: PLC0415
    from agent.recognition.recognizer import check_votable  # noqa: PLC0415

    shown: list[str] = []
    problems = False
    readers: dict[str, ReaderCard] = {}
    for key, card in model_cards(recognition).named():
        try:
            if key == "recognition.detector_card":
                version = PlateDetector(card, threads=1).card.version
            else:
                readers[key] = PlateReader(card, threads=1).card
                version = readers[key].version
        except (DetectorError, ReaderError) as exc:
            _err(f"{path}: {key}: {exc}")
            problems = True
            continue
        origin = "shipped" if card == shipped_card(_ROLES[key]) else str(card)
        shown.append(f"{key.split('.')[1].removesuffix('_card')} {version} ({origin})")
    reader, screen = readers.get("recognition.reader_card"), readers.get("recognition.screen_card")
    if recognition.vote_screen and reader is not None and screen is not None:
        try:
            check_votable(reader, screen)
        except ReaderError as exc:
            _err(f"{path}: recognition.vote_screen: {exc}")
            problems = True
    return None if problems else ", ".join(shown)


_ROLES = {
    "recognition.detector_card": "detector",
    "recognition.reader_card": "reader",
    "recognition.screen_card": "screen",
}


def _instance_env(path: Path) -> Mapping[str, str]:
    """The environment to check a config in, with its credentials where the template loads them.

    A camera of ``anpr-agent@.service`` has ``/etc/anpr-agent/NAME.toml`` and its
    credentials in ``/etc/anpr-agent/NAME/credentials``.
    """
    credentials = path.parent / path.stem / "credentials"
    if "CREDENTIALS_DIRECTORY" in os.environ or not credentials.is_dir():
        return os.environ
    return {**os.environ, "CREDENTIALS_DIRECTORY": str(credentials)}


def _cmd_check_config(args: argparse.Namespace) -> int:
    several = len(args.file) > 1
    checked: list[tuple[str, LoadedConfig]] = []
    code = EXIT_OK
    for path in args.file:
        loaded = _load(path, _instance_env(path) if several else None)
        if loaded is None or _check_one(path, loaded) != EXIT_OK:
            code = EXIT_USAGE
            continue
        checked.append((str(path), loaded))
    problems = shared_on_one_box(checked)
    for problem in problems:
        _err(problem)
    if problems:
        return EXIT_USAGE
    if several and code == EXIT_OK:
        print(f"ok: {len(checked)} agents on one box share no journal, identity or port")
    return code


def _check_one(path: Path, loaded: LoadedConfig) -> int:
    intake = intake_problems(loaded)
    for problem in intake:
        _err(f"{path}: {problem}")
    if intake:
        return EXIT_USAGE
    cfg = loaded.config
    models = _check_models(path, cfg.recognition)
    if models is None:
        return EXIT_USAGE
    summary = (
        f"ok: {path}: camera {cfg.camera.id} at {cfg.camera.site!r}; "
        f"police {len(cfg.police.brokers)} broker(s) under {cfg.police.topic_prefix}/; "
        f"civil {len(cfg.civil.brokers)} broker(s) under {cfg.civil.topic_prefix}/; "
        f"counts {cfg.counts.window_s} s windows, k={cfg.counts.k}; "
        f"journal {cfg.journal.path} ({cfg.journal.synchronous}); models {models}"
    )
    if loaded.unresolved_credentials:
        summary += (
            f"; {len(loaded.unresolved_credentials)} credential file(s) not checked "
            "($CREDENTIALS_DIRECTORY unset)"
        )
    print(summary)
    return EXIT_OK


def _cmd_check_connect(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    if loaded is None:
        return EXIT_USAGE
    if loaded.unresolved_credentials:
        _err(
            f"{args.config}: {', '.join(loaded.unresolved_credentials)} name credentials "
            "but $CREDENTIALS_DIRECTORY is unset"
        )
        return EXIT_USAGE
    cfg = loaded.config
    failed = False
    for name, uplink in (("police", cfg.police), ("civil", cfg.civil)):
        try:
            ctx = build_client_context(uplink)
        except KeyFileError as exc:
            _err(f"{name}: {exc}")
            return EXIT_USAGE
        for url in uplink.brokers:  # every broker: a failover target that refuses us is a fault
            result = probe_broker(url, ctx, f"{cfg.camera.id}-probe", timeout=args.timeout)
            print(f"{name} {url}: {'ok' if result.ok else 'FAILED'}: {result.detail}")
            failed = failed or not result.ok
    return EXIT_FAILED if failed else EXIT_OK


def _version() -> str:
    """The package version, then each shipped model's name, version and sha256."""
    lines = [f"anpr-agent {__version__}"]
    for m in shipped_models():
        broken = "" if m.intact else "  (model file does not match: reinstall)"
        lines.append(f"  {m.role:<8} {m.name} {m.version} sha256:{m.sha256}{broken}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="anpr-agent",
        # Keeps --version's one line per model (and the description) as written.
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Edge ANPR agent: full reads to the police back office, "
        "anonymous counts to the civil side.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser(
        "check-config", help="validate a config file and the keys and certificates it names"
    )
    check.add_argument(
        "file",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="one config, or every config of one box (one per camera): those must share "
        "no journal, camera id, signing key, client identity or metrics port",
    )
    check.set_defaults(func=_cmd_check_config)

    connect = sub.add_parser(
        "check-connect", help="connect once to every police and civil broker over mutual TLS"
    )
    connect.add_argument("--config", type=Path, required=True, metavar="FILE")
    connect.add_argument("--timeout", type=float, default=5.0, help="seconds per broker")
    connect.set_defaults(func=_cmd_check_connect)
    add_journal_parsers(sub)
    add_read_parser(sub)
    add_run_parsers(sub)
    add_intake_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
