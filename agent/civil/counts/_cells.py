"""From a read to a count cell: the only attributes of a pass the civil side may see.

Every label that can leave this module comes from a closed vocabulary (the
configured country groups, fixed direction and vehicle-class names, lane
numbers): nothing a camera reads off a plate can travel in a label.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from agent.config.schema import CountsConfig
    from agent.core.events import PlateRead

__all__ = [
    "OTHER",
    "UNKNOWN",
    "VEHICLE_CLASSES",
    "CellKey",
    "Json",
    "cell_key",
    "window_index",
]

Json: TypeAlias = int | str | list["Json"] | dict[str, "Json"]
"""What the counter puts in its state and messages: canonical-JSON values, never floats."""

CellKey = tuple[str, ...]
"""One label per configured dimension, in the order of ``CountsConfig.dimensions``."""

OTHER = "other"
"""Everything not shown by name: unlisted countries, and categories folded for disclosure."""

UNKNOWN = "unknown"
"""The attribute was not determined for this pass (no lane zone, no direction, no class)."""

VEHICLE_CLASSES = ("bus", "car", "motorcycle", "truck", "van")
"""Vehicle classes counted by name; any other class a model reports counts as ``other``."""

_MAX_LANE = 8  # CameraConfig.lanes is at most 8


def _lane(lane: int | None) -> str:
    if lane is None:
        return UNKNOWN
    return str(lane) if 1 <= lane <= _MAX_LANE else OTHER


def _direction(direction: str | None) -> str:
    if direction is None:
        return UNKNOWN
    return direction if direction in {"approaching", "receding"} else OTHER


def _country_group(country: str | None, groups: tuple[str, ...]) -> str:
    # An unread country and an unlisted one are the same to a city: not one of its groups.
    return country if country is not None and country in groups else OTHER


def _vehicle_class(vehicle_class: str | None) -> str:
    if vehicle_class is None:
        return UNKNOWN
    return vehicle_class if vehicle_class in VEHICLE_CLASSES else OTHER


def cell_key(read: PlateRead, config: CountsConfig) -> CellKey:
    """The coarse, non-identifying labels of one pass, one per configured dimension."""
    labels = {
        "lane": _lane(read.lane),
        "direction": _direction(read.direction),
        "country_group": _country_group(read.country, config.country_groups),
        "vehicle_class": _vehicle_class(read.vehicle_class),
    }
    return tuple(labels[d] for d in config.dimensions)


def window_index(wall_ms: int, window_s: int) -> int:
    """The wall-clock window a time falls in: windows are ``[i*window_s, (i+1)*window_s)``."""
    return wall_ms // (window_s * 1000)
