"""From a read to a count cell: the only attributes of a pass the civil side may see.

Every label that can leave this module comes from a closed vocabulary (the
configured country groups, fixed direction names, lane numbers): nothing a
camera reads off a plate can travel in a label. A pass whose plate was not
read (:class:`~agent.core.events.UnreadPass`) counts all the same, with the
country group ``unknown``. There is no vehicle-class dimension: nothing in the
agent measures the class yet, and a dimension that is always ``unknown`` would
only suggest that it does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from agent.core.events import UnreadPass

if TYPE_CHECKING:
    from agent.config.schema import CountsConfig
    from agent.core.events import PlateRead

__all__ = [
    "OTHER",
    "UNKNOWN",
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
"""The attribute was not determined for this pass (no lane zone, no direction, no read)."""

_MAX_LANE = 8  # CameraConfig.lanes is at most 8


def _lane(lane: int | None) -> str:
    if lane is None:
        return UNKNOWN
    return str(lane) if 1 <= lane <= _MAX_LANE else OTHER


def _direction(direction: str | None) -> str:
    if direction is None:
        return UNKNOWN
    return direction if direction in {"approaching", "receding"} else OTHER


def _country_group(read: PlateRead | UnreadPass, groups: tuple[str, ...]) -> str:
    if isinstance(read, UnreadPass):
        return UNKNOWN  # no plate read: no country either
    # A read whose syntax fit no country and an unlisted country are the same to a
    # city: not one of its groups.
    return read.country if read.country is not None and read.country in groups else OTHER


def cell_key(read: PlateRead | UnreadPass, config: CountsConfig) -> CellKey:
    """The coarse, non-identifying labels of one pass, one per configured dimension."""
    labels = {
        "lane": _lane(read.lane),
        "direction": _direction(read.direction),
        "country_group": _country_group(read, config.country_groups),
    }
    return tuple(labels[d] for d in config.dimensions)


def window_index(wall_ms: int, window_s: int) -> int:
    """The wall-clock window a time falls in: windows are ``[i*window_s, (i+1)*window_s)``."""
    return wall_ms // (window_s * 1000)
