"""TLS for the uplinks: mutual TLS only, TLS 1.2 at least, the broker's CA pinned."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from agent.security.keyfiles import KeyFileError, check_private_mode

if TYPE_CHECKING:
    from agent.config.schema import UplinkConfig

__all__ = ["build_client_context"]

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def build_client_context(cfg: UplinkConfig) -> ssl.SSLContext:
    """Build the client context of one uplink.

    Only the configured CA is trusted (no system store), the broker's host name
    is checked, and the client always presents its certificate. With a CRL
    (``crl``) a broker certificate the CA revoked is refused. There is no
    plaintext mode to fall back to.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname + CERT_REQUIRED
    ctx.minimum_version = _VERSIONS[cfg.tls_min_version]
    try:
        ctx.load_verify_locations(cafile=str(cfg.ca))
    except (OSError, ssl.SSLError) as exc:
        raise KeyFileError(f"CA certificate {cfg.ca} cannot be loaded: {exc}") from None
    if cfg.crl is not None:
        # Read at every connection attempt (a context is built per connection), so a
        # CRL renewed on disk revokes the broker's certificate at the next connect.
        try:
            ctx.load_verify_locations(cafile=str(cfg.crl))
        except (OSError, ssl.SSLError) as exc:
            raise KeyFileError(f"CRL {cfg.crl} cannot be loaded: {exc}") from None
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    check_private_mode(cfg.key, "client key")
    try:
        ctx.load_cert_chain(certfile=str(cfg.cert), keyfile=str(cfg.key))
    except (OSError, ssl.SSLError) as exc:
        raise KeyFileError(
            f"client certificate {cfg.cert} / key {cfg.key} cannot be loaded: {exc}"
        ) from None
    return ctx
