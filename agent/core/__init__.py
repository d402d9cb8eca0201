"""The agent's shared vocabulary: canonical JSON, the clock seam, stage data, alarms, geometry.

Owns what every stage speaks: ``canonical`` (the byte form that is signed),
``clock`` (wall and monotonic time behind one seam), ``events`` (``Frame``,
``PlateBox``, ``PlateText``, ``PlateRead``; their ``repr`` hides plate text),
``alarms`` (the alarm board) and ``geometry`` (boxes and their overlap).

May import: nothing else under ``agent`` (the standard library, numpy).
"""
