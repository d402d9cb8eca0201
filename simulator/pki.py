"""A development PKI: everything a full double-flux setup needs, made with ``cryptography``.

Never use these keys in production: they are made for tests and the demo.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.security.keyfiles import write_private_key

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = [
    "DevPki",
    "Issued",
    "agent_config_toml",
    "init_pki",
    "issue_cert",
    "load_issued",
    "new_ca",
    "save_issued",
    "write_cert",
    "write_crl",
    "write_key",
]

MANIFEST = "pki.json"
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def write_key(path: Path, key: PrivateKeyTypes) -> None:
    """Write a private key as unencrypted PEM, readable by its owner only (0600), replacing any."""
    path.unlink(missing_ok=True)
    write_private_key(path, key)


def write_cert(path: Path, *certs: x509.Certificate) -> None:
    """Write certificates as PEM (public: 0644)."""
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    path.chmod(0o644)


def write_crl(
    path: Path, ca: Issued, revoked: tuple[x509.Certificate, ...], *, now: dt.datetime | None = None
) -> x509.CertificateRevocationList:
    """Write the CA's certificate revocation list (PEM, 0644) revoking ``revoked``."""
    now = now or dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - _DAY)
        .next_update(now + 3650 * _DAY)
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(now - _DAY)
            .build()
        )
    crl = builder.sign(ca.key, hashes.SHA256())
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o644)
    return crl


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def new_ca(cn: str, *, now: dt.datetime | None = None, days: int = 3650) -> Issued:
    """A self-signed CA (P-256)."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(cn, "anpr-edge dev PKI")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _DAY)
        .not_valid_after(now + days * _DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def issue_cert(  # noqa: PLR0913 - a certificate has this many knobs
    ca: Issued,
    cn: str,
    *,
    server_names: tuple[str, ...] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    days: int = 825,
) -> Issued:
    """Issue a leaf certificate: a server one when ``server_names`` is given, else a client one."""
    start = not_before or dt.datetime.now(dt.UTC) - _DAY
    end = not_after or start + days * _DAY
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, "anpr-edge dev PKI"))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if server_names:
        alt: list[x509.GeneralName] = []
        for name in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        usage = ExtendedKeyUsageOID.SERVER_AUTH
    else:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


@dataclass(frozen=True, slots=True)
class DevPki:
    """Paths of a development PKI made by :func:`init_pki`."""

    root: Path
    camera_id: str

    def path(self, name: str) -> Path:
        """Path of one file of the PKI, e.g. ``pki.path("device.crt")``."""
        stem = name.rsplit(".", 1)[0]
        if not any(f.rsplit(".", 1)[0] == stem for f in _FILES):
            raise KeyError(f"no file {name!r} in the dev PKI")
        return self.root / name


_FILES = {
    "police-ca.crt": "police CA (trusted by the police broker and the agent's police uplink)",
    "police-broker.crt": "police broker server certificate (SAN 127.0.0.1, ::1, localhost)",
    "device.crt": "camera client certificate for the police broker (CN = camera id)",
    "backoffice.crt": "police back-office consumer client certificate (CN = backoffice)",
    "police-ca.crl": "police CA's revocation list (revokes police-revoked.crt)",
    "police-revoked.crt": "a revoked camera client certificate (CN = camera id): refused",
    "civil-ca.crt": "civil CA, separate from the police CA",
    "civil-ca.crl": "civil CA's revocation list (revokes civil-revoked.crt)",
    "civil-revoked.crt": "a revoked camera client certificate for the civil broker",
    "civil-broker.crt": "civil broker server certificate",
    "civil-device.crt": "camera client certificate for the civil broker (CN = camera id)",
    "city.crt": "civil consumer client certificate (CN = city)",
    "backoffice-seal.key": "back-office X25519 key: plates are sealed to its public half",
    "device-sign.key": "camera Ed25519 journal signing key",
}
LOCAL_NAMES = ("127.0.0.1", "::1", "localhost")


def init_pki(
    root: Path, camera_id: str = "cam-01", *, force: bool = False, now: dt.datetime | None = None
) -> DevPki:
    """Create (or reuse) a development PKI under ``root``; private files are 0600."""
    pki = DevPki(root, camera_id)
    manifest = root / MANIFEST
    if manifest.exists() and not force:
        recorded = json.loads(manifest.read_text(encoding="utf-8")).get("camera_id")
        if recorded == camera_id:
            _revocations(pki, now)  # a PKI made before CRLs existed gets them
            return pki
        raise FileExistsError(
            f"{root} holds a PKI for camera {recorded!r}: use another directory or --force"
        )
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    now = now or dt.datetime.now(dt.UTC)

    for side, device, consumer in (
        ("police", "device", "backoffice"),
        ("civil", "civil-device", "city"),
    ):
        ca = new_ca(f"anpr-edge dev {side} CA", now=now)
        save_issued(root, f"{side}-ca", ca)
        save_issued(root, f"{side}-broker", issue_cert(ca, "localhost", server_names=LOCAL_NAMES))
        save_issued(root, device, issue_cert(ca, camera_id))
        save_issued(root, consumer, issue_cert(ca, consumer))
    _revocations(pki, now)

    seal = x25519.X25519PrivateKey.generate()
    write_key(root / "backoffice-seal.key", seal)
    sign = ed25519.Ed25519PrivateKey.generate()
    write_key(root / "device-sign.key", sign)
    for stem, public in (
        ("backoffice-seal", seal.public_key()),
        ("device-sign", sign.public_key()),
    ):
        (root / f"{stem}.pub").write_bytes(
            public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    manifest.write_text(
        json.dumps({"camera_id": camera_id, "files": _FILES}, indent=2) + "\n", encoding="utf-8"
    )
    return pki


def _revocations(pki: DevPki, now: dt.datetime | None) -> None:
    """Each CA's CRL, revoking one camera certificate of its own, unless already there."""
    for side in ("police", "civil"):
        crl = pki.path(f"{side}-ca.crl")
        if crl.exists():
            continue
        ca = load_issued(pki.path(f"{side}-ca.crt"), pki.root / f"{side}-ca.key")
        revoked = issue_cert(ca, pki.camera_id, not_before=now)
        save_issued(pki.root, f"{side}-revoked", revoked)
        write_crl(crl, ca, (revoked.cert,), now=now)


def load_issued(cert: Path, key: Path) -> Issued:
    """Read back a certificate and its key written by :func:`init_pki` (e.g. a CA to issue more)."""
    loaded = serialization.load_pem_private_key(key.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{key} is not an EC key")
    return Issued(x509.load_pem_x509_certificate(cert.read_bytes()), loaded)


def save_issued(root: Path, stem: str, issued: Issued) -> tuple[Path, Path]:
    """Write ``stem.crt`` and ``stem.key`` (0600) under ``root``; return both paths."""
    crt, key = root / f"{stem}.crt", root / f"{stem}.key"
    write_cert(crt, issued.cert)
    write_key(key, issued.key)
    return crt, key


def agent_config_toml(  # noqa: PLR0913 - the few things that differ between uses
    pki: DevPki,
    *,
    journal: Path,
    police_url: str = "mqtts://127.0.0.1:18883",
    civil_url: str = "mqtts://127.0.0.1:18884",
    site: str = "test site",
    legal_basis: str = "test",
    counts_extra: str = "",
) -> str:
    """An agent config (TOML) naming this dev PKI's files by absolute path.

    ``counts_extra`` is appended to the ``[counts]`` section (and may open further
    sections, e.g. ``[service]``).
    """
    p = pki.path
    return f"""
[camera]
id = "{pki.camera_id}"
site = "{site}"
location = "51.05,3.72"
owner = "owner"
operator = "operator"
source = "sim:"
legal_basis = "{legal_basis}"

[journal]
path = "{journal}"

[keys]
signing_key = "{p("device-sign.key")}"
sealing_public_key = "{p("backoffice-seal.pub")}"

[police]
brokers = ["{police_url}"]
ca = "{p("police-ca.crt")}"
crl = "{p("police-ca.crl")}"
cert = "{p("device.crt")}"
key = "{p("device.key")}"
topic_prefix = "anpr/v1"

[civil]
brokers = ["{civil_url}"]
ca = "{p("civil-ca.crt")}"
crl = "{p("civil-ca.crl")}"
cert = "{p("civil-device.crt")}"
key = "{p("civil-device.key")}"
topic_prefix = "civil/v1"

[counts]
legal_basis = "{legal_basis}"
{counts_extra}"""
