"""What a SIGHUP may change while the agent runs, and what needs a restart.

Pure: compares two validated configurations. Safe to change live: the log
level, the certificate warning horizon, recognition thresholds, the broker
lists (used from the next connection attempt) and the CRLs (an uplink whose CRL
changed reconnects, so the broker's certificate is checked against it at once).
Everything else — identity, keys, journal, topics, counts windows and k,
models — needs a restart, because changing it under a running chain, counter
or connection would mix two configurations in one stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.config.schema import AgentConfig

__all__ = ["SAFE_KEYS", "ReloadPlan", "plan_reload"]

SAFE_KEYS = frozenset(
    {
        "service.log_level",
        "service.cert_warn_days",
        "recognition.detect_threshold",
        "recognition.read_threshold",
        "recognition.min_plate_width",
        "recognition.pass_timeout_s",
        "police.brokers",
        "civil.brokers",
        "police.crl",
        "civil.crl",
    }
)


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """The configuration to run with after a reload, and what changed."""

    config: AgentConfig
    applied: tuple[str, ...]
    refused: tuple[str, ...]


def _flatten(tree: dict[str, object], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def plan_reload(running: AgentConfig, new: AgentConfig) -> ReloadPlan:
    """Keep ``running`` but take the safe changes from ``new``."""
    old_flat, new_flat = _flatten(running.model_dump()), _flatten(new.model_dump())
    changed = sorted(
        k for k in old_flat.keys() | new_flat.keys() if old_flat.get(k) != new_flat.get(k)
    )
    applied = tuple(k for k in changed if k in SAFE_KEYS)
    refused = tuple(k for k in changed if k not in SAFE_KEYS)
    sections: dict[str, dict[str, object]] = {}
    for key in applied:
        section, field = key.split(".", 1)
        sections.setdefault(section, {})[field] = getattr(getattr(new, section), field)
    updates = {
        section: getattr(running, section).model_copy(update=fields)
        for section, fields in sections.items()
    }
    config = running.model_copy(update=updates) if updates else running
    return ReloadPlan(config, applied, refused)
