"""One vendor event -> the same :class:`~agent.core.events.PlateRead` our own pipeline makes.

Refusals are :class:`BadEventError` with a status (400 malformed, 422 a
well-formed event that is not a usable read) and a reason that never quotes a
plate. The plate text goes through the same syntax fit as our reader's (the
``fit`` callable the service hands in), so a journaled read looks the same
whichever kind of camera made it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from agent.core.events import PlateRead
from agent.intake._crop import reencode
from agent.intake._payload import BadEventError

if TYPE_CHECKING:
    from collections.abc import Mapping as Mapping_

    from agent.intake._mapping import Mapping, TimeSpec
    from agent.intake._payload import Document, Value

__all__ = ["EventLimits", "EventRead", "Fit", "ignored", "no_fit", "parse_time", "to_read"]

_SEPARATORS = re.compile(r"[\s\-.·_]")
_PLAIN = re.compile(r"^[A-Z0-9]{1,12}$")
_COUNTRY = re.compile(r"^[A-Z]{1,3}$")
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
_DIRECTIONS = ("approaching", "receding")
_CLASSES = ("car", "van", "truck", "bus", "motorcycle")
_MAX_ID = 200


class Fit(Protocol):
    """The syntax check: plate text and the camera's country -> (text, country)."""

    def __call__(self, text: str, country: str | None) -> tuple[str, str | None]: ...


def no_fit(text: str, country: str | None) -> tuple[str, str | None]:
    """A fit that changes nothing (tools that run without the configured syntaxes)."""
    return text, country


@dataclass(frozen=True, slots=True)
class EventLimits:
    """What the intake accepts besides the mapping."""

    lanes: int = 1
    crop_max_side: int = 480
    crop_max_bytes: int = 65_536
    max_skew_s: float = 300.0  # a pass time this far in the future is a clock fault
    max_age_s: float = 86_400.0  # and this far in the past, not a read to journal now


@dataclass(frozen=True, slots=True)
class EventRead:
    """A read made from an event, with the vendor's event id (for resends)."""

    read: PlateRead
    event_id: str | None


def _text(value: Value) -> str | None:
    if value is None or isinstance(value, list | dict):
        return None
    text = str(value).strip()
    return text or None


def _plate(doc: Document, mapping: Mapping) -> str:
    raw = _text(doc.get(mapping.fields.plate))
    if raw is None or raw in mapping.no_plate_values:
        raise BadEventError(422, f"no plate in the event (fields.plate = {mapping.fields.plate})")
    plate = _SEPARATORS.sub("", raw).upper()
    if not _PLAIN.match(plate):
        raise BadEventError(
            422, "plate text must be 1-12 of A-Z 0-9 once spaces, dashes and dots are removed"
        )
    return plate


def _number(value: Value, what: str) -> float | None:
    text = _text(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        raise BadEventError(422, f"{what} is not a number") from None
    if number != number or number in {float("inf"), float("-inf")}:  # noqa: PLR0124 - NaN
        raise BadEventError(422, f"{what} is not a finite number")
    return number


def _confidence(doc: Document, mapping: Mapping, length: int) -> tuple[int, ...]:
    scale = mapping.confidence_scale
    if mapping.fields.char_confidence is not None:
        value = doc.get(mapping.fields.char_confidence)
        items: list[object] = []
        if isinstance(value, list):
            items = value
        elif isinstance(value, str) and value.strip():
            items = [v for v in re.split(r"[,;\s]+", value.strip()) if v]
        if items and len(items) == length:
            chars = [_number(v, "char_confidence") for v in items]  # type: ignore[arg-type]
            return tuple(_permille(c / scale if c is not None else 0.0) for c in chars)
    if mapping.fields.confidence is not None:
        overall = _number(doc.get(mapping.fields.confidence), "confidence")
        if overall is not None:
            return (_permille(overall / scale),) * length
    # No confidence from the camera: its read is taken as it came (it filtered already).
    return (1000,) * length


def _permille(value: float) -> int:
    if not 0.0 <= value <= 1.0:
        raise BadEventError(422, "confidence outside 0..confidence_scale")
    return round(value * 1000)


def _zone(spec: TimeSpec) -> dt.tzinfo:
    if spec.timezone == "UTC":
        return dt.UTC
    sign = -1 if spec.timezone[0] == "-" else 1
    hours, minutes = int(spec.timezone[1:3]), int(spec.timezone[4:6])
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def parse_time(value: Value, spec: TimeSpec) -> int:
    """A pass time in ms since the epoch; :class:`BadEventError` (422) when unreadable."""
    text = _text(value)
    if text is None:
        raise BadEventError(422, "no pass time in the event")
    try:
        if spec.format == "epoch_s":
            return round(float(text) * 1000)
        if spec.format == "epoch_ms":
            return round(float(text))
        if spec.format == "iso8601":
            stamp = dt.datetime.fromisoformat(_LONG_FRACTION.sub(r"\1", text))
        else:
            stamp = dt.datetime.strptime(text, spec.format)  # noqa: DTZ007 - zone added below
    except ValueError:
        raise BadEventError(422, f"pass time is not {spec.format}") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=_zone(spec))
    return round(stamp.timestamp() * 1000)


def _image(doc: Document, mapping: Mapping, limits: EventLimits) -> bytes:
    data: bytes | None = None
    if mapping.image.part is not None:
        data = doc.parts.get(mapping.image.part)
    elif mapping.fields.image is not None:
        text = _text(doc.get(mapping.fields.image))
        if text is not None:
            text = text.split(",", 1)[1] if text.startswith("data:") else text
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise BadEventError(422, "image: not valid base64") from None
    if not data:
        return b""
    return reencode(data, limits.crop_max_side, limits.crop_max_bytes)


def _lane(value: Value, lanes: int) -> int | None:
    text = _text(value)
    if text is None or not text.isdigit():
        return None
    lane = int(text)
    return lane if 1 <= lane <= lanes else None


def ignored(doc: Document, mapping: Mapping) -> str | None:
    """Why an event is not a read at all (``only_when``), or None when it is one."""
    for path, want in mapping.only_when.items():
        if _text(doc.get(path)) != want:
            return f"not a read event ({path} is not {want!r})"
    return None


def _mapped(
    doc: Document, path: str | None, values: Mapping_[str, str], allowed: tuple[str, ...]
) -> str | None:
    raw = _text(doc.get(path)) if path is not None else None
    if raw is None:
        return None
    return values.get(raw, raw if raw in allowed else None)


def _country(doc: Document, mapping: Mapping) -> str | None:
    raw = _text(doc.get(mapping.fields.country)) if mapping.fields.country is not None else None
    if raw is None:
        return None
    mapped = mapping.country_values.get(raw, raw.upper())
    return mapped if _COUNTRY.match(mapped) else None


def _pass_ms(doc: Document, mapping: Mapping, limits: EventLimits, now_ms: int) -> int:
    path = mapping.fields.time
    wall_ms = now_ms if path is None else parse_time(doc.get(path), mapping.time)
    if wall_ms - now_ms > limits.max_skew_s * 1000:
        raise BadEventError(
            422, f"pass time {(wall_ms - now_ms) / 1000:.0f} s in the future (clock fault?)"
        )
    if now_ms - wall_ms > limits.max_age_s * 1000:
        raise BadEventError(422, f"pass time older than {limits.max_age_s:g} s")
    return wall_ms


def to_read(
    doc: Document, mapping: Mapping, *, fit: Fit, limits: EventLimits, now_ms: int
) -> EventRead | None:
    """Make the read an event describes (None: not a read, see ``only_when``).

    Refuses it with :class:`BadEventError` when it should be a read and is not usable.
    """
    if mapping.root is not None and doc.root != mapping.root:
        raise BadEventError(422, f"XML root <{doc.root}> is not <{mapping.root}>")
    if ignored(doc, mapping) is not None:
        return None
    fields = mapping.fields
    text, country = fit(_plate(doc, mapping), _country(doc, mapping))
    event_id = _text(doc.get(fields.event_id)) if fields.event_id is not None else None
    if event_id is not None and len(event_id) > _MAX_ID:
        raise BadEventError(422, f"event id longer than {_MAX_ID} characters")
    read = PlateRead(
        text=text,
        char_conf=_confidence(doc, mapping, len(text)),
        country=country,
        lane=_lane(doc.get(fields.lane), limits.lanes) if fields.lane is not None else None,
        direction=_mapped(doc, fields.direction, mapping.direction_values, _DIRECTIONS),  # type: ignore[arg-type]
        vehicle_class=_mapped(doc, fields.vehicle_class, mapping.class_values, _CLASSES),
        wall_ms=_pass_ms(doc, mapping, limits, now_ms),
        frames=1,
        crop_jpeg=_image(doc, mapping, limits),
    )
    return EventRead(read, event_id)
