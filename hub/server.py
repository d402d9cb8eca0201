"""Run the API on uvicorn with client certificates, and tell the app who connected.

uvicorn verifies the client certificate (``ssl_ca_certs``) but does not pass
it to the application; :class:`ClientCertH11` (uvicorn's h11 protocol, one
instance per connection) reads the verified peer certificate when the
connection is made and puts it in the ASGI scope as
``scope["extensions"]["tls"]["client_cert_der"]``.

``ssl_cert_reqs`` is ``CERT_OPTIONAL``: a certificate from another CA, or
expired, is refused in the TLS handshake; a client without any certificate
gets through the handshake so that it receives a clear 401 and an audit line
instead of a bare TLS alert.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    import asyncio

    from starlette.types import ASGIApp, Receive, Scope, Send

    from hub.config import ApiConfig

__all__ = ["ClientCertH11", "make_server"]


class ClientCertH11(H11Protocol):
    """uvicorn's h11 protocol, adding the verified client certificate to every scope."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Wrap the app so each request of this connection carries its peer certificate."""
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        inner: ASGIApp = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})["tls"] = {"client_cert_der": der}
            await inner(scope, receive, send)

        self.app = app
        super().connection_made(transport)


def make_server(app: Any, cfg: ApiConfig, *, log_level: str = "warning") -> uvicorn.Server:  # noqa: ANN401 - any ASGI app
    """A uvicorn server for ``app``: TLS >= 1.2 (Python's default), client certificates."""
    config = uvicorn.Config(
        app,
        host=cfg.host,
        port=cfg.port,
        ssl_certfile=str(cfg.cert),
        ssl_keyfile=str(cfg.key),
        ssl_ca_certs=str(cfg.client_ca),
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        http=ClientCertH11,
        log_level=log_level,
        access_log=False,
        lifespan="off",
    )
    return uvicorn.Server(config)
