"""The civil flux: anonymous, disclosure-controlled counts per wall-clock window.

Three pure-ish pieces, used in this order:

* :class:`WindowCounter` reduces each vehicle pass (a
  :class:`agent.core.events.PlateRead`, or an :class:`~agent.core.events.UnreadPass`
  whose plate was not read) to coarse labels (lane, direction, country group)
  and a window index,
  and emits each closed window once, as a raw :class:`CountWindow`;
* :func:`protect` applies disclosure control to one window's table (no
  published or derivable figure is 1..k-1);
* :func:`civil_message` turns a window into the civil message body (it calls
  :func:`protect`; it is the only way from counts to the civil side).

Nothing here logs, and nothing here keeps a plate, a hash of one, a crop, or
a pass time finer than the window.
"""

from agent.civil.counts._cells import OTHER, UNKNOWN, CellKey, Json, cell_key
from agent.civil.counts._counter import STATE_VERSION, CountWindow, Coverage, WindowCounter
from agent.civil.counts._disclosure import ProtectedTable, protect
from agent.civil.counts._message import SCHEMA, civil_message, message_id

__all__ = [
    "OTHER",
    "SCHEMA",
    "STATE_VERSION",
    "UNKNOWN",
    "CellKey",
    "CountWindow",
    "Coverage",
    "Json",
    "ProtectedTable",
    "WindowCounter",
    "cell_key",
    "civil_message",
    "message_id",
    "protect",
]
