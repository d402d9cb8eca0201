"""``anpr-sim demo --cameras N --hub``: cameras -> civil broker -> hub -> two cities.

N count cameras (the agent's civil path: its ``civil_message`` and signed
``count`` records, see :mod:`simulator.hubcams`) publish two days of count
windows and their signed descriptors over MQTT 5 with their own client
certificates to a real mTLS mosquitto. The hub ingests them through a shared
subscription (verify, dedupe, ack), an operator registers the cameras' keys,
grants two cities different views, and each city fetches its counts from the
HTTPS API with its own client certificate. The report checks what each city
sees against the truth (counts error) and for privacy (no plate-like token,
no figure between 1 and k-1) on the API's own output, and that a city cannot
read the other's grant.
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from hub import grants as grantlib
from hub.config import ApiConfig, DisclosureConfig, HubConfig, MqttConfig, StoreConfig
from hub.ingest import Ingestor, MqttIngest
from hub.store import make_engine, upgrade
from simulator.broker import Broker, camera_acl, free_port
from simulator.hubcams import CountCamera
from simulator.hubhttp import api_server, get, get_json
from simulator.mqttc import client_context, connect
from simulator.pki import LOCAL_NAMES, init_pki, issue_cert, load_issued, new_ca, save_issued

if TYPE_CHECKING:
    from pathlib import Path

    import paho.mqtt.client as mqtt

__all__ = ["HubDemo", "run_hub_demo"]

K = 5
DAYS = 2
# The agent's log-redaction rule for a plate (agent/service/_logs.py): a run of 4-10
# capitals and digits, with both, optionally joined by '.' or '-'.
_PLATE = re.compile(
    r"(?<![A-Za-z0-9])(?<![A-Za-z0-9][.-])"
    r"(?=(?:[.-]?[A-Z0-9])*?[A-Z])(?=(?:[.-]?[A-Z0-9])*?[0-9])"
    r"[A-Z0-9](?:[.-]?[A-Z0-9]){3,9}(?![A-Za-z0-9])(?![.-][A-Za-z0-9])"
)
_NUMBER = re.compile(rb"(?<![\w.:-])\d+(?![\w.:-])")


@dataclass
class HubDemo:
    """Where the demo runs and what it found."""

    workdir: Path
    cameras: int
    seed: int = 1


def _pki(root: Path, cams: list[CountCamera]) -> dict[str, tuple[Path, Path]]:
    """Dev PKI, a client certificate per camera and for the hub, a recipients' CA."""
    pki = init_pki(root / "pki", "cam-00", force=True)
    civil = load_issued(pki.path("civil-ca.crt"), pki.path("civil-ca.key"))
    out = {
        c.camera: save_issued(root / "pki", f"civil-{c.camera}", issue_cert(civil, c.camera))
        for c in cams
    }
    out["hub"] = save_issued(root / "pki", "hub", issue_cert(civil, "hub"))
    rca = new_ca("anpr-edge dev recipients CA")
    out["recipients-ca"] = save_issued(root / "pki", "recipients-ca", rca)
    out["api"] = save_issued(
        root / "pki", "api", issue_cert(rca, "localhost", server_names=LOCAL_NAMES)
    )
    for city in ("gent", "brugge"):
        out[city] = save_issued(root / "pki", city, issue_cert(rca, city))
    out["civil-ca"] = (pki.path("civil-ca.crt"), pki.path("civil-ca.key"))
    out["civil-broker"] = (pki.path("civil-broker.crt"), pki.path("civil-broker.key"))
    return out


def _publish(
    broker: Broker,
    files: dict[str, tuple[Path, Path]],
    cams: list[CountCamera],
    start: int,
    end: int,
) -> int:
    """Each camera connects with its own certificate and sends its descriptor and windows."""
    sent = 0
    clients: list[mqtt.Client] = []
    for cam in cams:
        crt, key = files[cam.camera]
        ctx = client_context(files["civil-ca"][0], crt, key)
        client = connect(broker.url, ctx, cam.camera)
        clients.append(client)
        client.publish(
            f"civil/v1/{cam.camera}/descriptor", cam.descriptor(start * 1000), qos=1, retain=True
        )
        infos = [
            client.publish(f"civil/v1/{cam.camera}/counts", w, qos=1)
            for w in cam.records(start, end)
        ]
        for info in infos:
            info.wait_for_publish(30)
        sent += len(infos)
    for client in clients:
        client.disconnect()
        client.loop_stop()
    return sent


def _numbers_small(blob: bytes, k: int) -> list[int]:
    """The figures of an output (see :func:`_strip_meta`) that are 1..k-1."""
    return [n for m in _NUMBER.findall(blob) if 0 < (n := int(m)) < k]


class _CityReply(TypedDict):
    """One city's counts request: status, parsed JSON body, and each format's bytes."""

    status: int
    body: dict[str, Any]  # parsed JSON
    outputs: dict[str, bytes]


def _camera_ids(port: int, ctx: ssl.SSLContext) -> list[str]:
    """The ids of the cameras the hub shows this client, sorted."""
    cameras = get_json(port, ctx, "/v1/cameras")[1]["cameras"]
    if not isinstance(cameras, list):
        raise TypeError(f"/v1/cameras: 'cameras' is not a list but {type(cameras).__name__}")
    return sorted(str(c["id"]) for c in cameras)


def _city(  # noqa: PLR0913 - one city's request
    port: int,
    ctx: ssl.SSLContext,
    gid: int,
    *,
    start: int,
    end: int,
    per_camera: bool,
    step: int,
) -> _CityReply:
    base = f"/v1/grants/{gid}/counts?from={start}&to={end}&granularity={step}"
    base += "&per_camera=1" if per_camera else ""
    status, body = get_json(port, ctx, base)
    outputs = {"json": json.dumps(body).encode()}
    for fmt in ("csv", "datex"):
        st, blob, _ = get(port, ctx, base + f"&format={fmt}")
        outputs[fmt] = blob if st == 200 else b""
    return {"status": status, "body": body, "outputs": outputs}


def run_hub_demo(demo: HubDemo) -> dict[str, object]:  # noqa: PLR0915 - one story, in order
    """Run it; return the report (``ok`` says whether every check passed)."""
    root = demo.workdir
    shutil.rmtree(root / "hub", ignore_errors=True)
    (root / "hub").mkdir(parents=True, exist_ok=True)
    today = int(time.time()) // 86400 * 86400
    start, end = today - DAYS * 86400, today
    cams = [
        CountCamera(
            f"cam-{i:02d}",
            51.0 + 0.01 * i,
            3.7 + 0.01 * (i % 5),
            seed=demo.seed * 1000 + i,
            rate_per_hour=150 + 50 * (i % 4),
            k=K,
        )
        for i in range(demo.cameras)
    ]
    files = _pki(root / "hub", cams)
    acl = camera_acl("civil/v1", ("hub",), uplink=("counts", "status", "descriptor"))
    broker = Broker(
        root / "hub" / "broker",
        ca=files["civil-ca"][0],
        cert=files["civil-broker"][0],
        key=files["civil-broker"][1],
        acl=acl,
    )
    url = f"sqlite:///{root / 'hub' / 'hub.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    ingestor = Ingestor(engine, base_s=3600)
    for cam in cams:  # the operator registers each camera's signing key
        ingestor.trust(cam.camera, cam.public_key)
    report: dict[str, object] = {"cameras": demo.cameras, "k": K, "from": start, "to": end}
    with broker:
        mcfg = MqttConfig(
            brokers=[broker.url],
            ca=files["civil-ca"][0],
            cert=files["hub"][0],
            key=files["hub"][1],
            ack_every_s=0.2,
        )
        ingest = MqttIngest(mcfg, ingestor)
        ingest.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        sent = _publish(broker, files, cams, start, end)
        expected = len(cams) * DAYS * 96
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and ingestor.stats.windows < expected:
            time.sleep(0.1)
        time.sleep(0.5)
        ingest.stop()
        report["ingest"] = {
            "sent": sent,
            "windows": ingestor.stats.windows,
            "duplicates": ingestor.stats.duplicates,
            "problems": ingestor.stats.problems,
            "descriptors": ingestor.stats.descriptors,
            "acks_sent": ingest.acks_sent,
            "seconds": round(time.monotonic() - t0, 2),
        }
    half = max(1, demo.cameras // 2)
    gent_cams = [c.camera for c in cams[:half]]
    others = cams[half:] or cams[:1]
    lats = [c.lat for c in others]
    lons = [c.lon for c in others]
    area = (min(lats) - 1e-4, min(lons) - 1e-4, max(lats) + 1e-4, max(lons) + 1e-4)
    g_gent = grantlib.request(
        engine,
        recipient="gent",
        purpose="mobility plan: hourly per camera",
        cameras=gent_cams,
        area=None,
        dimensions=["lane", "direction"],
        granularity_s=3600,
        per_camera=True,
        retention_days=90,
        onward_sharing=False,
        valid_from=start,
        valid_until=end + 30 * 86400,
        actor="demo-operator",
    )
    g_brugge = grantlib.request(
        engine,
        recipient="brugge",
        purpose="air quality: 3-hourly, whole area",
        cameras=None,
        area=area,
        dimensions=[],
        granularity_s=10800,
        per_camera=False,
        retention_days=30,
        onward_sharing=True,
        valid_from=start,
        valid_until=end + 30 * 86400,
        actor="demo-operator",
    )
    for gid in (g_gent, g_brugge):
        grantlib.approve(engine, gid, actor="demo-operator", base_s=3600)
    hub_cfg = HubConfig(
        store=StoreConfig(url=url),
        api=ApiConfig(
            host="127.0.0.1",
            port=free_port(),
            cert=files["api"][0],
            key=files["api"][1],
            client_ca=files["recipients-ca"][0],
        ),
        disclosure=DisclosureConfig(k=K, base_s=3600),
    )
    truth = {c.camera: c.truth for c in cams}
    with api_server(engine, hub_cfg) as port:
        ctx = {}
        for city in ("gent", "brugge"):
            ctx[city] = ssl.create_default_context(cafile=str(files["recipients-ca"][0]))
            ctx[city].load_cert_chain(str(files[city][0]), str(files[city][1]))
        seen = {
            "gent": _city(
                port, ctx["gent"], g_gent, start=start, end=end, per_camera=True, step=3600
            ),
            "brugge": _city(
                port, ctx["brugge"], g_brugge, start=start, end=end, per_camera=False, step=10800
            ),
        }
        visible = {city: _camera_ids(port, ctx[city]) for city in ("gent", "brugge")}
        cross, _ = get_json(
            port, ctx["gent"], f"/v1/grants/{g_brugge}/counts?from={start}&to={end}"
        )
        page_status, _, _ = get(port, ctx["gent"], "/")
    cities: dict[str, object] = {}
    ok = True
    for city, got in seen.items():
        body = got["body"]
        rows = body.get("rows", []) if isinstance(body, dict) else []
        published = suppressed = 0
        err_abs = truth_sum = 0
        cams_seen: set[str] = set()
        for row in rows:
            cams_here = [row["camera"]] if row["camera"] != "*" else visible[city]
            cams_seen.update(cams_here)
            true = sum(
                v
                for cam in cams_here
                for s, v in truth[cam].items()
                if row["start"] <= s < row["end"]
            )
            if row["total"] is None:
                suppressed += 1
                continue
            published += 1
            err_abs += abs(true - row["total"])
            truth_sum += true
        outputs = got["outputs"]
        small = {
            fmt: len(_numbers_small(_strip_meta(fmt, blob), K)) for fmt, blob in outputs.items()
        }
        plates = {
            fmt: len(_PLATE.findall(blob.decode(errors="replace"))) for fmt, blob in outputs.items()
        }
        rel = err_abs / truth_sum if truth_sum else 0.0
        city_ok = (
            got["status"] == 200
            and published > 0
            and rel <= 0.05
            and not any(small.values())
            and not any(plates.values())
        )
        ok = ok and city_ok
        cities[city] = {
            "grant": g_gent if city == "gent" else g_brugge,
            "status": got["status"],
            "cameras": visible[city],
            "rows_cameras": sorted(cams_seen),
            "rows": len(rows),
            "published": published,
            "suppressed": suppressed,
            "counts_error": round(rel, 4),
            "small_figures": small,
            "plate_like_tokens": plates,
            "bytes": {fmt: len(b) for fmt, b in outputs.items()},
            "ok": city_ok,
        }
    isolation_ok = (
        cross == 404
        and page_status == 200
        and visible["gent"] == sorted(gent_cams)
        and visible["brugge"] == sorted(c.camera for c in others)
    )
    ingest_ok = report["ingest"]["windows"] == len(cams) * DAYS * 96  # type: ignore[index]
    report.update(
        cities=cities,
        cross_grant_status=cross,
        page_status=page_status,
        ok=ok and isolation_ok and ingest_ok,
    )
    engine.dispose()
    (root / "hub" / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


def _strip_meta(fmt: str, blob: bytes) -> bytes:
    """Only the count figures of an output: times, grant ids, granularity and k are not counts."""
    if fmt == "json":
        doc = json.loads(blob)
        figures = []
        for row in doc.get("rows", []):
            figures += [row.get("total"), row.get("late")]
            for counts in (row.get("labels") or {}).values():
                figures += list(counts.values())
        return " ".join(str(f) for f in figures if f is not None).encode()
    if fmt == "csv":
        lines = blob.decode().splitlines()[1:]
        return " ".join(
            " ".join(line.split(",")[3:5] + line.split(",")[7:]) for line in lines
        ).encode()
    # DATEX carries vehicles per hour: back to the step's count (rate x period / 3600).
    pairs = re.findall(
        rb"<com:vehicleFlowRate>(\d+)</com:vehicleFlowRate>.*?<roa:period>(\d+)</roa:period>", blob
    )
    found = [str(round(int(rate) * int(period) / 3600)).encode() for rate, period in pairs]
    return b" ".join(found)


def main_hub_demo(workdir: Path, cameras: int, *, seed: int, as_json: bool) -> int:
    """``anpr-sim demo --hub``: run, print the report (one JSON object with ``--json``)."""
    if not as_json:
        print(f"anpr-hub demo in {workdir / 'hub'}: {cameras} cameras, {DAYS} days of windows")
    report = run_hub_demo(HubDemo(workdir, cameras, seed))
    if as_json:
        print(json.dumps(report))
    else:
        for city, seen in report["cities"].items():  # type: ignore[attr-defined]
            print(
                f"{city}: {len(seen['cameras'])} cameras, {seen['rows']} rows, "
                f"{seen['suppressed']} suppressed, counts error {seen['counts_error']:.2%}, "
                f"small figures {sum(seen['small_figures'].values())}, "
                f"plate-like tokens {sum(seen['plate_like_tokens'].values())}"
            )
        verdict = "sound" if report["ok"] else "FAILED"
        print(f"demo --hub: {verdict}; report {workdir / 'hub' / 'report.json'}")
    return 0 if report["ok"] else 1
