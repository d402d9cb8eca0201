"""The hub's configuration: one frozen pydantic tree, read from TOML.

Relative paths are taken from the config file's directory. A bad file is
one :class:`HubConfigError` whose lines name the key, the value and the rule;
the command line prints them and exits 2.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "ApiConfig",
    "DisclosureConfig",
    "HubConfig",
    "HubConfigError",
    "MqttConfig",
    "StoreConfig",
    "load_config",
]


class HubConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(_Section):
    """Where the hub keeps its data."""

    url: str = Field(
        "sqlite:///hub.sqlite",
        description="SQLAlchemy URL: sqlite:///FILE (one instance) or "
        "postgresql+psycopg://USER@HOST/DB (several instances).",
    )
    retention_days: int = Field(
        400, ge=1, le=36500, description="Count windows older than this are purged (recorded)."
    )

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql+psycopg://")):
            msg = "must start with sqlite:/// or postgresql+psycopg://"
            raise ValueError(msg)
        return value


class MqttConfig(_Section):
    """The civil broker(s) the hub consumes, over MQTT 5 with mutual TLS."""

    brokers: Annotated[list[str], Field(min_length=1)] = Field(
        description="mqtts://host:port URLs; the hub connects to each."
    )
    ca: Path = Field(description="CA of the civil broker(s).")
    cert: Path = Field(description="The hub's client certificate (its CN is its broker user).")
    key: Path = Field(description="Its private key (0600).")
    topic_prefix: str = Field("civil/v1", description="Prefix of the civil topics.")
    group: str = Field(
        "hub", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Shared-subscription group."
    )
    client_id: str = Field(
        "hub-1",
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="MQTT client id; unique per hub instance.",
    )
    ack_every_s: float = Field(0.5, gt=0, le=60, description="How often acks are sent.")
    gap_after_s: float = Field(5.0, gt=0, le=3600, description="Gap age before a replay request.")

    @field_validator("brokers")
    @classmethod
    def _tls_only(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith("mqtts://"):
                msg = f"{url!r}: only mqtts:// (TLS) is allowed"
                raise ValueError(msg)
        return value


class ApiConfig(_Section):
    """The HTTPS delivery API; every client presents a certificate of ``client_ca``."""

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8443, ge=1, le=65535, description="TCP port.")
    cert: Path = Field(description="Server certificate (PEM).")
    key: Path = Field(description="Server private key (0600).")
    client_ca: Path = Field(description="CA that issues recipients' client certificates.")


class DisclosureConfig(_Section):
    """Disclosure control of what recipients receive."""

    k: int = Field(
        5, ge=2, le=1000, description="No published figure is 1..k-1 (at least the cameras' k)."
    )
    base_s: int = Field(
        3600,
        ge=60,
        le=86400,
        description="The finest time step anything is published at; every grant's granularity "
        "is a multiple of it, so all outputs derive from one protected table.",
    )

    @field_validator("base_s")
    @classmethod
    def _divides_day(cls, value: int) -> int:
        if 86400 % value:
            msg = "must divide a day (86400 s)"
            raise ValueError(msg)
        return value


class HubConfig(_Section):
    """The whole hub configuration."""

    store: StoreConfig = StoreConfig()
    mqtt: MqttConfig | None = None
    api: ApiConfig | None = None
    disclosure: DisclosureConfig = DisclosureConfig()
    publisher: str = Field(
        "anpr-hub", pattern=r"^[A-Za-z0-9._-]{1,64}$", description="DATEX II publication creator."
    )
    country: str = Field("be", pattern=r"^[a-z]{2}$", description="DATEX II creator country.")


CREDENTIAL_PREFIX = "credential:"


def _path(value: str, base: Path, where: str, unresolved: list[str]) -> str:
    """A config path: ``credential:NAME`` is ``$CREDENTIALS_DIRECTORY/NAME``.

    Relative paths are relative to the config file. Without
    ``$CREDENTIALS_DIRECTORY`` (a workstation) a credential stays unresolved
    and is reported as unchecked; opening it later fails with its name.
    """
    if value.startswith(CREDENTIAL_PREFIX):
        creds = os.environ.get("CREDENTIALS_DIRECTORY")
        if not creds:
            unresolved.append(where)
            return value
        return str(Path(creds) / value[len(CREDENTIAL_PREFIX) :])
    return value if Path(value).is_absolute() else str(base / value)


def _resolve(raw: dict[str, Any], base: Path, unresolved: list[str]) -> dict[str, Any]:
    """Resolve path fields: credentials, and relative to the config file's directory."""
    for section, keys in (("mqtt", ("ca", "cert", "key")), ("api", ("cert", "key", "client_ca"))):
        part = raw.get(section)
        if isinstance(part, dict):
            for key in keys:
                value = part.get(key)
                if isinstance(value, str):
                    part[key] = _path(value, base, f"{section}.{key}", unresolved)
    store = raw.get("store")
    if isinstance(store, dict):
        url = store.get("url")
        prefix = "sqlite:///"
        if isinstance(url, str) and url.startswith(prefix) and not url.startswith(prefix + "/"):
            store["url"] = prefix + str(base / url[len(prefix) :])
    return raw


def load_config(path: Path, unresolved: list[str] | None = None) -> HubConfig:
    """Read and validate ``path``; :class:`HubConfigError` lists every problem.

    ``unresolved`` (when given) receives the keys of ``credential:`` paths
    left as they are because ``$CREDENTIALS_DIRECTORY`` is not set.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HubConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HubConfigError([f"{path}: not TOML: {exc}"]) from None
    resolved = _resolve(raw, path.resolve().parent, unresolved if unresolved is not None else [])
    try:
        config = HubConfig.model_validate(resolved)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top)"
            value = err.get("input")
            shown = repr(value) if not isinstance(value, dict) else "a table"
            problems.append(f"{path}: {where} = {shown[:60]}: {err['msg']}")
        raise HubConfigError(problems) from None
    return config
