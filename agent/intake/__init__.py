"""Reads from cameras that read plates on board: their events, mapped by config, made ours.

- :class:`EventSource` — an HTTPS listener (client certificate and/or bearer
  token) that is a read source like the recognition pipeline: each accepted
  event becomes the same :class:`~agent.core.events.PlateRead` our models
  make and goes to the service's intake (journal, police uplink, counts);
- :class:`Mapping` / :func:`resolve_mapping` — a vendor's event format as a
  small TOML file (field paths, time format, confidence scale, image); the
  shipped presets in ``presets/`` are such files, each naming its source;
- :func:`event_read` — one event body to a read, or the reason it is refused
  (``anpr-agent check-intake`` and the listener share it).

May import: ``core``, ``config`` and ``security`` only. The syntax check the
recognition package owns comes in as a callable (:class:`Fit`) from whoever
wires the intake (the service, the CLI), so this package needs no models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.intake._dedupe import Dedupe
from agent.intake._event import EventLimits, EventRead, Fit, ignored, no_fit, parse_time, to_read
from agent.intake._mapping import (
    PRESET_PREFIX,
    Mapping,
    MappingError,
    load_mapping,
    load_preset,
    parse_path,
    preset_names,
    resolve_mapping,
)
from agent.intake._payload import BadEventError, Document, parse_body, safe_xml
from agent.intake._server import EventSource, IntakeError, ReadSink, read_token, server_context

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

    from agent.config.schema import AgentConfig
    from agent.core.clock import Clock

__all__ = [
    "PRESET_PREFIX",
    "BadEventError",
    "Dedupe",
    "Document",
    "EventLimits",
    "EventRead",
    "EventSource",
    "Fit",
    "IntakeError",
    "Mapping",
    "MappingError",
    "ReadSink",
    "build_event_source",
    "event_read",
    "ignored",
    "load_mapping",
    "load_preset",
    "no_fit",
    "parse_body",
    "parse_path",
    "parse_time",
    "preset_names",
    "read_token",
    "resolve_mapping",
    "safe_xml",
    "server_context",
    "to_read",
]


def event_read(  # noqa: PLR0913 - one event, its format and the intake's limits
    body: bytes,
    content_type: str,
    mapping: Mapping,
    *,
    fit: Fit,
    limits: EventLimits,
    now_ms: int,
) -> EventRead | None:
    """One event body to the read it makes (None: not a read event); :class:`BadEventError`."""
    return to_read(
        parse_body(body, content_type, mapping), mapping, fit=fit, limits=limits, now_ms=now_ms
    )


def build_event_source(
    config: AgentConfig,
    *,
    fit: Fit,
    clock: Clock,
    registry: CollectorRegistry | None = None,
) -> EventSource:
    """The listener a config's ``[intake]`` describes; :class:`IntakeError` (one line) if not."""
    intake = config.intake
    if intake is None:
        raise IntakeError("camera.source 'events:' needs an [intake] section")
    try:
        mapping = resolve_mapping(intake.preset, intake.mapping)
    except MappingError as exc:
        raise IntakeError("; ".join(exc.problems)) from None
    return EventSource(
        intake,
        mapping,
        fit=fit,
        clock=clock,
        lanes=config.camera.lanes,
        token=read_token(intake),
        context=server_context(intake),
        registry=registry,
    )
