"""Checks of a loaded configuration that need the file system: keys, certificates, identities."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from agent.security.keyfiles import (
    KeyFileError,
    cert_fingerprint,
    load_certificates,
    load_private_key,
    load_sealing_public_key,
    load_signing_key,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    from agent.config.load import LoadedConfig
    from agent.config.schema import AgentConfig, UplinkConfig

__all__ = ["check_files"]


def _common_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def _spki(holder: x509.Certificate | PrivateKeyTypes) -> bytes:
    return holder.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _read_ca(path: Path) -> None:
    load_certificates(path, "CA certificate")


class _Checker:
    def __init__(self, unresolved: tuple[str, ...], now: dt.datetime) -> None:
        self.problems: list[str] = []
        self.unresolved = set(unresolved)
        self.now = now

    def run(self, key: str, path: Path, check: Callable[[Path], object]) -> bool:
        if key in self.unresolved:
            return False
        try:
            check(path)
        except KeyFileError as exc:
            self.problems.append(f"{key}: {exc}")
            return False
        return True

    def uplink(self, name: str, cfg: UplinkConfig, camera_id: str) -> str | None:
        """Check one uplink's CA, cert and key; return the cert fingerprint when readable."""
        self.run(f"{name}.ca", cfg.ca, _read_ca)
        certs: list[x509.Certificate] = []

        def read_cert(p: Path) -> None:
            certs.extend(load_certificates(p, "client certificate"))

        key_holder: list[PrivateKeyTypes] = []

        def read_key(p: Path) -> None:
            key_holder.append(load_private_key(p, "client key"))

        self.run(f"{name}.key", cfg.key, read_key)
        if not self.run(f"{name}.cert", cfg.cert, read_cert):
            return None
        cert = certs[0]
        if cert.not_valid_after_utc <= self.now:
            self.problems.append(
                f"{name}.cert: {cfg.cert} expired on {cert.not_valid_after_utc:%Y-%m-%d}"
            )
        elif cert.not_valid_before_utc > self.now:
            self.problems.append(
                f"{name}.cert: {cfg.cert} is not valid before {cert.not_valid_before_utc:%Y-%m-%d}"
            )
        cn = _common_name(cert)
        if cn != camera_id:
            self.problems.append(
                f"{name}.cert: CN {cn!r} is not the camera id {camera_id!r} "
                "(the broker maps the CN to the camera's topics)"
            )
        if key_holder and _spki(key_holder[0]) != _spki(cert):
            self.problems.append(f"{name}.key: {cfg.key} does not belong to {cfg.cert}")
        return cert_fingerprint(cert)


def check_files(loaded: LoadedConfig, now: dt.datetime | None = None) -> list[str]:
    """Return one line per problem with the files a configuration names (empty when fine).

    Files named ``credential:NAME`` while ``$CREDENTIALS_DIRECTORY`` is unset are
    skipped: they only exist inside the service's sandbox.
    """
    cfg: AgentConfig = loaded.config
    checker = _Checker(loaded.unresolved_credentials, now or dt.datetime.now(dt.UTC))
    checker.run("keys.signing_key", cfg.keys.signing_key, load_signing_key)
    checker.run("keys.sealing_public_key", cfg.keys.sealing_public_key, load_sealing_public_key)
    police = checker.uplink("police", cfg.police, cfg.camera.id)
    civil = checker.uplink("civil", cfg.civil, cfg.camera.id)
    if police is not None and police == civil:
        checker.problems.append(
            "civil.cert: same certificate as police.cert: the civil flux needs its own identity"
        )
    return checker.problems
