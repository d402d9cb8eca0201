"""``anpr-agent journal stats|verify`` and ``anpr-agent keys init|show``."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent.config.load import ConfigError, LoadedConfig, load_config
from agent.journal.db import JournalError, open_readonly
from agent.journal.keyrotate import retired_public_keys, rotate_signing_key
from agent.journal.lock import JournalLockError
from agent.journal.records import STREAMS
from agent.journal.verify import Problem, checkpoints_from, verify_records
from agent.security.crypto import key_id, x25519_fingerprint
from agent.security.keyfiles import (
    KeyFileError,
    cert_fingerprint,
    load_certificates,
    load_sealing_public_key,
    load_signing_key,
    write_private_key,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from agent.config.schema import AgentConfig

__all__ = ["add_parsers"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _UsageError(Exception):
    """A user error: one line, exit 2."""


def _err(line: str) -> None:
    print(f"anpr-agent: {line}", file=sys.stderr)


def _config(path: Path) -> LoadedConfig:
    try:
        return load_config(path, os.environ)
    except ConfigError as exc:
        raise _UsageError("\n".join(f"{path}: {p}" for p in exc.problems)) from None


def _resolved(loaded: LoadedConfig, key: str, path: Path) -> Path:
    if key in loaded.unresolved_credentials:
        raise _UsageError(f"{key} is a credential but $CREDENTIALS_DIRECTORY is unset")
    return path


def _journal_path(args: argparse.Namespace, cfg: AgentConfig) -> Path:
    return Path(args.journal) if args.journal else cfg.journal.path


def _trusted_keys(
    args: argparse.Namespace, loaded: LoadedConfig
) -> dict[str, ed25519.Ed25519PublicKey]:
    keys = {}
    pubkeys = args.pubkey
    if not pubkeys:
        path = _resolved(loaded, "keys.signing_key", loaded.config.keys.signing_key)
        public = load_signing_key(path).public_key()
        keys[key_id(public)] = public
        pubkeys = retired_public_keys(path)  # keys that rotations retired: the older chain
    for path in pubkeys:
        try:
            loaded_key = serialization.load_pem_public_key(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise _UsageError(f"public key {path} cannot be read: {exc}") from None
        if not isinstance(loaded_key, ed25519.Ed25519PublicKey):
            raise _UsageError(f"public key {path} is not an Ed25519 key")
        keys[key_id(loaded_key)] = loaded_key
    return keys


def _cmd_stats(args: argparse.Namespace) -> int:
    cfg = _config(args.config).config
    with open_readonly(_journal_path(args, cfg), cfg.camera.id) as store:
        stats = store.stats(())
    if args.json:
        print(json.dumps(dataclasses.asdict(stats)))
        return EXIT_OK
    print(f"journal {stats.path}: {stats.file_bytes} bytes (quota {cfg.journal.quota_bytes})")
    for s in stats.streams:
        print(
            f"  {s.stream}: head seq {s.head_seq}, {s.records} records kept "
            f"(first seq {s.first_seq}), pending {s.pending}, published {s.published}, "
            f"confirmed {s.confirmed} (through {s.confirmed_through})"
        )
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    loaded = _config(args.config)
    cfg = loaded.config
    keys = _trusted_keys(args, loaded)
    seen: list[bytes] = []
    if args.checkpoints:
        try:
            seen = [line for line in Path(args.checkpoints).read_bytes().splitlines() if line]
        except OSError as exc:
            raise _UsageError(f"checkpoints {args.checkpoints}: {exc.strerror}") from None
    problems: list[Problem] = []
    summary = []
    with open_readonly(_journal_path(args, cfg), cfg.camera.id) as store:
        heads = store.heads()
        for stream in STREAMS if args.stream == "all" else (args.stream,):
            known, bad = checkpoints_from(seen, cfg.camera.id, stream, keys)
            verifier, found = verify_records(
                cfg.camera.id,
                stream,
                keys,
                (r.wire for r in store.iter_records(stream)),
                known_checkpoints=known,
                head=heads.get(stream),
            )
            for problem in [*bad, *found]:
                print(f"{stream}: {problem}")
            problems += bad + found
            summary.append(f"{stream} {verifier.verified} records through seq {verifier.last_seq}")
    if problems:
        print(f"journal verify: {len(problems)} problem(s)", file=sys.stderr)
        return EXIT_FAILED
    print(f"journal intact: {'; '.join(summary)}; keys {', '.join(sorted(keys))}")
    return EXIT_OK


def _cmd_keys_init(args: argparse.Namespace) -> int:
    loaded = _config(args.config)
    path = _resolved(loaded, "keys.signing_key", loaded.config.keys.signing_key)
    key = ed25519.Ed25519PrivateKey.generate()
    try:
        write_private_key(path, key)
    except FileExistsError:
        raise _UsageError(f"signing key {path} exists: refusing to replace it") from None
    except OSError as exc:
        raise _UsageError(f"signing key {path} cannot be created: {exc.strerror}") from None
    public = path.with_name(path.name + ".pub")
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    print(f"signing key {key_id(key.public_key())} written to {path} (0600); public key {public}")
    return EXIT_OK


def _cmd_keys_show(args: argparse.Namespace) -> int:
    loaded = _config(args.config)
    keys = loaded.config.keys
    sign = load_signing_key(_resolved(loaded, "keys.signing_key", keys.signing_key))
    print(f"signing key id {key_id(sign.public_key())} (Ed25519, {keys.signing_key})")
    seal = load_sealing_public_key(
        _resolved(loaded, "keys.sealing_public_key", keys.sealing_public_key)
    )
    print(f"sealing key sha256 {x25519_fingerprint(seal)} (X25519, {keys.sealing_public_key})")
    for name, uplink in (("police", loaded.config.police), ("civil", loaded.config.civil)):
        cert = load_certificates(_resolved(loaded, f"{name}.cert", uplink.cert))[0]
        print(
            f"{name} client cert sha256 {cert_fingerprint(cert)} "
            f"(expires {cert.not_valid_after_utc:%Y-%m-%d})"
        )
    return EXIT_OK


def _cmd_keys_rotate(args: argparse.Namespace) -> int:
    loaded = _config(args.config)
    _resolved(loaded, "keys.signing_key", loaded.config.keys.signing_key)
    _resolved(loaded, "keys.sealing_public_key", loaded.config.keys.sealing_public_key)
    done = rotate_signing_key(loaded.config)
    where = ", ".join(f"{stream} seq {seq}" for stream, seq in done.announced.items())
    print(
        f"signing key rotated: {done.old_kid} -> {done.new_kid}; announced in {where} "
        f"(signed by {done.old_kid}); old public key kept as {done.old_public}; "
        "start the agent again to sign with the new key"
    )
    return EXIT_OK


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            code = func(args)
        except (_UsageError, JournalError, JournalLockError, KeyFileError) as exc:
            for line in str(exc).splitlines():
                _err(line)
            return EXIT_USAGE
        return code

    return run


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``journal`` and ``keys`` command groups."""
    journal = sub.add_parser("journal", help="inspect and verify the local journal")
    actions = journal.add_subparsers(dest="journal_command", required=True, metavar="ACTION")
    stats = actions.add_parser("stats", help="records per stream and delivery state")
    verify = actions.add_parser(
        "verify", help="check signatures, chain, gaps, truncation (exit 1 on problems)"
    )
    for parser in (stats, verify):
        parser.add_argument("--config", type=Path, required=True, metavar="FILE")
        parser.add_argument("--journal", metavar="PATH", help="journal file (default: config's)")
    stats.add_argument("--json", action="store_true", help="one JSON object")
    stats.set_defaults(func=_guarded(_cmd_stats))
    verify.add_argument(
        "--pubkey",
        action="append",
        metavar="FILE",
        help="trusted Ed25519 public key (PEM); repeatable; default: the config's signing key",
    )
    verify.add_argument(
        "--checkpoints",
        metavar="FILE",
        help="checkpoint records seen earlier (one per line), to detect truncation and rollback",
    )
    verify.add_argument("--stream", choices=(*STREAMS, "all"), default="all")
    verify.set_defaults(func=_guarded(_cmd_verify))

    keys = sub.add_parser("keys", help="the device signing key and key fingerprints")
    key_actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    init = key_actions.add_parser("init", help="create the Ed25519 signing key (0600)")
    show = key_actions.add_parser("show", help="key ids and fingerprints")
    rotate = key_actions.add_parser(
        "rotate", help="new signing key, announced in the journal under the old one (agent stopped)"
    )
    for parser in (init, show, rotate):
        parser.add_argument("--config", type=Path, required=True, metavar="FILE")
    init.set_defaults(func=_guarded(_cmd_keys_init))
    show.set_defaults(func=_guarded(_cmd_keys_show))
    rotate.set_defaults(func=_guarded(_cmd_keys_rotate))
