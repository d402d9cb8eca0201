"""Checks of a loaded configuration that need the file system: keys, certificates, identities."""

from __future__ import annotations

import datetime as dt
import socket
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from agent.config.schema import broker_endpoint
from agent.security.keyfiles import (
    KeyFileError,
    cert_fingerprint,
    load_certificates,
    load_crl,
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


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _resolved(urls: tuple[str, ...]) -> dict[tuple[str, int], str]:
    """Every (address, port) the brokers' names resolve to, with the URL that gave it.

    A name that does not resolve here (another network, no DNS) gives nothing:
    what cannot be compared is left to the pure check of the written names.
    """
    out: dict[tuple[str, int], str] = {}
    for url in urls:
        host, port = broker_endpoint(url)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            continue
        for info in infos:
            out.setdefault((str(info[4][0]), port), url)
    return out


class _Checker:
    def __init__(self, unresolved: tuple[str, ...], now: dt.datetime) -> None:
        self.problems: list[str] = []
        self.unresolved = set(unresolved)
        self.now = now
        self.cas: dict[str, list[x509.Certificate]] = {}

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
        """Check one uplink's CA, CRL, cert and key; return the cert fingerprint when readable."""
        cas: list[x509.Certificate] = []

        def read_ca(p: Path) -> None:
            cas.extend(load_certificates(p, "CA certificate"))

        self.run(f"{name}.ca", cfg.ca, read_ca)
        self.cas[name] = cas
        if cfg.crl is not None:
            self.run(f"{name}.crl", cfg.crl, lambda p: self._crl(f"{name}.crl", p, cas))
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
        self._issuer(name, cfg, certs, cas)
        return cert_fingerprint(cert)

    def _issuer(
        self,
        name: str,
        cfg: UplinkConfig,
        certs: list[x509.Certificate],
        cas: list[x509.Certificate],
    ) -> None:
        """The client certificate chains to the configured CA (directly or via its own chain)."""
        chain = [*cas, *(c for c in certs[1:] if any(_issued_by(c, ca) for ca in cas))]
        if cas and not any(_issued_by(certs[0], issuer) for issuer in chain):
            self.problems.append(
                f"{name}.cert: {cfg.cert} is not issued by {name}.ca {cfg.ca} "
                "(the broker would refuse it)"
            )

    def _crl(self, key: str, path: Path, cas: list[x509.Certificate]) -> None:
        crl = load_crl(path)
        if cas and not any(crl.is_signature_valid(ca.public_key()) for ca in cas):  # type: ignore[arg-type]
            self.problems.append(f"{key}: {path} is not signed by the configured CA")
        next_update = crl.next_update_utc
        if next_update is not None and next_update <= self.now:
            self.problems.append(
                f"{key}: {path} expired on {next_update:%Y-%m-%d} (TLS refuses an expired CRL)"
            )

    def separate(self, cfg: AgentConfig) -> None:
        """The civil flux shares no CA certificate and no broker address with the police one."""
        police, civil = self.cas.get("police", []), self.cas.get("civil", [])
        shared = {cert_fingerprint(c) for c in police} & {cert_fingerprint(c) for c in civil}
        if shared:
            self.problems.append(
                f"civil.ca: {cfg.civil.ca} holds a certificate of police.ca {cfg.police.ca} "
                f"(sha256 {min(shared)[:16]}…): the civil flux needs its own CA"
            )
        police_at = _resolved(cfg.police.brokers)
        for (address, port), url in sorted(_resolved(cfg.civil.brokers).items()):
            if (address, port) in police_at:
                self.problems.append(
                    f"civil.brokers: {url} and police.brokers' {police_at[(address, port)]} "
                    f"are both {address} port {port}: the civil flux needs its own broker"
                )
                break


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
    checker.separate(cfg)
    return checker.problems
