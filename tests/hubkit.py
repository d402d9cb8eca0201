"""Shared pieces of the hub tests: a migrated store, count cameras, an HTTPS API server."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, text

from hub.config import ApiConfig, DisclosureConfig, HubConfig, StoreConfig
from hub.ingest.core import Ingestor
from hub.store import make_engine, upgrade
from simulator.broker import free_port
from simulator.hubcams import CountCamera
from simulator.hubhttp import api_server, get, get_json
from simulator.pki import issue_cert, load_issued, save_issued

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from simulator.pki import DevPki

T0 = 1_800_000_000 - 1_800_000_000 % 86400  # a UTC midnight


def postgres_bin() -> Path | None:
    """Debian's PostgreSQL binaries (the newest installed major version), if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


class PgCluster:
    """A throwaway PostgreSQL cluster on a free loopback port, from Debian's packages.

    PostgreSQL refuses to run as root; as root the cluster belongs to ``nobody``
    (``runuser``), in a private directory under /tmp that ``nobody`` owns.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="anpr-hub-pg-"))
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "nobody")
            self._as = ["runuser", "-u", "nobody", "--"]
        self._n = 0

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        data = self.root / "data"
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "hub",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.root / "log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "stop"
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        self._n += 1
        name = f"hub{self._n}"
        engine = create_engine(
            f"postgresql+psycopg://hub@127.0.0.1:{self.port}/postgres", isolation_level="AUTOCOMMIT"
        )
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        engine.dispose()
        return f"postgresql+psycopg://hub@127.0.0.1:{self.port}/{name}"


def migrated(url: str) -> Engine:
    engine = make_engine(url)
    upgrade(engine)
    return engine


def cameras(n: int, k: int = 5) -> list[CountCamera]:
    return [
        CountCamera(f"cam-{i:02d}", 51.05 + 0.01 * i, 3.72 + 0.01 * i, seed=i, k=k)
        for i in range(n)
    ]


def load(engine: Engine, cams: list[CountCamera], start: int, end: int) -> Ingestor:
    ing = Ingestor(engine, base_s=3600)
    for cam in cams:
        ing.trust(cam.camera, cam.public_key)
        assert ing.feed_descriptor(cam.camera, cam.descriptor(start * 1000)) is None
        assert ing.feed_records([(cam.camera, w) for w in cam.records(start, end)]) == []
    return ing


class Certs:
    """A recipients' CA (the civil CA of the dev PKI), the API's server cert, client certs."""

    def __init__(self, pki: DevPki, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.ca = pki.path("civil-ca.crt")
        ca = load_issued(pki.path("civil-ca.crt"), pki.path("civil-ca.key"))
        self.server = (pki.path("civil-broker.crt"), pki.path("civil-broker.key"))
        self.clients = {
            cn: save_issued(root, cn, issue_cert(ca, cn)) for cn in ("gent", "brugge", "nobody")
        }
        police = load_issued(pki.path("police-ca.crt"), pki.path("police-ca.key"))
        self.clients["stranger"] = save_issued(root, "stranger", issue_cert(police, "gent"))
        lapsed = issue_cert(
            ca,
            "gent",
            not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
            not_after=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
        )
        self.clients["lapsed"] = save_issued(root, "lapsed", lapsed)

    def context(self, cn: str | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if cn is not None:
            crt, key = self.clients[cn]
            ctx.load_cert_chain(str(crt), str(key))
        return ctx


def hub_config(url: str, certs: Certs, port: int, k: int = 5) -> HubConfig:
    return HubConfig(
        store=StoreConfig(url=url),
        api=ApiConfig(
            host="127.0.0.1",
            port=port,
            cert=certs.server[0],
            key=certs.server[1],
            client_ca=certs.ca,
        ),
        disclosure=DisclosureConfig(k=k, base_s=3600),
    )


__all__ = [
    "T0",
    "Certs",
    "api_server",
    "cameras",
    "free_port",
    "get",
    "get_json",
    "hub_config",
    "load",
    "migrated",
]
