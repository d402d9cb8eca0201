"""Record signatures (Ed25519) and plate sealing (HPKE to the back office).

Sealing uses RFC 9180 HPKE, base mode, X25519 / HKDF-SHA256 / AES-128-GCM. The
``info`` string binds the camera, stream and seq, so a sealed blob moved to
another record does not open. The edge box holds only the back office's
public key: it cannot read its own sealed plates.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke, serialization

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

__all__ = [
    "SUITE_NAME",
    "SealError",
    "Sealer",
    "Signer",
    "key_id",
    "seal_info",
    "unseal",
    "verify_signature",
    "x25519_fingerprint",
]

SUITE_NAME = "HPKE-base/X25519/HKDF-SHA256/AES-128-GCM"
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)


class SealError(Exception):
    """A sealed blob does not open with this key and record identity."""


def _raw(public: ed25519.Ed25519PublicKey | x25519.X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: ed25519.Ed25519PublicKey) -> str:
    """Short, stable id of a signing key: the first 16 hex digits of SHA-256 of its raw bytes."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def x25519_fingerprint(public: x25519.X25519PublicKey) -> str:
    """Fingerprint of a sealing key (full SHA-256 of its raw bytes, hex)."""
    return hashlib.sha256(_raw(public)).hexdigest()


def seal_info(camera: str, stream: str, seq: int) -> bytes:
    """The HPKE ``info`` that binds a sealed blob to one record."""
    return f"anpr-edge/v1|{camera}|{stream}|{seq}".encode()


class Signer:
    """Signs canonical record bodies with the device's Ed25519 key."""

    def __init__(self, key: ed25519.Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key()
        self.key_id = key_id(self.public_key)

    def sign(self, body: bytes) -> bytes:
        """Ed25519 signature of ``body``."""
        return self._key.sign(body)


class Sealer:
    """Seals plaintext to the back office's X25519 public key."""

    def __init__(self, public: x25519.X25519PublicKey) -> None:
        self._public = public
        self.fingerprint = x25519_fingerprint(public)

    def seal(self, plaintext: bytes, info: bytes) -> bytes:
        """Return enc ‖ ciphertext ‖ tag (48 bytes more than the plaintext)."""
        return _SUITE.encrypt(plaintext, self._public, info=info)


def unseal(blob: bytes, private: x25519.X25519PrivateKey, info: bytes) -> bytes:
    """Open a sealed blob (back office side); :class:`SealError` when it does not open."""
    try:
        return _SUITE.decrypt(blob, private, info=info)
    except (InvalidTag, ValueError) as exc:
        raise SealError("sealed blob does not open for this key and record") from exc


def verify_signature(public: ed25519.Ed25519PublicKey, signature: bytes, body: bytes) -> bool:
    """Whether ``signature`` is ``public``'s Ed25519 signature of ``body``."""
    try:
        public.verify(signature, body)
    except InvalidSignature:
        return False
    return True
