"""Several agents on one box (one per camera): what their configurations must not share.

Each camera is its own agent (``anpr-agent@CAMERA.service``) with its own
identity, journal and metrics port. Two agents on one journal would fork its
chain (the lock refuses the second, but only at run time); two with one camera
id, signing key or client identity would be one camera to the back office and
the brokers (the broker drops one of two sessions with the same client id);
two on one metrics port would leave one without metrics. Pure: compares loaded
configurations, touches no file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from agent.config.load import LoadedConfig

__all__ = ["shared_on_one_box"]


def _paths(loaded: LoadedConfig) -> dict[str, Path]:
    """The files that make up an agent's identity and state, by config key.

    Keys still naming an unresolved ``credential:`` are left out: each
    instance's ``$CREDENTIALS_DIRECTORY`` is its own, so equal names are not
    equal files.
    """
    cfg = loaded.config
    paths = {
        "keys.signing_key": cfg.keys.signing_key,
        "police.cert": cfg.police.cert,
        "police.key": cfg.police.key,
        "civil.cert": cfg.civil.cert,
        "civil.key": cfg.civil.key,
    }
    return {k: v for k, v in paths.items() if k not in loaded.unresolved_credentials}


def shared_on_one_box(configs: Sequence[tuple[str, LoadedConfig]]) -> list[str]:
    """One line per thing two of the named configurations share (empty when none)."""
    problems: list[str] = []
    seen: dict[tuple[str, str], str] = {}  # (what, value) -> the first config that has it

    def claim(name: str, what: str, value: str) -> None:
        first = seen.setdefault((what, value), name)
        if first != name:
            problems.append(f"{name}: {what} {value} is also {first}'s: one per camera")

    for name, loaded in configs:
        cfg = loaded.config
        claim(name, "journal.path", str(cfg.journal.path.resolve()))
        claim(name, "camera.id", cfg.camera.id)
        port = cfg.service.metrics_address.rpartition(":")[2]
        claim(name, "service.metrics_address port", port)
        for key, path in _paths(loaded).items():
            claim(name, "identity file", f"{path.resolve()} ({key})")
    return problems
