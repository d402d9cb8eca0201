"""Run the API on uvicorn with client certificates, and tell the app who connected.

The hub terminates TLS itself rather than through uvicorn's ``ssl_*``
options, for two reasons:

- uvicorn verifies client certificates but does not pass them to the
  application; :class:`ClientCertH11` (uvicorn's h11 protocol, one instance
  per connection) runs the handshake, reads the verified peer certificate and
  puts it in the ASGI scope as ``scope["extensions"]["tls"]["client_cert_der"]``;
- a refused handshake must leave an audit line: uvicorn (asyncio) only logs
  it at debug level. Here every refused handshake calls ``on_refused(peer,
  reason)`` (:func:`hub.api.handshake_auditor` writes the audit line).

What the handshake decides (:func:`server_context`): TLS >= 1.2; the client
certificate is requested (``CERT_OPTIONAL``) and, when presented, its chain
must lead to ``api.client_ca`` — a certificate of another CA is refused with
the TLS alert ``unknown_ca`` (no HTTP exists before the handshake, and
Python's ``ssl`` has no verify callback that could defer the decision). Time
is *not* checked in the handshake (``X509_V_FLAG_NO_CHECK_TIME``): a client
without a certificate, or with an expired or not yet valid one of our CA,
gets through so that the app answers a clear 401 with an audit line; the app
checks the validity period of the certificate and of its CA on every request
(:func:`hub.api.create_app`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import TYPE_CHECKING, Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.types import ASGIApp, Receive, Scope, Send

    from hub.config import ApiConfig

__all__ = ["HANDSHAKE_TIMEOUT_S", "ClientCertH11", "make_server", "server_context"]

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME: the chain is verified, its dates are left to the app.
_NO_CHECK_TIME = 0x200000
HANDSHAKE_TIMEOUT_S = 10.0


def server_context(cfg: ApiConfig) -> ssl.SSLContext:
    """The API's TLS context: TLS >= 1.2, client certificates of ``cfg.client_ca``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cfg.cert), str(cfg.key))
    ctx.load_verify_locations(cafile=str(cfg.client_ca))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.verify_flags |= _NO_CHECK_TIME
    return ctx


def _peer(transport: asyncio.BaseTransport) -> str:
    name = transport.get_extra_info("peername")
    if isinstance(name, tuple) and len(name) >= 2:
        return f"{name[0]}:{name[1]}"
    return str(name or "-")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, TimeoutError):
        return f"no handshake within {HANDSHAKE_TIMEOUT_S:g} s"
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    return type(exc).__name__


class ClientCertH11(H11Protocol):
    """uvicorn's h11 protocol behind our own TLS handshake.

    Set ``context`` and ``on_refused`` on a subclass (:func:`make_server`
    does); uvicorn makes one instance per TCP connection.
    """

    context: ssl.SSLContext
    on_refused: Callable[[str, str], None]
    _up = False  # True once h11 has the TLS transport

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Hold the connection until the TLS handshake ends (see :meth:`_handshake`)."""
        transport.pause_reading()  # no byte reaches h11 before TLS is up
        self._early: list[bytes] = []
        self._handshaking = asyncio.get_running_loop().create_task(self._handshake(transport))

    async def _handshake(self, raw: asyncio.Transport) -> None:
        loop = asyncio.get_running_loop()
        try:
            tls = await asyncio.wait_for(
                loop.start_tls(raw, self, self.context, server_side=True),
                HANDSHAKE_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as exc:
            peer = _peer(raw)
            raw.abort()
            with contextlib.suppress(Exception):  # the audit store's own alarms are its business
                await asyncio.to_thread(type(self).on_refused, peer, _reason(exc))
            return
        if tls is None:  # the peer went away during the handshake
            raw.abort()
            return
        ssl_object = tls.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        inner: ASGIApp = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})["tls"] = {"client_cert_der": der}
            await inner(scope, receive, send)

        self.app = app
        self._up = True
        super().connection_made(tls)
        early, self._early = self._early, []
        for data in early:
            super().data_received(data)

    # The TLS layer may call these before h11 has its transport: it hands over
    # the first request's bytes as soon as the handshake ends, before
    # :meth:`_handshake` resumes.

    def data_received(self, data: bytes) -> None:
        """h11's; bytes that arrive before it has its transport wait for it."""
        if self._up:
            super().data_received(data)
        else:
            self._early.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        """h11's, once the connection was up."""
        if self._up:
            super().connection_lost(exc)

    def pause_writing(self) -> None:
        """h11's, once the connection was up."""
        if self._up:
            super().pause_writing()

    def resume_writing(self) -> None:
        """h11's, once the connection was up."""
        if self._up:
            super().resume_writing()


def make_server(
    app: Any,  # noqa: ANN401 - any ASGI app
    cfg: ApiConfig,
    *,
    on_refused: Callable[[str, str], None],
    log_level: str = "warning",
) -> uvicorn.Server:
    """A uvicorn server for ``app``; it calls ``on_refused(peer, reason)`` per refused handshake."""
    protocol = type(
        "HubH11",
        (ClientCertH11,),
        {"context": server_context(cfg), "on_refused": staticmethod(on_refused)},
    )
    config = uvicorn.Config(
        app,
        host=cfg.host,
        port=cfg.port,
        http=protocol,
        log_level=log_level,
        access_log=False,
        lifespan="off",
    )
    return uvicorn.Server(config)
