"""The uplink's side of wire contract v1: topics, the status body, back-office control messages.

Pure functions, no I/O. What an uplink publishes about itself (the retained
``status``) and how it reads what a back office sends it (``ack`` and
``replay``), validated completely before anything in the journal changes.
``docs/PROTOCOL.md`` is the contract.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent import __version__
from agent.core.canonical import canonical

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MAX_CONTROL_BYTES",
    "MAX_INBOUND_PACKET",
    "MAX_REPLAY",
    "Ack",
    "Replay",
    "parse_control",
    "status_body",
    "topics",
]

MAX_REPLAY = 10_000  # records one replay request may ask for
# A valid ack or replay is under 100 bytes. Anything longer is refused before it is
# parsed: a deep nesting of brackets would otherwise reach the JSON parser's recursion.
MAX_CONTROL_BYTES = 512
# MQTT 5 Maximum Packet Size the uplink announces in CONNECT: the broker drops any
# packet for us above it (control messages, acks) instead of delivering it.
MAX_INBOUND_PACKET = 4096


def topics(prefix: str, camera_id: str, leaf: str) -> dict[str, str]:
    """The topics of one camera's flux: ``leaf`` is where its records go."""
    base = f"{prefix}/{camera_id}"
    return {
        "records": f"{base}/{leaf}",
        "status": f"{base}/status",
        "descriptor": f"{base}/descriptor",
        "ack": f"{base}/ack",
        "replay": f"{base}/replay",
    }


@dataclass(frozen=True, slots=True)
class Ack:
    """The back office holds every record of the stream up to ``through``."""

    through: int


@dataclass(frozen=True, slots=True)
class Replay:
    """The back office asks for records ``first``..``last`` again (a gap it saw)."""

    first: int
    last: int


def parse_control(
    topic: str, payload: bytes | bytearray, *, stream: str, topic_map: Mapping[str, str]
) -> Ack | Replay:
    """Read one back-office message; ValueError (or UnicodeDecodeError) when it is not valid.

    The size is checked before anything is parsed (:data:`MAX_CONTROL_BYTES`).
    """
    if len(payload) > MAX_CONTROL_BYTES:
        msg = f"{len(payload)} bytes, more than the {MAX_CONTROL_BYTES} a control message may have"
        raise ValueError(msg)
    body = json.loads(payload)
    if not isinstance(body, dict) or body.get("stream") != stream:
        msg = f"not a message for stream {stream!r}"
        raise ValueError(msg)
    if topic == topic_map["ack"]:
        through = body.get("confirmed_through")
        if not isinstance(through, int) or isinstance(through, bool) or through < 0:
            raise ValueError("confirmed_through must be a non-negative integer")
        return Ack(through)
    if topic == topic_map["replay"]:
        first, last = body.get("from"), body.get("to")
        if (
            not isinstance(first, int)
            or not isinstance(last, int)
            or isinstance(first, bool)
            or isinstance(last, bool)
        ):
            raise ValueError("replay needs integer 'from' and 'to'")
        if first < 1 or last < first or last - first >= MAX_REPLAY:
            msg = f"replay range {first}..{last} out of bounds (1..{MAX_REPLAY} records)"
            raise ValueError(msg)
        return Replay(first, last)
    msg = f"unexpected topic {topic!r}"
    raise ValueError(msg)


def status_body(  # noqa: PLR0913 - one argument per contract field
    state: str,
    *,
    camera: str,
    ts_ms: int,
    boot: str,
    stream: Mapping[str, object] | None = None,
    extra: Mapping[str, object] | None = None,
) -> bytes:
    """The retained status: ``online`` carries the stream's figures, ``offline`` (LWT) not.

    ``extra`` (the service's health figures) never overrides a contract field.
    """
    body: dict[str, object] = {
        "v": 1,
        "camera": camera,
        "state": state,
        "ts": ts_ms,
        "software": f"anpr-edge {__version__}",
        "boot": boot,
    }
    if stream is not None:
        body.update(stream)
    if extra is not None:
        body.update({k: v for k, v in extra.items() if k not in body})
    return canonical(body)
