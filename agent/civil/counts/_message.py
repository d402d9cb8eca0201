"""The civil message body for one window: a plain dict, ready for canonical JSON.

The only path from a :class:`CountWindow` to anything the civil side sees; it
always goes through :func:`agent.counts.protect`. The format is specified,
with a JSON Schema and an example, in ``docs/PROTOCOL.md`` (civil counts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.civil.counts._cells import Json
from agent.civil.counts._disclosure import protect

if TYPE_CHECKING:
    from agent.civil.counts._counter import CountWindow
    from agent.config.schema import CountsConfig

__all__ = ["SCHEMA", "civil_message", "message_id"]

SCHEMA = "anpr-edge/civil-counts/1"


def message_id(camera_id: str, window_start: int) -> str:
    """The stable id of a window's message, the same on every replay: ``{camera}/{start}``."""
    return f"{camera_id}/{window_start}"


def civil_message(window: CountWindow, config: CountsConfig, camera_id: str) -> dict[str, Json]:
    """The civil body for ``window``: disclosure-controlled counts plus who, when and why.

    Ints and strings only. ``total`` and ``late`` are absent (and named in
    ``withheld``) when they are 1..k-1; with the total withheld, ``marginals``
    is ``{}`` and ``cells`` and ``suppressed`` are empty.
    """
    k = config.k
    table = protect(dict(window.cells), config.dimensions, k)
    dims = list(table.dimensions)
    withheld: list[str] = []
    body: dict[str, Json] = {
        "schema": SCHEMA,
        "id": message_id(camera_id, window.start),
        "camera": camera_id,
        "window_start": window.start,
        "window_end": window.end,
        "coverage": window.coverage,
        "purpose": config.purpose,
        "legal_basis": config.legal_basis,
        "k": k,
        "noise": "none",
        "dimensions": list[Json](dims),
    }
    if table.total is None:
        withheld.append("total")
        body["marginals"] = {}
    else:
        body["total"] = table.total
        body["marginals"] = {dim: dict[str, Json](table.marginals[d]) for d, dim in enumerate(dims)}
    if window.late == 0 or window.late >= k:
        body["late"] = window.late
    else:
        withheld.append("late")
    cells: list[Json] = []
    for key, count in table.cells:
        cell: dict[str, Json] = dict(zip(dims, key, strict=True))
        cell["count"] = count
        cells.append(cell)
    body["cells"] = cells
    body["suppressed"] = [dict[str, Json](zip(dims, key, strict=True)) for key in table.suppressed]
    body["withheld"] = list[Json](withheld)
    return body
