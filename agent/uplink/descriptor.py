"""The camera's signed descriptor: the inventory entry regulators could not get.

Published retained on ``{prefix}/{camera}/descriptor`` of both fluxes: who owns
and runs the camera, where it stands, what it is for and on which legal basis,
what it runs, and the fingerprints of its keys. Canonical JSON signed with the
journal's Ed25519 key, exactly like a journal record (``kid`` + ``sig``). The
civil flux's copy names only the signing key and the civil identity: nothing
of the police side (its sealing key, its certificate) reaches the civil side.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent import __version__
from agent.core.canonical import b64, canonical, unb64
from agent.security.crypto import key_id, verify_signature

if TYPE_CHECKING:
    from agent.config.schema import AgentConfig
    from agent.security.crypto import Signer

__all__ = ["build_descriptor", "verify_descriptor"]


def build_descriptor(  # noqa: PLR0913 - every fact of the inventory entry is explicit
    cfg: AgentConfig,
    signer: Signer,
    *,
    sealed_to: str,
    police_cert_sha256: str | None,
    civil_cert_sha256: str | None,
    ts_ms: int,
    flux: Literal["police", "civil"] = "police",
) -> bytes:
    """The signed descriptor of this camera (canonical JSON bytes) for one flux."""
    cam = cfg.camera
    raw = signer.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    body: dict[str, object] = {
        "v": 1,
        "type": "descriptor",
        "camera": cam.id,
        "site": cam.site,
        "location": cam.location,
        "owner": cam.owner,
        "operator": cam.operator,
        "vendor": cam.vendor,
        "model": cam.model,
        "lanes": cam.lanes,
        "purpose": cam.purpose,
        "legal_basis": cam.legal_basis,
        "software": f"anpr-edge {__version__}",
        "ts": ts_ms,
        "kid": signer.key_id,
        "keys": {
            "signing_ed25519": b64(raw),
            "sealed_to_x25519_sha256": sealed_to,
            "police_cert_sha256": police_cert_sha256,
            "civil_cert_sha256": civil_cert_sha256,
        }
        if flux == "police"
        else {"signing_ed25519": b64(raw), "civil_cert_sha256": civil_cert_sha256},
        "civil_counts": {
            "purpose": cfg.counts.purpose,
            "legal_basis": cfg.counts.legal_basis,
            "window_s": cfg.counts.window_s,
            "k": cfg.counts.k,
            "dimensions": list(cfg.counts.dimensions),
        },
    }
    return canonical({**body, "sig": b64(signer.sign(canonical(body)))})


def verify_descriptor(
    wire: bytes, trusted: dict[str, ed25519.Ed25519PublicKey]
) -> dict[str, object]:
    """Check a descriptor's signature against trusted keys; return its body.

    Raises :class:`ValueError` naming what is wrong. The key embedded in the
    descriptor must be the one its ``kid`` names; trust comes from ``trusted``
    (keys the back office registered for the camera), not from the descriptor.
    """
    try:
        body = json.loads(wire)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"descriptor is not JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("type") != "descriptor":
        raise ValueError("not a descriptor")
    sig = body.pop("sig", None)
    if not isinstance(sig, str) or canonical({**body, "sig": sig}) != wire:
        raise ValueError("descriptor is not canonical or has no signature")
    kid = body.get("kid")
    key = trusted.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise ValueError(f"descriptor signed by untrusted key {kid!r}")
    keys = body.get("keys")
    embedded = keys.get("signing_ed25519") if isinstance(keys, dict) else None
    if not isinstance(embedded, str) or (
        key_id(ed25519.Ed25519PublicKey.from_public_bytes(unb64(embedded))) != kid
    ):
        raise ValueError("descriptor's embedded signing key does not match its kid")
    if not verify_signature(key, unb64(sig), canonical(body)):
        raise ValueError("descriptor signature does not match")
    return body
