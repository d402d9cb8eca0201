"""``anpr-hub``: the civil hub's command line.

Bad configuration or input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import getpass
import json
import signal
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.exc import SQLAlchemyError

from hub import grants as grantlib
from hub.api import parse_time
from hub.config import HubConfig, HubConfigError, load_config
from hub.inventory import camera_rows, geojson, inventory_csv
from hub.retention import purge
from hub.store import current_revision, head_revision, make_engine, upgrade

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Engine

__all__ = ["main"]

DEFAULT_CONFIG = Path("/etc/anpr-hub/hub.toml")


class _BadInputError(Exception):
    """Bad input: one line, exit 2."""


def _err(line: str) -> None:
    print(f"anpr-hub: {line}", file=sys.stderr)


def _config(args: argparse.Namespace) -> HubConfig:
    return load_config(args.config)


def _engine(cfg: HubConfig, *, check: bool = True) -> Engine:
    engine = make_engine(cfg.store.url)
    if check and current_revision(engine) != head_revision():
        raise _BadInputError("the database schema is not current: run anpr-hub db upgrade")
    return engine


def _cmd_check(args: argparse.Namespace) -> int:
    unresolved: list[str] = []
    cfg = load_config(args.config, unresolved)
    print(f"{args.config}: ok (store {cfg.store.url.split('://')[0]}, k {cfg.disclosure.k})")
    if unresolved:
        print(
            f"unchecked (credential: paths, $CREDENTIALS_DIRECTORY unset): {', '.join(unresolved)}"
        )
    return 0


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    engine = _engine(_config(args), check=False)
    upgrade(engine)
    print(f"schema at {current_revision(engine)}")
    return 0


def _cmd_cameras(args: argparse.Namespace) -> int:
    with _engine(_config(args)).connect() as conn:
        found = camera_rows(conn)
    if args.format == "json":
        print(json.dumps(found, indent=1))
    elif args.format == "geojson":
        print(json.dumps(geojson(found)))
    elif args.format == "csv":
        sys.stdout.write(inventory_csv(found))
    else:
        for c in found:
            keys = c["keys"]
            n = len(keys) if isinstance(keys, list) else 0
            print(
                f"{c['id']:<20} {c.get('owner') or '-':<24} {c.get('location') or '-':<22} "
                f"keys {n}  last seen {c['last_seen']}"
            )
    return 0


def _cmd_trust(args: argparse.Namespace) -> int:
    from hub.ingest.core import Ingestor  # noqa: PLC0415 - only this command needs it

    cfg = _config(args)
    try:
        key = serialization.load_pem_public_key(args.key.read_bytes())
    except (OSError, ValueError) as exc:
        raise _BadInputError(f"{args.key}: not a PEM public key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise _BadInputError(f"{args.key}: not an Ed25519 public key")
    kid = Ingestor(_engine(cfg), base_s=cfg.disclosure.base_s).trust(args.camera, key)
    print(f"camera {args.camera}: key {kid} registered")
    return 0


def _time(value: str, what: str) -> int:
    parsed = parse_time(value)
    if parsed is None:
        raise _BadInputError(f"{what} {value!r}: use epoch seconds or ISO 8601 with a zone")
    return parsed


def _cmd_grant(args: argparse.Namespace) -> int:
    cfg = _config(args)
    engine = _engine(cfg)
    actor = args.actor
    try:
        if args.action == "request":
            area = None
            if args.area:
                nums = [float(x) for x in args.area.split(",")]
                if len(nums) != 4:
                    raise _BadInputError("--area is min_lat,min_lon,max_lat,max_lon")
                area = (nums[0], nums[1], nums[2], nums[3])
            gid = grantlib.request(
                engine,
                recipient=args.recipient,
                purpose=args.purpose,
                cameras=args.cameras.split(",") if args.cameras else None,
                area=area,
                dimensions=[d for d in (args.dimensions or "").split(",") if d],
                granularity_s=args.granularity,
                per_camera=args.per_camera,
                retention_days=args.retention_days,
                onward_sharing=args.onward_sharing,
                valid_from=_time(args.valid_from, "--from"),
                valid_until=_time(args.valid_until, "--until"),
                actor=actor,
            )
            print(f"grant {gid} requested")
        elif args.action == "approve":
            g = grantlib.approve(engine, args.id, actor=actor, base_s=cfg.disclosure.base_s)
            print(f"grant {g.id} approved")
        elif args.action == "renew":
            g = grantlib.renew(engine, args.id, until=_time(args.until, "--until"), actor=actor)
            print(f"grant {g.id} valid until {g.valid_until}")
        elif args.action == "revoke":
            g = grantlib.revoke(engine, args.id, actor=actor)
            print(f"grant {g.id} revoked")
        else:
            with engine.connect() as conn:
                found = grantlib.list_grants(conn, args.recipient)
            if args.json:
                print(json.dumps([g.as_json() for g in found]))
            for g in [] if args.json else found:
                print(
                    f"{g.id:>4} {g.recipient:<16} {g.state:<9} {g.purpose[:30]:<30} "
                    f"step {g.granularity_s} s, {g.valid_from}..{g.valid_until}"
                )
    except grantlib.GrantError as exc:
        raise _BadInputError(str(exc)) from None
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    cfg = _config(args)
    done = purge(
        _engine(cfg),
        retention_days=cfg.store.retention_days,
        now_s=int(time.time()),
        base_s=cfg.disclosure.base_s,
        actor=args.actor,
    )
    print(json.dumps(done))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from hub.api import create_app, handshake_auditor  # noqa: PLC0415 - the daemon's imports
    from hub.ingest import Ingestor, MqttIngest  # noqa: PLC0415
    from hub.server import make_server  # noqa: PLC0415

    cfg = _config(args)
    if cfg.mqtt is None and cfg.api is None:
        raise _BadInputError("nothing to run: the config has neither [mqtt] nor [api]")
    _check_files(cfg)
    engine = _engine(cfg)
    ingest = None
    if cfg.mqtt is not None:
        ingest = MqttIngest(cfg.mqtt, Ingestor(engine, base_s=cfg.disclosure.base_s))
        ingest.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    purger = threading.Thread(
        target=_purge_loop, args=(engine, cfg, args.actor, stop), name="hub-purge", daemon=True
    )
    purger.start()
    try:
        if cfg.api is not None:
            server = make_server(
                create_app(engine, cfg), cfg.api, on_refused=handshake_auditor(engine)
            )
            server.run()
        else:
            stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if ingest is not None:
            ingest.stop()
    return 0


PURGE_EVERY_S = 6 * 3600


def _purge_loop(engine: Engine, cfg: HubConfig, actor: str, stop: threading.Event) -> None:
    """Apply the retention at start and every 6 hours while the hub runs (each purge audited)."""
    while True:
        try:
            purge(
                engine,
                retention_days=cfg.store.retention_days,
                now_s=int(time.time()),
                base_s=cfg.disclosure.base_s,
                actor=actor,
            )
        except SQLAlchemyError as exc:
            _err(f"retention purge failed: {str(exc).splitlines()[0]}")
        if stop.wait(PURGE_EVERY_S):
            return


def _check_files(cfg: HubConfig) -> None:
    """Keys private (0600) and every TLS file loadable, before anything starts."""
    from agent.security.keyfiles import KeyFileError, check_private_mode  # noqa: PLC0415
    from hub.ingest.mqtt import client_context  # noqa: PLC0415
    from hub.server import server_context  # noqa: PLC0415

    try:
        if cfg.mqtt is not None:
            check_private_mode(cfg.mqtt.key, "hub client key")
            client_context(cfg.mqtt)
        if cfg.api is not None:
            check_private_mode(cfg.api.key, "API server key")
            server_context(cfg.api)  # what the API will serve with
    except KeyFileError as exc:
        raise _BadInputError(str(exc)) from None
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise _BadInputError(f"TLS files: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    parser = argparse.ArgumentParser(prog="anpr-hub", description="anpr-edge civil hub")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--actor", default=getpass.getuser(), help="who (for the audit trail)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("check-config", help="validate the config").set_defaults(func=_cmd_check)
    db = sub.add_parser("db", help="database").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", help="migrate to the newest schema").set_defaults(func=_cmd_db_upgrade)
    sub.add_parser("run", help="ingest and serve").set_defaults(func=_cmd_run)
    sub.add_parser("purge", help="apply the retention (audited)").set_defaults(func=_cmd_purge)

    cams = sub.add_parser("cameras", help="the camera inventory")
    cams.add_argument("--format", choices=("table", "json", "csv", "geojson"), default="table")
    cams.set_defaults(func=_cmd_cameras)
    cam_sub = cams.add_subparsers(dest="cam_action")
    trust = cam_sub.add_parser("trust", help="register a camera's Ed25519 signing key")
    trust.add_argument("camera")
    trust.add_argument("key", type=Path, help="PEM public key (anpr-agent keys show)")
    trust.set_defaults(func=_cmd_trust)

    grant = sub.add_parser("grant", help="grants").add_subparsers(dest="action", required=True)
    req = grant.add_parser("request", help="record a grant request")
    req.add_argument("--recipient", required=True, help="CN of its client certificate")
    req.add_argument("--purpose", required=True)
    req.add_argument("--cameras", help="camera ids, comma-separated")
    req.add_argument("--area", help="min_lat,min_lon,max_lat,max_lon")
    req.add_argument("--dimensions", default="", help="e.g. lane,vehicle_class")
    req.add_argument("--granularity", type=int, default=3600, help="finest step, seconds")
    req.add_argument("--per-camera", action="store_true", help="rows per camera allowed")
    req.add_argument("--retention-days", type=int, default=365)
    req.add_argument("--onward-sharing", action="store_true")
    req.add_argument("--from", dest="valid_from", required=True)
    req.add_argument("--until", dest="valid_until", required=True)
    for name in ("approve", "revoke"):
        p = grant.add_parser(name)
        p.add_argument("id", type=int)
    ren = grant.add_parser("renew")
    ren.add_argument("id", type=int)
    ren.add_argument("--until", required=True)
    lst = grant.add_parser("list")
    lst.add_argument("--recipient")
    lst.add_argument("--json", action="store_true")
    grant.required = True
    for p in grant.choices.values():
        p.set_defaults(func=_cmd_grant)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except HubConfigError as exc:
        for line in exc.problems:
            _err(line)
        return 2
    except _BadInputError as exc:
        _err(str(exc))
        return 2
    except SQLAlchemyError as exc:
        _err(f"database: {str(exc).splitlines()[0]}")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
