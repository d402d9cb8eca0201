"""Every message on a test broker, checked against its JSON Schema in docs/schemas/.

The schemas are the wire contract's source of truth (docs/PROTOCOL.md refers to
them, docs/asyncapi.yaml names them per topic). :class:`SchemaTap` subscribes to
a whole prefix of a test broker with the back office's identity and validates
every message the agent and the reference back offices send there; the
``police`` and ``civil`` fixtures (conftest.py) run one and fail the test on a
message no schema accepts, so a new field fails loudly until it is added to its
schema. This is the one place where the tests hook the schemas in.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from jsonschema import Draft202012Validator
from paho.mqtt.enums import CallbackAPIVersion
from referencing import Registry, Resource

from agent.config.schema import broker_endpoint
from simulator.mqttc import client_context

if TYPE_CHECKING:
    from collections.abc import Iterator

    from simulator.broker import Broker
    from simulator.pki import DevPki

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"
BASE = "https://anpr-edge.invalid/schemas/"

# Topic leaf -> schema file, per side; records are told apart by their "type".
RECORD_TYPES = {
    "reads": ("read", "checkpoint", "purge", "key"),
    "counts": ("count", "checkpoint", "purge", "key"),
}
LEAVES = {
    "police": {"reads": "record", "status": "status-police", "descriptor": "descriptor",
               "ack": "ack", "replay": "replay"},
    "civil": {"counts": "record", "status": "status-civil", "descriptor": "descriptor-civil",
              "ack": "ack", "replay": "replay"},
}  # fmt: skip


@cache
def registry() -> Registry[Any]:
    """Every schema file, under its ``$id``: references resolve without any network."""
    resources = []
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        if schema.get("$id") != BASE + path.name:
            raise AssertionError(f"{path.name}: $id must be {BASE + path.name}")
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    """The validator of ``docs/schemas/{name}.json``."""
    schema = registry().contents(f"{BASE}{name}.json")
    return Draft202012Validator(schema, registry=registry())


def schema_of(side: str, topic: str, message: object) -> str:
    """The schema a message on ``topic`` must follow (ValueError when no topic has one)."""
    leaf = topic.rsplit("/", 1)[-1]
    name = LEAVES[side].get(leaf)
    if name is None:
        raise ValueError(f"{topic}: no {side} topic ends in {leaf!r} (docs/asyncapi.yaml)")
    if name == "record":
        kind = message.get("type") if isinstance(message, dict) else None
        if kind not in RECORD_TYPES[leaf]:
            raise ValueError(f"{topic}: a record of type {kind!r} does not go on {leaf}")
        return f"record-{kind}"
    return name


def problems(side: str, topic: str, payload: bytes) -> list[str]:
    """Why the message breaks the contract (empty when its schema accepts it)."""
    try:
        message = json.loads(payload)
        name = schema_of(side, topic, message)
    except ValueError as exc:
        return [f"{topic}: {exc}"]
    return [
        f"{topic}: {name}.json: {'/'.join(map(str, err.absolute_path)) or '(top)'}: {err.message}"
        for err in validator(name).iter_errors(message)
    ]


@dataclass
class Seen:
    """What a tap saw: messages per schema, and every violation."""

    schemas: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    excused: list[str] = field(default_factory=list)


class SchemaTap:
    """A subscriber to ``{prefix}/#`` on one test broker that validates every message."""

    def __init__(self, broker: Broker, pki: DevPki, side: str) -> None:
        self.side = side
        self.prefix, identity, ca = {
            "police": ("anpr/v1", "backoffice", "police-ca.crt"),
            "civil": ("civil/v1", "city", "civil-ca.crt"),
        }[side]
        self.seen = Seen()
        self._excused: set[str] = set()
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"schema-tap-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        ctx = client_context(pki.path(ca), pki.path(f"{identity}.crt"), pki.path(f"{identity}.key"))
        client.tls_set_context(ctx)
        # The broker may be killed and started again. paho annotates the delays as int
        # seconds, but waits a float as well; 0.1 s keeps the restart tests short.
        client.reconnect_delay_set(0.1, 1)  # type: ignore[arg-type]
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *_: self._subscribed.set()
        client.on_message = self._on_message
        self._client = client
        self._url = broker.url

    def start(self, timeout: float = 10.0) -> None:
        """Connect and subscribe before the test sends anything."""
        host, port = broker_endpoint(self._url)
        self._client.connect_async(host, port, keepalive=10)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            raise AssertionError(f"schema tap could not subscribe on {self._url}")

    def stop(self, settle_s: float = 0.3) -> Seen:
        """Let the last messages arrive, disconnect, and return what was seen."""
        time.sleep(settle_s)
        self._client.disconnect()
        self._client.loop_stop()
        return self.seen

    def excuse(self, *leaves: str) -> None:
        """A test sends malformed messages on these topics on purpose: do not count them."""
        self._excused.update(leaves)

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        client.subscribe(f"{self.prefix}/#", qos=1)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        found = problems(self.side, message.topic, bytes(message.payload))
        with self._lock:
            if not found:
                payload = json.loads(message.payload)
                self.seen.schemas[schema_of(self.side, message.topic, payload)] += 1
            elif message.topic.rsplit("/", 1)[-1] in self._excused:
                self.seen.excused.extend(found)
            else:
                self.seen.violations.extend(found)


# The tap of each running test broker (by URL): a test that sends bad messages on purpose
# excuses them with tap_of(police).excuse("ack").
TAPS: dict[str, SchemaTap] = {}


def tap_of(broker: Broker) -> SchemaTap:
    """The schema tap watching ``broker``."""
    return TAPS[broker.url]


@contextlib.contextmanager
def tapped(broker: Broker, pki: DevPki, side: str) -> Iterator[SchemaTap]:
    """Watch ``broker`` while the block runs; fail on any message no schema accepts."""
    tap = SchemaTap(broker, pki, side)
    tap.start()
    TAPS[broker.url] = tap
    try:
        yield tap
    finally:
        del TAPS[broker.url]
        seen = tap.stop()
    if seen.violations:
        shown = "\n  ".join(seen.violations[:10])
        raise AssertionError(
            f"{len(seen.violations)} message(s) on the {side} broker break "
            f"docs/schemas/:\n  {shown}"
        )
