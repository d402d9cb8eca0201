"""sd_notify over ``$NOTIFY_SOCKET``: a datagram per state line, nothing else needed.

Implemented in a few lines rather than with a package: the protocol is one
``sendto`` of ``KEY=value`` lines to a Unix datagram socket (a leading ``@``
names an abstract socket). Without ``$NOTIFY_SOCKET`` (not under systemd, or
``Type=simple``) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Notifier", "watchdog_interval"]

log = logging.getLogger("anpr.service")


class Notifier:
    """Sends ``READY=1``, ``STATUS=…``, ``WATCHDOG=1``, ``STOPPING=1`` to the service manager."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._sock: socket.socket | None = None
        if self._address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._warned = False

    @property
    def enabled(self) -> bool:
        """Whether a service manager listens."""
        return self._sock is not None

    def send(self, *lines: str) -> bool:
        """Send state lines in one datagram; False when nobody listens or it failed."""
        if self._sock is None:
            return False
        try:
            self._sock.sendto("\n".join(lines).encode(), self._address)
        except OSError as exc:
            if not self._warned:  # once: the manager may be restarting
                self._warned = True
                log.warning("sd_notify to %s failed: %s", self._address, exc)
            return False
        return True

    def ready(self, status: str) -> None:
        """The service is up."""
        self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        """A one-line status shown by ``systemctl status``."""
        self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        """The pipeline made progress since the last ping."""
        self.send("WATCHDOG=1")

    def stopping(self, status: str) -> None:
        """Shutdown has begun."""
        self.send("STOPPING=1", f"STATUS={status}")

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings (half of ``WatchdogSec``), or None when not asked for."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2_000_000
