"""A TCP forwarder between the agent and a broker that can stall, cut and refuse: network faults.

- :meth:`TcpProxy.stall` stops moving bytes while every connection stays open:
  to the agent the link is *half-open* (only MQTT keepalive can tell).
- :meth:`TcpProxy.cut` resets every connection (a cable pulled).
- :meth:`TcpProxy.refuse` closes new connections at once (a partition).

Loopback only; every connection is one thread pumping both ways.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from typing import Self

__all__ = ["TcpProxy"]

_CHUNK = 65536


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``target``."""

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.target = target
        self._listener = socket.create_server((host, 0))
        self.host = host
        self.port = int(self._listener.getsockname()[1])
        self._flowing = threading.Event()
        self._flowing.set()
        self._refusing = False
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self.connections = 0
        self._acceptor = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)

    @property
    def url(self) -> str:
        """``mqtts://`` URL of the proxy."""
        return f"mqtts://{self.host}:{self.port}"

    def start(self) -> Self:
        """Start accepting."""
        self._acceptor.start()
        return self

    def stall(self) -> None:
        """Stop forwarding; connections stay open (half-open link)."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again (and accept again after :meth:`refuse`)."""
        self._refusing = False
        self._flowing.set()

    def refuse(self) -> None:
        """Close every new connection at once."""
        self._refusing = True

    def cut(self) -> None:
        """Reset every open connection."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _reset(sock)

    def close(self) -> None:
        """Stop everything."""
        self._closed.set()
        self._listener.close()
        self.cut()
        self._flowing.set()
        for thread in [self._acceptor, *self._threads]:
            thread.join(2)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._refusing:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            self.connections += 1
            with self._lock:
                self._pairs.append((client, upstream))
            thread = threading.Thread(
                target=self._pump, args=(client, upstream), name="proxy-pump", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self._closed.is_set():
                if not self._flowing.wait(0.1):
                    continue
                readable, _, _ = select.select([a, b], [], [], 0.1)
                for sock in readable:
                    data = sock.recv(_CHUNK)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                if (a, b) in self._pairs:
                    self._pairs.remove((a, b))
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a dropped link looks to the peer."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
