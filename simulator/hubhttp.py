"""A hub API server in a thread and a small HTTPS client: for the hub's tests, bench and demo."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from typing import TYPE_CHECKING

from hub.api import create_app, handshake_auditor
from hub.server import make_server

if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterator

    from sqlalchemy.engine import Engine

    from hub.config import HubConfig

__all__ = ["api_server", "get", "get_json"]


@contextlib.contextmanager
def api_server(engine: Engine, cfg: HubConfig, now: float | None = None) -> Iterator[int]:
    """Serve ``engine`` on ``cfg.api`` in a thread (the clock fixed at ``now`` when given)."""
    if cfg.api is None:
        raise ValueError("the config has no [api] section")
    app = create_app(engine, cfg) if now is None else create_app(engine, cfg, clock=lambda: now)
    server = make_server(app, cfg.api, on_refused=handshake_auditor(engine))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield cfg.api.port
    finally:
        server.should_exit = True
        thread.join(10)


def get(port: int, ctx: ssl.SSLContext, path: str) -> tuple[int, bytes, dict[str, str]]:
    """GET ``path`` over HTTPS: status, body, headers as sent."""
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read(), dict(resp.getheaders())
    finally:
        conn.close()


def get_json(port: int, ctx: ssl.SSLContext, path: str) -> tuple[int, dict[str, object]]:
    """GET ``path``: status and parsed JSON body."""
    status, body, _ = get(port, ctx, path)
    return status, json.loads(body)
