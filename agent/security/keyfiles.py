"""Read keys and certificates from disk, refusing private keys others can read (like ssh)."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = [
    "KeyFileError",
    "cert_fingerprint",
    "check_private_mode",
    "load_certificates",
    "load_crl",
    "load_private_key",
    "load_sealing_public_key",
    "load_signing_key",
    "write_private_key",
]


class KeyFileError(Exception):
    """A key or certificate file is missing, unreadable, too open, or not what it should be."""


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise KeyFileError(f"{what} {path} is a directory, not a file") from None
    except OSError as exc:
        raise KeyFileError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None


def check_private_mode(path: Path, what: str = "private key") -> None:
    """Refuse a private key file that its group or others may read or write."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{what} {path} is accessible by others (mode {stat.S_IMODE(mode):04o}): "
            f"chmod 600 {path}"
        )


def load_private_key(path: Path, what: str = "private key") -> PrivateKeyTypes:
    """Load an unencrypted PEM private key after checking its file mode."""
    check_private_mode(path, what)
    data = _read(path, what)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{what} {path} is not an unencrypted PEM private key: {exc}") from None


def load_signing_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """Load the device's Ed25519 signing key."""
    key = load_private_key(path, "signing key")
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"signing key {path} is not an Ed25519 key")
    return key


def load_sealing_public_key(path: Path) -> x25519.X25519PublicKey:
    """Load the back office's X25519 public key that plates are sealed to."""
    data = _read(path, "sealing public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"sealing public key {path} is not a PEM public key: {exc}") from None
    if not isinstance(key, x25519.X25519PublicKey):
        raise KeyFileError(f"sealing public key {path} is not an X25519 key")
    return key


def load_certificates(path: Path, what: str = "certificate") -> list[x509.Certificate]:
    """Load one or more PEM certificates."""
    data = _read(path, what)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise KeyFileError(f"{what} {path} is not a PEM certificate: {exc}") from None
    return certs


def load_crl(path: Path) -> x509.CertificateRevocationList:
    """Load a PEM certificate revocation list."""
    data = _read(path, "CRL")
    try:
        return x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise KeyFileError(f"CRL {path} is not a PEM certificate revocation list: {exc}") from None


def cert_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint of a certificate, lowercase hex."""
    return cert.fingerprint(hashes.SHA256()).hex()


def write_private_key(path: Path, key: PrivateKeyTypes, *, durable: bool = False) -> None:
    """Write ``key`` as unencrypted PKCS#8 PEM, created 0600 and never over an existing file.

    ``FileExistsError`` when ``path`` exists (the caller decides whether replacing
    a key is allowed); ``durable`` fsyncs the file before returning.
    """
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
