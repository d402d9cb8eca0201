"""The civil hub: store and migrations, ingest over real mTLS mosquitto, grants, the HTTPS API."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hubkit import (
    T0,
    Certs,
    PgCluster,
    api_server,
    cameras,
    free_port,
    get,
    get_json,
    hub_config,
    load,
    migrated,
    postgres_bin,
)
from sqlalchemy import func, select
from uplink_rig import wait_until

from hub import grants as grantlib
from hub.cli import main as hub_main
from hub.config import MqttConfig
from hub.ingest import Ingestor, MqttIngest
from hub.store.models import Audit, Base, Window
from simulator.broker import Broker, camera_acl
from simulator.hubcams import CountCamera
from simulator.mqttc import client_context, connect

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from sqlalchemy.engine import Engine, Row

    from simulator.pki import DevPki

    # What the served fixture yields: the store, its cameras, their certificates, the API port.
    Served = tuple[Engine, list[CountCamera], Certs, int]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries absent: apt-get install postgresql (make system-deps)")
    cluster = PgCluster(bindir)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/hub.sqlite"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.new_database()


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    eng = migrated(store_url)
    yield eng
    eng.dispose()


def _grant(engine: Engine, recipient: str = "gent", **kw: Any) -> int:
    terms: dict[str, Any] = {
        "recipient": recipient,
        "purpose": "mobility plan",
        "cameras": ["cam-00", "cam-01", "cam-02"],
        "area": None,
        "dimensions": ["lane"],
        "granularity_s": 3600,
        "per_camera": True,
        "retention_days": 30,
        "onward_sharing": False,
        "valid_from": T0,
        "valid_until": T0 + 5 * 86400,
        "actor": "test",
    }
    terms.update(kw)
    gid = grantlib.request(engine, **terms)
    grantlib.approve(engine, gid, actor="test", base_s=3600)
    return gid


def test_migration_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_ingest_dedupes_windows_and_refuses_unknown_or_forged_records(engine: Engine) -> None:
    cams = cameras(2)
    ing = load(engine, cams, T0, T0 + 86400)
    assert ing.stats.windows == 2 * 96
    again = cams[0].records(T0 + 86400, T0 + 86400 + 1800)
    assert ing.feed_records([("cam-00", w) for w in again + again]) == []
    assert ing.stats.duplicates == 2
    assert ing.stats.windows == 2 * 96 + 2
    forged = again[0].replace(b'"coverage":"full"', b'"coverage":"none"')
    assert [p.kind for _, p in ing.feed_records([("cam-00", forged)])] == ["fork"]
    stranger = cameras(3)[2]
    problems = ing.feed_records([("cam-02", w) for w in stranger.records(T0, T0 + 900)])
    assert [p.kind for _, p in problems] == ["unknown-key"]
    assert dict(ing.due_acks()) == {"cam-00": 98, "cam-01": 96}


def test_totals_are_the_truth_and_never_a_small_cell(engine: Engine) -> None:
    cams = cameras(3)
    load(engine, cams, T0, T0 + 86400)
    from hub.delivery import Query, rows  # noqa: PLC0415

    with engine.connect() as conn:
        out = list(
            rows(
                conn,
                cameras=[c.camera for c in cams],
                query=Query(T0, T0 + 86400, 3600, per_camera=False, fmt="json"),
                dimensions=("lane",),
                k=5,
                base_s=3600,
            )
        )
    assert len(out) == 24
    published = sum(r.total or 0 for r in out)
    truth = sum(sum(c.truth.values()) for c in cams)
    with engine.connect() as conn:
        withheld = sum(w.total is None for w in conn.execute(select(Window.total)).all())
    assert truth - 4 * withheld <= published <= truth
    for r in out:
        assert r.total is None or r.total == 0 or r.total >= 5
        for counts in r.labels.values():
            assert all(n == 0 or n >= 5 for n in counts.values())
            assert sum(counts.values()) == r.total


def test_a_larger_hub_k_suppresses_every_sum_holding_a_small_cell(engine: Engine) -> None:
    cams = cameras(2)
    load(engine, cams, T0, T0 + 86400)
    from hub.delivery import Query, rows  # noqa: PLC0415

    with engine.connect() as conn:
        fine = list(
            rows(
                conn,
                cameras=["cam-00", "cam-01"],
                query=Query(T0, T0 + 86400, 3600, per_camera=True, fmt="json"),
                dimensions=(),
                k=40,
                base_s=3600,
            )
        )
        day = list(
            rows(
                conn,
                cameras=["cam-00", "cam-01"],
                query=Query(T0, T0 + 86400, 86400, per_camera=True, fmt="json"),
                dimensions=(),
                k=40,
                base_s=3600,
            )
        )
    small = [r for r in fine if r.total is None]
    assert small, "night hours are below 40"
    for r in day:  # a day holding a suppressed hour is suppressed: no subtraction recovers the hour
        assert r.total is None
    assert all(r.total is None or r.total >= 40 or r.total == 0 for r in fine)


@pytest.mark.broker
def test_ingest_over_mtls_mosquitto_verifies_acks_and_takes_descriptors(
    tmp_path: Path, pki: DevPki
) -> None:
    acl = camera_acl("civil/v1", ("city",), uplink=("counts", "status", "descriptor"))
    broker = Broker(
        tmp_path / "broker",
        ca=pki.path("civil-ca.crt"),
        cert=pki.path("civil-broker.crt"),
        key=pki.path("civil-broker.key"),
        acl=acl,
    )
    engine = migrated(f"sqlite:///{tmp_path}/hub.sqlite")
    cam = CountCamera("cam-01", 51.05, 3.72)  # the dev PKI's civil-device certificate
    ing = Ingestor(engine, base_s=3600)
    ing.trust(cam.camera, cam.public_key)
    cfg = MqttConfig(
        brokers=["mqtts://127.0.0.1:1"],
        ca=pki.path("civil-ca.crt"),
        cert=pki.path("city.crt"),
        key=pki.path("city.key"),
        ack_every_s=0.1,
    )
    with broker:
        cfg = cfg.model_copy(update={"brokers": [broker.url]})
        hub = MqttIngest(cfg, ing)
        hub.start()
        ctx = client_context(
            pki.path("civil-ca.crt"), pki.path("civil-device.crt"), pki.path("civil-device.key")
        )
        camera = connect(broker.url, ctx, "cam-01")
        acks: list[dict[str, int]] = []
        camera.on_message = lambda _c, _u, m: acks.append(json.loads(m.payload))
        camera.subscribe("civil/v1/cam-01/ack", qos=1)
        time.sleep(0.5)
        camera.publish("civil/v1/cam-01/descriptor", cam.descriptor(T0 * 1000), qos=1, retain=True)
        wires = cam.records(T0, T0 + 6 * 3600)
        for wire in wires + wires[:3]:  # redelivered: harmless
            camera.publish("civil/v1/cam-01/counts", wire, qos=1)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(a["confirmed_through"] == 24 for a in acks):
            time.sleep(0.05)
        camera.loop_stop()
        camera.disconnect()
        hub.stop()
    assert acks
    assert acks[-1] == {"stream": "counts", "confirmed_through": 24}
    assert ing.stats.windows == 24
    assert ing.stats.duplicates == 3
    assert ing.stats.descriptors == 1
    with engine.connect() as conn:
        from hub.inventory import camera_rows  # noqa: PLC0415

        inv = camera_rows(conn)
    assert inv[0]["id"] == "cam-01"
    assert inv[0]["owner"] == "City of Gent"
    assert inv[0]["keys"]


@pytest.fixture
def served(tmp_path: Path, pki: DevPki, store_url: str, engine: Engine) -> Iterator[Served]:
    url = store_url
    cams = cameras(3)
    load(engine, cams, T0, T0 + 86400)
    certs = Certs(pki, tmp_path / "certs")
    cfg = hub_config(url, certs, free_port())
    with api_server(engine, cfg, T0 + 3 * 86400) as port:
        yield engine, cams, certs, port


def _audit(engine: Engine) -> Sequence[Row[str, str, str, int | None]]:
    with engine.connect() as conn:
        return conn.execute(select(Audit.actor, Audit.action, Audit.outcome, Audit.rows)).all()


def test_api_serves_a_grant_as_json_csv_and_datex_and_audits_each(served: Served) -> None:
    engine, _cams, certs, port = served
    gid = _grant(engine)
    path = f"/v1/grants/{gid}/counts?from={T0}&to={T0 + 86400}"
    status, body = get_json(port, certs.context("gent"), path + "&per_camera=1")
    assert status == 200
    rows = body["rows"]
    assert isinstance(rows, list)
    assert len(rows) == 72
    status, csv_body, headers = get(port, certs.context("gent"), path + "&format=csv")
    lines = csv_body.decode().splitlines()
    assert status == 200
    assert len(lines) == 25
    assert lines[0].startswith("start,end,camera,total")
    assert headers["x-onward-sharing"] == "forbidden"
    status, xml, _ = get(port, certs.context("gent"), path + "&format=datex")
    assert status == 200
    assert xml.count(b"<roa:siteMeasurements>") == 24
    assert b'xsi:type="roa:MeasuredDataPublication"' in xml
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    ET.fromstring(xml)  # noqa: S314 - our own output
    served_rows = [r for r in _audit(engine) if r.action == "counts"]
    assert [(r.actor, r.outcome, r.rows) for r in served_rows] == [
        ("gent", "200", 72),
        ("gent", "200", 24),
        ("gent", "200", 24),
    ]


BAD_REQUESTS = [
    (None, "", 401),  # no certificate
    ("brugge", "", 404),  # another recipient's grant
    ("nobody", "", 404),  # a recipient with no grant at all
    ("gent", "&granularity=900", 403),  # finer than the grant
    ("gent", "&granularity=5400", 403),  # not a multiple of it
    ("gent", "&format=xls", 406),  # unknown format
    ("gent", "&to_override=1", 403),  # range past the grant's validity
    ("gent", "&from_bad=1", 400),  # no usable range
]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_bad_requests_get_a_clear_4xx_and_an_audit_line(served: Served) -> None:
    engine, _cams, certs, port = served
    gid = _grant(engine)
    for who, query, status in BAD_REQUESTS:
        end = T0 + 10 * 86400 if "to_override" in query else T0 + 86400
        start = "yesterday" if "from_bad" in query else str(T0)
        got, body = get_json(
            port, certs.context(who), f"/v1/grants/{gid}/counts?from={start}&to={end}{query}"
        )
        assert (who, query, got) == (who, query, status)
        assert body["error"]
        last = _audit(engine)[-1]
        assert last.action == "counts"
        assert last.outcome.startswith(str(status))
        assert last.actor == (who or "-")


def test_expired_and_revoked_grants_are_refused(served: Served) -> None:
    engine, _cams, certs, port = served
    old = _grant(engine, valid_until=T0 + 2 * 86400)
    gone = _grant(engine)
    grantlib.revoke(engine, gone, actor="test")
    for gid, reason in ((old, "grant expired"), (gone, "grant revoked")):
        status, body = get_json(
            port, certs.context("gent"), f"/v1/grants/{gid}/counts?from={T0}&to={T0 + 3600}"
        )
        assert (status, str(body["error"]).split(":")[0]) == (403, reason)
    grantlib.renew(engine, old, until=T0 + 9 * 86400, actor="test")
    status, _ = get_json(
        port, certs.context("gent"), f"/v1/grants/{old}/counts?from={T0}&to={T0 + 3600}"
    )
    assert status == 200
    actions = [r.action for r in _audit(engine) if r.action.startswith("grant-")]
    assert actions.count("grant-revoke") == 1
    assert actions.count("grant-renew") == 1


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_certificate_of_another_ca_is_refused_in_the_handshake_and_audited(
    served: Served,
) -> None:
    engine, _cams, certs, port = served
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        get(port, certs.context("stranger"), "/v1/grants")
    lines: list[Row[str, str, str, int | None]] = []

    def audited() -> bool:
        lines[:] = [r for r in _audit(engine) if r.action == "tls-handshake"]
        return bool(lines)

    assert wait_until(audited, 10)
    assert [(r.actor, r.outcome) for r in lines] == [
        ("-", "refused: certificate verify failed: unable to get local issuer certificate")
    ]
    # The API still serves after it.
    assert get_json(port, certs.context("nobody"), "/v1/grants")[0] == 200


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_an_expired_certificate_of_our_ca_gets_a_401_and_an_audit_line(served: Served) -> None:
    engine, _cams, certs, port = served
    gid = _grant(engine)
    for path, action in (("/v1/grants", "list-grants"), (f"/v1/grants/{gid}/counts", "counts")):
        status, body = get_json(port, certs.context("lapsed"), path)
        assert (status, body["error"]) == (401, "client certificate expired 2021-01-01T00:00:00Z")
        last = _audit(engine)[-1]
        assert (last.actor, last.action, last.outcome) == (
            "gent",
            action,
            "401: client certificate expired 2021-01-01T00:00:00Z",
        )
    status, _, _ = get(port, certs.context("lapsed"), "/")
    assert status == 401


def test_cli_bad_config_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "hub.toml"
    bad.write_text('[store]\nurl = "mysql://x"\n', encoding="utf-8")
    assert hub_main(["--config", str(bad), "check-config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "store.url" in err[0]


def test_cli_db_upgrade_grants_cameras_and_purge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "hub.toml"
    conf.write_text('[store]\nurl = "sqlite:///hub.sqlite"\nretention_days = 1\n', encoding="utf-8")
    args = ["--config", str(conf), "--actor", "alice"]
    assert hub_main([*args, "db", "upgrade"]) == 0
    engine = migrated(f"sqlite:///{tmp_path}/hub.sqlite")
    old = (int(time.time()) - 5 * 86400) // 86400 * 86400
    load(engine, cameras(1), old, old + 3600)
    assert (
        hub_main(
            [
                *args,
                "grant",
                "request",
                "--recipient",
                "gent",
                "--purpose",
                "mobility",
                "--cameras",
                "cam-00",
                "--from",
                str(T0),
                "--until",
                "2030-01-01T00:00:00+00:00",
            ]
        )
        == 0
    )
    assert hub_main([*args, "grant", "approve", "1"]) == 0
    assert (
        hub_main(
            [
                *args,
                "grant",
                "request",
                "--recipient",
                "gent",
                "--purpose",
                "x",
                "--cameras",
                "cam-00",
                "--granularity",
                "1800",
                "--from",
                str(T0),
                "--until",
                "x",
            ]
        )
        == 2
    )
    capsys.readouterr()
    assert hub_main([*args, "cameras", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("cam-00,")
    assert hub_main([*args, "purge"]) == 0
    assert json.loads(capsys.readouterr().out)["windows"] == 4
    with engine.connect() as conn:
        trail = conn.execute(select(Audit.actor, Audit.action)).all()
    assert ("alice", "grant-approve") in trail
    assert ("alice", "purge") in trail


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.chromium
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_recipient_page_renders_its_grants_chart_and_map_in_headless_chromium(
    served: Served, tmp_path: Path
) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium absent: apt-get install chromium (make system-deps)")
    from PIL import Image  # noqa: PLC0415 - the sim extra

    engine, cams, certs, port = served
    _grant(engine, cameras=["cam-00", "cam-01"])
    _grant(engine, recipient="brugge", cameras=["cam-02"])
    status, html, _ = get(port, certs.context("gent"), "/")
    assert status == 200
    text = html.decode()
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text
    page = tmp_path / "page.html"
    page.write_bytes(html)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=900,1400"]
    dom = text  # no script: the DOM chromium draws is the served document
    assert dom.count('class="camera"') == 2  # gent sees its two cameras, not brugge's
    assert 'data-camera="cam-02"' not in dom
    assert dom.count('class="series"') >= 2
    shot = tmp_path / "page.png"
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=60,
        check=True,
    )
    colours = {c for _, c in Image.open(shot).convert("RGB").getcolors(1 << 24) or []}
    assert (27, 108, 168) in colours  # a count series was drawn
    assert (209, 73, 91) in colours  # a camera dot was drawn
    assert cams


@pytest.mark.broker
def test_hub_demo_is_sound_for_two_cities(tmp_path: Path) -> None:
    from simulator.hubdemo import HubDemo, run_hub_demo  # noqa: PLC0415

    report = run_hub_demo(HubDemo(tmp_path, 4))
    assert report["ok"], report
    cities = report["cities"]
    assert isinstance(cities, dict)
    assert cities["gent"]["cameras"] == ["cam-00", "cam-01"]
    assert cities["brugge"]["cameras"] == ["cam-02", "cam-03"]
    assert report["cross_grant_status"] == 404


@pytest.mark.broker
@pytest.mark.postgres
def test_two_hub_instances_share_the_stream_through_one_postgresql(
    tmp_path: Path, pki: DevPki, pg_cluster: PgCluster
) -> None:
    acl = camera_acl("civil/v1", ("city",), uplink=("counts", "status", "descriptor"))
    broker = Broker(
        tmp_path / "broker",
        ca=pki.path("civil-ca.crt"),
        cert=pki.path("civil-broker.crt"),
        key=pki.path("civil-broker.key"),
        acl=acl,
    )
    engine = migrated(pg_cluster.new_database())
    cam = CountCamera("cam-01", 51.05, 3.72)
    hubs = []
    with broker:
        for n in (1, 2):
            ing = Ingestor(engine, base_s=3600)
            ing.trust(cam.camera, cam.public_key)
            cfg = MqttConfig(
                brokers=[broker.url],
                ca=pki.path("civil-ca.crt"),
                cert=pki.path("city.crt"),
                key=pki.path("city.key"),
                client_id=f"hub-{n}",
                ack_every_s=0.1,
            )
            hubs.append((ing, MqttIngest(cfg, ing)))
        for _, mq in hubs:
            mq.start()
        ctx = client_context(
            pki.path("civil-ca.crt"), pki.path("civil-device.crt"), pki.path("civil-device.key")
        )
        camera = connect(broker.url, ctx, "cam-01")
        acks: list[int] = []
        camera.on_message = lambda _c, _u, m: acks.append(
            json.loads(m.payload)["confirmed_through"]
        )
        camera.subscribe("civil/v1/cam-01/ack", qos=1)
        time.sleep(0.5)
        for wire in cam.records(T0, T0 + 12 * 3600):
            camera.publish("civil/v1/cam-01/counts", wire, qos=1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and 48 not in acks:
            time.sleep(0.05)
        camera.loop_stop()
        camera.disconnect()
        for _, mq in hubs:
            mq.stop()
    stored = [ing.stats.windows for ing, _ in hubs]
    assert 48 in acks
    assert sum(stored) == 48
    assert all(n > 0 for n in stored), f"the shared subscription split nothing: {stored}"
    assert sum(ing.stats.problems for ing, _ in hubs) == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Window)).scalar() == 48
    engine.dispose()


def test_a_restarted_hub_continues_each_chain_and_follows_a_key_rotation(engine: Engine) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    from agent.core.canonical import b64  # noqa: PLC0415
    from agent.journal.records import build_record  # noqa: PLC0415
    from agent.security.crypto import Signer  # noqa: PLC0415
    from hub.inventory import camera_rows  # noqa: PLC0415

    cam = cameras(1)[0]
    load(engine, [cam], T0, T0 + 6 * 3600)
    again = Ingestor(engine, base_s=3600)  # a new process: state from the store
    new_key = ed25519.Ed25519PrivateKey.generate()
    new_signer = Signer(new_key)
    cam.seq += 1
    rotation, cam.prev = build_record(
        camera=cam.camera,
        stream="counts",
        seq=cam.seq,
        prev=cam.prev,
        ts_ms=(T0 + 6 * 3600) * 1000,
        boot=cam.boot,
        kind="key",
        payload={
            "new_kid": new_signer.key_id,
            "new_key": b64(new_key.public_key().public_bytes_raw()),
            "retires": cam.signer.key_id,
        },
        signer=cam.signer,
    )
    old_signer = cam.signer
    cam.signer = new_signer
    later = cam.records(T0 + 6 * 3600, T0 + 12 * 3600)
    assert again.feed_records([(cam.camera, rotation), *((cam.camera, w) for w in later)]) == []
    assert dict(again.due_acks()) == {cam.camera: 24 + 1 + 24}
    cam.signer = old_signer  # the retired key signs no more
    stale = cam.records(T0 + 12 * 3600, T0 + 12 * 3600 + 900)
    assert [p.kind for _, p in again.feed_records([(cam.camera, w) for w in stale])] == [
        "retired-key"
    ]
    cam.signer = new_signer
    assert again.feed_descriptor(cam.camera, cam.descriptor((T0 + 7 * 3600) * 1000)) is None
    with engine.connect() as conn:
        keys = camera_rows(conn)[0]["keys"]
    assert isinstance(keys, list)
    assert [(k["source"], k["valid_from_seq"], k["retired_after_seq"]) for k in keys] == [
        ("registered", None, 25),
        ("rotation", 26, None),
    ]
