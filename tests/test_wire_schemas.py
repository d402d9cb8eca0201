"""The wire contract as files: docs/asyncapi.yaml and docs/schemas/ hold, and real traffic obeys.

Every broker test validates each message it sees (tests/wire_schemas.py, hooked
into the ``police`` and ``civil`` fixtures); the broker tests here make sure
every kind of message crosses a broker at least once.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from conftest import JournalKit, make_read, pki_config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from jsonschema import Draft202012Validator
from uplink_rig import (
    city_backoffice,
    civil_uplink,
    device_context,
    make_backoffice,
    make_uplink,
    uplink_config,
    wait_until,
)
from wire_schemas import BASE, SCHEMAS, problems, registry, tap_of, validator

from agent.civil.counts import CountWindow, civil_message
from agent.config.load import load_config
from agent.config.schema import CountsConfig
from agent.security.crypto import key_id
from agent.uplink.descriptor import build_descriptor

if TYPE_CHECKING:
    from simulator.broker import Broker
    from simulator.pki import DevPki

REPO = Path(__file__).resolve().parents[1]
ASYNCAPI = REPO / "docs" / "asyncapi.yaml"
PROTOCOL = REPO / "docs" / "PROTOCOL.md"


def _files() -> list[Path]:
    return sorted(SCHEMAS.glob("*.json"))


def _api() -> dict[str, Any]:
    return yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref" and isinstance(v, str)] + [
            r for v in node.values() for r in _refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _pointer(doc: dict[str, Any], ref: str) -> object:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


# ------------------------------------------------------------------ the files


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_each_schema_is_draft_2020_12_and_knows_every_field_of_its_message(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == BASE + path.name
    if path.name != "common.json":
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False, "an unknown field must fail"
        for ref in _refs(schema):  # every reference resolves inside docs/schemas/
            registry().resolver(base_uri=schema["$id"]).lookup(ref)


def test_asyncapi_describes_both_brokers_every_topic_and_mtls() -> None:
    api = _api()
    assert api["asyncapi"] == "3.0.0"
    assert set(api["servers"]) == {"police", "civil"}
    schemes = api["components"]["securitySchemes"]
    for name, server in api["servers"].items():
        assert server["protocol"] == "mqtt"
        assert server["protocolVersion"] == "5"
        (security,) = server["security"]
        assert schemes[security["$ref"].rsplit("/", 1)[-1]]["type"] == "X509", name
    addresses = {c["address"] for c in api["channels"].values()}
    documented = set(
        re.findall(r"^\| `([a-z]+/v1/\{camera\}/[a-z]+)` \|", PROTOCOL.read_text(), re.MULTILINE)
    )
    assert documented, "docs/PROTOCOL.md lost its topic table"
    for side, prefix in (("police", "anpr/v1"), ("civil", "civil/v1")):
        for leaf in ("ack", "replay", "status"):
            documented.add(f"{prefix}/{{camera}}/{leaf}")
        assert {a for a in addresses if a.startswith(prefix)} == {
            d for d in documented if d.startswith(prefix)
        }, side
    # Every channel has its operation, QoS 1, on the broker of its flux.
    used = {op["channel"]["$ref"] for op in api["operations"].values()}
    assert used == {f"#/channels/{name}" for name in api["channels"]}
    for name, op in api["operations"].items():
        assert op["action"] in {"send", "receive"}
        assert op["bindings"]["mqtt"]["qos"] == 1, name
        channel = _pointer(api, op["channel"]["$ref"])
        (server,) = channel["servers"]  # type: ignore[index]
        assert ("police" in server["$ref"]) == channel["address"].startswith("anpr/"), name  # type: ignore[index]


def test_every_payload_is_a_schema_file_and_every_schema_file_is_used() -> None:
    api = _api()
    named = set()
    for ref in _refs(api):
        if ref.startswith("#/"):
            _pointer(api, ref)  # resolves
        else:
            assert ref.startswith("./schemas/"), ref
            assert (ASYNCAPI.parent / ref).is_file(), ref
            named.add(ref.removeprefix("./schemas/"))
    reachable = set(named)
    for name in named:  # and what those refer to (common.json, civil-counts.json)
        schema = json.loads((SCHEMAS / name).read_text())
        reachable.update(r.split("#")[0] for r in _refs(schema) if not r.startswith("#"))
    assert reachable == {p.name for p in _files()}


def test_the_protocol_document_points_at_every_schema_and_holds_no_copy() -> None:
    doc = PROTOCOL.read_text(encoding="utf-8")
    assert "source of truth" in doc
    for path in _files():
        assert f"schemas/{path.name}" in doc, path.name
    assert '"$schema"' not in doc, "a schema in PROTOCOL.md would be a second source"


@pytest.mark.parametrize(
    ("name", "message", "field"),
    [
        ("ack", {"stream": "reads", "confirmed_through": 3}, "note"),
        ("replay", {"stream": "counts", "from": 2, "to": 9}, "why"),
    ],
)
def test_a_field_the_schema_does_not_know_fails(
    name: str, message: dict[str, object], field: str
) -> None:
    assert list(validator(name).iter_errors(message)) == []
    assert list(validator(name).iter_errors({**message, field: 1}))


def test_no_traffic_figure_fits_the_civil_heartbeat() -> None:
    base = {"v": 1, "camera": "cam-01", "state": "offline", "ts": 1, "software": "anpr-edge 1"}
    base["boot"] = "0" * 32
    assert problems("civil", "civil/v1/cam-01/status", json.dumps(base).encode()) == []
    for figure in ("reads", "frames", "fps"):
        online = {**base, "state": "online", "stream": "counts", "backlog": 0, "head_seq": 0}
        online.update({"sent_through": 0, "confirmed_through": 0, figure: 12})
        assert problems("civil", "civil/v1/cam-01/status", json.dumps(online).encode())
        assert problems("police", "anpr/v1/cam-01/status", json.dumps(online).encode()) == []


# ------------------------------------------------------------------ real traffic


@pytest.mark.broker
def test_every_police_message_crosses_the_broker_and_matches_its_schema(
    police: Broker, pki: DevPki, tmp_path: Path
) -> None:
    kit = JournalKit(tmp_path / "journal.sqlite", checkpoint_every=5, retention_days=1)
    journal = kit.open()
    config = tmp_path / "agent.toml"
    config.write_text(pki_config(pki), encoding="utf-8")
    descriptor = build_descriptor(
        load_config(config, {}).config,
        kit.signer,
        sealed_to="ab" * 32,
        police_cert_sha256="cd" * 32,
        civil_cert_sha256=None,
        ts_ms=1_800_000_000_000,
    )
    office = make_backoffice(police.url, pki, kit)
    office.drop_once("cam-01", {3})  # a gap: the back office asks for a replay
    office.start()
    uplink = make_uplink(
        journal,
        uplink_config(pki, [police.url]),
        lambda: device_context(pki),
        descriptor=descriptor,
    )
    uplink.start()
    try:
        for i in range(12):
            journal.append_read(make_read(f"1ABC{i:03d}"))
        head = journal.stats().streams[1].head_seq
        assert office.wait_complete("cam-01", head, timeout=30)
        # The back office acks every 0.2 s and the uplink writes the mark from its loop.
        assert wait_until(lambda: journal.stats().streams[1].confirmed_through >= head, 10)
        kit.clock.advance(2 * 86400)  # confirmed and past retention: a purge record
        # The writer runs its own maintenance once the clock has moved, so this call
        # may find nothing left to purge; the purge record is checked on the wire below.
        journal.maintain().result(10)
        new = ed25519.Ed25519PrivateKey.generate().public_key()
        raw = new.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        announcement: dict[str, object] = {
            "new_kid": key_id(new),
            "new_key": base64.b64encode(raw).decode(),
            "retires": kit.signer.key_id,
        }
        journal.submit_key("reads", announcement).result(10)
        head = journal.stats().streams[1].head_seq
        assert office.wait_complete("cam-01", head, timeout=30)
    finally:
        uplink.stop(5)
        office.stop()
        kit.close()
    want = {
        "record-read",
        "record-checkpoint",
        "record-purge",
        "record-key",
        "status-police",
        "descriptor",
        "ack",
        "replay",
    }
    seen = tap_of(police).seen
    assert wait_until(lambda: want <= set(seen.schemas), 5), dict(seen.schemas)
    assert seen.violations == []


@pytest.mark.broker
def test_every_civil_message_crosses_the_broker_and_matches_its_schema(
    civil: Broker, pki: DevPki, tmp_path: Path
) -> None:
    kit = JournalKit(tmp_path / "journal.sqlite", checkpoint_every=3)
    journal = kit.open()
    config = tmp_path / "agent.toml"
    config.write_text(pki_config(pki), encoding="utf-8")
    descriptor = build_descriptor(
        load_config(config, {}).config,
        kit.signer,
        sealed_to="ab" * 32,
        police_cert_sha256=None,
        civil_cert_sha256="cd" * 32,
        ts_ms=1_800_000_000_000,
        flux="civil",
    )
    uplink = civil_uplink(pki, journal, civil.url, kit.clock, descriptor=descriptor)
    city = city_backoffice(pki, kit, civil.url)
    city.start()
    assert city.wait_ready(10)  # subscribed before the first count goes out
    uplink.start()
    counts = CountsConfig(legal_basis="test")
    try:
        start = 1_800_000_000
        for i, total in enumerate((0, 3, 40, 12)):
            cells = ((("1", "approaching", "B"), total),) if total else ()
            window = CountWindow(start + 900 * i, start + 900 * (i + 1), cells, 0, "full")
            journal.append_count(dict(civil_message(window, counts, "cam-01")))
        head = journal.stats().streams[0].head_seq
        assert city.wait_complete("cam-01", head, timeout=30)
    finally:
        uplink.stop(5)
        city.stop()
        kit.close()
    seen = tap_of(civil).seen
    want = {"record-count", "record-checkpoint", "status-civil", "descriptor-civil", "ack"}
    assert wait_until(lambda: want <= set(seen.schemas), 5), dict(seen.schemas)
    assert seen.violations == []
