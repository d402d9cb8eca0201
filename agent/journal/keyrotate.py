"""``anpr-agent keys rotate``: a new signing key, announced in the chain under the old one.

Steps, each safe to repeat after a crash:

1. the new Ed25519 key is written next to the current one as ``<key>.new``
   (0600, fsynced), or taken from there when a previous run stopped midway;
2. each stream gets a ``key`` record, signed by the *old* key: ``new_kid``,
   ``new_key`` (raw public key, base64) and ``retires`` (the old kid). A
   verifier that trusts the old key now trusts the new one for later records,
   and no longer the old one;
3. the old public key is kept as ``<key>.<old kid>.pub`` (``journal verify``
   trusts these by default, so the older part of the chain still verifies),
   and ``<key>.new`` replaces ``<key>``; ``<key>.pub`` becomes the new public key.

The agent must be stopped (its journal lock is taken): two writers would
fork the chain. Under systemd, run it on the credential's source file, e.g.
``CREDENTIALS_DIRECTORY=/etc/anpr-agent/credentials anpr-agent keys rotate …``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent.core.canonical import b64
from agent.core.clock import SystemClock
from agent.journal.lock import JournalLock
from agent.journal.records import STREAMS, parse_record
from agent.journal.store import Journal
from agent.security.crypto import Sealer, Signer, key_id
from agent.security.keyfiles import (
    load_sealing_public_key,
    load_signing_key,
    write_private_key,
)

if TYPE_CHECKING:
    from pathlib import Path

    from agent.config.schema import AgentConfig
    from agent.core.clock import Clock

__all__ = ["Rotation", "retired_public_keys", "rotate_signing_key"]


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a rotation did."""

    old_kid: str
    new_kid: str
    announced: dict[str, int]  # stream -> seq of its key record
    old_public: Path


def _public_pem(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def retired_public_keys(signing_key: Path) -> list[Path]:
    """Public keys that earlier rotations retired (``<key>.<kid>.pub``), oldest name first."""
    return sorted(signing_key.parent.glob(f"{signing_key.name}.*.pub"))


def rotate_signing_key(cfg: AgentConfig, clock: Clock | None = None) -> Rotation:
    """Rotate the journal signing key of ``cfg`` (the agent must be stopped).

    Raises :class:`~agent.journallock.JournalLockError`,
    :class:`~agent.keyfiles.KeyFileError` or :class:`~agent.journal.JournalError`.
    """
    path = cfg.keys.signing_key
    staged = path.with_name(path.name + ".new")
    with JournalLock(cfg.journal.path):
        old = load_signing_key(path)
        if staged.exists():  # a previous rotation stopped midway: finish it
            new = load_signing_key(staged)
        else:
            new = ed25519.Ed25519PrivateKey.generate()
            write_private_key(staged, new, durable=True)
        old_kid, new_kid = key_id(old.public_key()), key_id(new.public_key())
        announcement: dict[str, object] = {
            "new_kid": new_kid,
            "new_key": b64(
                new.public_key().public_bytes(
                    serialization.Encoding.Raw, serialization.PublicFormat.Raw
                )
            ),
            "retires": old_kid,
        }
        journal = Journal(
            cfg.journal.path,
            camera=cfg.camera.id,
            signer=Signer(old),
            sealer=Sealer(load_sealing_public_key(cfg.keys.sealing_public_key)),
            config=cfg.journal,
            clock=clock or SystemClock(),
            counts_grain_s=cfg.counts.window_s,
        )
        announced: dict[str, int] = {}
        try:
            for stream in STREAMS:
                announced[stream] = _announce(journal, stream, announcement)
        finally:
            journal.close()
        old_public = path.with_name(f"{path.name}.{old_kid}.pub")
        old_public.write_bytes(_public_pem(old.public_key()))
        staged.replace(path)
        path.with_name(path.name + ".pub").write_bytes(_public_pem(new.public_key()))
        _fsync_dir(path.parent)
    return Rotation(old_kid, new_kid, announced, old_public)


def _announce(journal: Journal, stream: str, announcement: dict[str, object]) -> int:
    """Append the key record unless this stream already announced this key (a rerun)."""
    wire = journal.last_key_record(stream)
    if wire is not None:
        last = parse_record(wire)
        if last.text("new_kid") == announcement["new_kid"]:
            return last.seq
    return journal.submit_key(stream, announcement).result()
