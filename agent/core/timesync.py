"""How far the wall clock can be trusted: the kernel's sync state and the steps it took.

Every read is stamped with the edge box's wall clock (``ts``, ``pass_ms``), so
evidence is only as good as that clock. Two things say how good it is:

- the kernel's NTP state (Linux ``adjtimex`` with ``modes = 0``, read-only):
  synchronised or not (``TIME_ERROR``, returned while ``STA_UNSYNC`` is set,
  i.e. no time daemon disciplines the clock) and ``maxerror``, the kernel's
  bound on the clock's error in microseconds (the time daemon sets it, the
  kernel grows it by 500 µs/s while nobody does);
- steps: the wall clock jumping against the monotonic clock (a time daemon's
  step, an operator's ``date -s``), seen as a change of ``wall - monotonic``
  larger than a bound between two samples.

:class:`TimeWatch` samples both (the service's main loop once a second, and
every read), keeps the alarms, and hands each read a :class:`ClockReading`
that goes into the record's signed body. The kernel call is a seam
(:class:`KernelClock`): tests give a fake, :class:`AdjtimexClock` is the real one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from agent.core.alarms import Alarms

if TYPE_CHECKING:
    from agent.core.clock import Clock

__all__ = [
    "TIME_ERROR",
    "AdjtimexClock",
    "ClockReading",
    "KernelClock",
    "KernelTime",
    "TimeWatch",
]

TIME_ERROR = 5  # adjtimex's return value while the clock is not synchronised
_STEP_ALARM_HOLD_S = 3600.0  # a step stays an alarm this long after it was seen


@dataclass(frozen=True, slots=True)
class KernelTime:
    """What ``adjtimex`` says: its return value (the clock state), ``maxerror`` and ``esterror``."""

    state: int  # TIME_OK (0) .. TIME_ERROR (5)
    maxerror_us: int
    esterror_us: int

    @property
    def synced(self) -> bool:
        """True unless the kernel reports ``TIME_ERROR`` (no time daemon disciplines the clock)."""
        return self.state != TIME_ERROR


class KernelClock(Protocol):
    """The seam for the kernel's clock state."""

    def read(self) -> KernelTime:
        """The state now; :class:`OSError` when the kernel refuses (e.g. a seccomp filter)."""
        ...


class _Timeval(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long))


class _Timex(ctypes.Structure):
    """Linux ``struct timex`` (glibc ``<sys/timex.h>``)."""

    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    )


class AdjtimexClock:
    """The real kernel state: libc ``adjtimex`` with ``modes = 0`` (reads, never sets)."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._adjtimex = self._libc.adjtimex
        self._adjtimex.argtypes = (ctypes.POINTER(_Timex),)
        self._adjtimex.restype = ctypes.c_int

    def read(self) -> KernelTime:
        """The kernel's clock state now."""
        timex = _Timex()  # modes = 0: read only, needs no privilege
        state = self._adjtimex(ctypes.byref(timex))
        if state < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
        return KernelTime(state, int(timex.maxerror), int(timex.esterror))


@dataclass(frozen=True, slots=True)
class ClockReading:
    """The clock's state at one read, as the record's ``clock`` field carries it.

    ``synced`` and ``maxerror_us`` are ``None`` when the kernel state could not
    be read; ``step_ms`` is the largest wall-clock step (signed, ms) above the
    bound seen since the previous read, 0 when none.
    """

    synced: bool | None
    maxerror_us: int | None
    step_ms: int = 0

    def fields(self) -> dict[str, object]:
        """The record's ``clock`` object (canonical JSON: no floats)."""
        return {"synced": self.synced, "maxerror_us": self.maxerror_us, "step_ms": self.step_ms}


class TimeWatch:
    """Samples the clock; raises and clears the clock alarms; stamps reads. Thread-safe."""

    def __init__(self, kernel: KernelClock, clock: Clock, *, step_bound_ms: int) -> None:
        self._kernel = kernel
        self._clock = clock
        self._bound_s = step_bound_ms / 1000.0
        self._lock = threading.Lock()
        self._offset: float | None = None  # wall - monotonic at the last sample
        self._since_read_ms = 0  # largest step since the last reading handed out
        self._step_seen_at: float | None = None  # monotonic time of the last step
        self.steps = 0
        self.last: KernelTime | None = None
        self._alarms = Alarms()

    @property
    def alarms(self) -> tuple[str, ...]:
        """The clock's active alarm lines."""
        return self._alarms.lines()

    def sample(self) -> KernelTime | None:
        """Read the kernel state and look for a step; update the alarms."""
        with self._lock:
            return self._sample()

    def reading(self) -> ClockReading:
        """The state for a read now: a fresh sample plus the steps since the previous read."""
        with self._lock:
            kernel = self._sample()
            step, self._since_read_ms = self._since_read_ms, 0
        if kernel is None:
            return ClockReading(None, None, step)
        return ClockReading(kernel.synced, kernel.maxerror_us, step)

    def _sample(self) -> KernelTime | None:
        wall, mono = self._clock.wall(), self._clock.monotonic()
        offset = wall - mono
        if self._offset is not None and abs(offset - self._offset) > self._bound_s:
            step_ms = round((offset - self._offset) * 1000)
            self.steps += 1
            self._step_seen_at = mono
            if abs(step_ms) > abs(self._since_read_ms):
                self._since_read_ms = step_ms
            self._alarms.raise_(
                "step",
                f"clock stepped by {step_ms / 1000:+.3f} s (bound {self._bound_s:g} s): "
                "pass times around it are on two time bases",
            )
        elif self._step_seen_at is not None and mono - self._step_seen_at > _STEP_ALARM_HOLD_S:
            self._step_seen_at = None
            self._alarms.clear("step")
        self._offset = offset
        try:
            kernel = self._kernel.read()
        except OSError as exc:
            self.last = None
            self._alarms.clear("unsynced")
            self._alarms.raise_(
                "unreadable",
                f"clock state unreadable (adjtimex: {exc.strerror or exc}): "
                "reads carry no sync state",
            )
            return None
        self.last = kernel
        self._alarms.clear("unreadable")
        if kernel.synced:
            self._alarms.clear("unsynced")
        else:
            self._alarms.raise_(
                "unsynced",
                f"clock not synchronised (kernel maxerror {kernel.maxerror_us / 1e6:g} s): "
                "reads are marked synced=false",
            )
        return kernel
