"""Ingest over MQTT 5 with mutual TLS: one client per civil broker, one shared subscription.

Counts arrive on ``$share/{group}/{prefix}/+/counts`` (several hub instances
split the load; their common database keeps dedupe, chain links and acks
right), status and descriptors on their own (retained) topics. A worker
thread takes what arrived, in batches, through :class:`Ingestor` (one
transaction per batch); a ticker acks, per camera, the highest seq below
which every record is stored, and asks for a replay when a gap stays open.
"""

from __future__ import annotations

import json
import logging
import queue
import ssl
import threading
import time
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.config.schema import broker_endpoint

if TYPE_CHECKING:
    from paho.mqtt.reasoncodes import ReasonCode

    from hub.config import MqttConfig
    from hub.ingest.core import Ingestor

__all__ = ["MqttIngest", "client_context"]

log = logging.getLogger("anpr.hub.ingest")

_BATCH = 500
_QUEUE = 50_000  # bounded: a full queue blocks paho's thread (back-pressure on the broker)


def client_context(cfg: MqttConfig) -> ssl.SSLContext:
    """TLS >= 1.2, only the configured CA, host name checked, the hub's certificate presented."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=str(cfg.ca))
    ctx.load_cert_chain(str(cfg.cert), str(cfg.key))
    return ctx


class MqttIngest:
    """The hub's MQTT side: start, stop, and figures."""

    def __init__(
        self, cfg: MqttConfig, ingestor: Ingestor, ctx: ssl.SSLContext | None = None
    ) -> None:
        self._cfg = cfg
        self._ingestor = ingestor
        self._ctx = ctx or client_context(cfg)
        self._queue: queue.Queue[tuple[str, bytes]] = queue.Queue(_QUEUE)
        self._stop = threading.Event()
        self.announced: dict[str, int] = {}  # camera -> sent_through of its counts heartbeat
        self.replays_requested = 0
        self.acks_sent = 0
        self._clients = [self._client(i, url) for i, url in enumerate(cfg.brokers)]
        self._worker = threading.Thread(target=self._work, name="hub-ingest", daemon=True)
        self._ticker = threading.Thread(target=self._tick, name="hub-acks", daemon=True)

    def _client(self, index: int, url: str) -> tuple[mqtt.Client, str]:
        suffix = f"-{index}" if index else ""
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._cfg.client_id + suffix,
            protocol=mqtt.MQTTv5,
        )
        client.tls_set_context(self._ctx)
        client.reconnect_delay_set(1, 10)
        client.max_inflight_messages_set(200)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        return client, url

    def start(self) -> None:
        """Connect to every broker (retrying in the background) and start consuming."""
        for client, url in self._clients:
            host, port = broker_endpoint(url)
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 3600
            client.connect_async(host, port, keepalive=30, clean_start=False, properties=props)
            client.loop_start()
        self._worker.start()
        self._ticker.start()

    def stop(self) -> None:
        """Disconnect, then store what already arrived."""
        for client, _ in self._clients:
            client.disconnect()
            client.loop_stop()
        self._stop.set()
        self._worker.join(30)
        self._ticker.join(10)

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        if reason.is_failure:
            log.warning("hub: broker refused the connection: %s", reason)
            return
        prefix, group = self._cfg.topic_prefix, self._cfg.group
        client.subscribe(
            [
                (f"$share/{group}/{prefix}/+/counts", 1),
                (f"{prefix}/+/status", 1),
                (f"{prefix}/+/descriptor", 1),
            ]
        )

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        parts = message.topic.split("/")
        if len(parts) < 3:
            return
        camera, leaf = parts[-2], parts[-1]
        payload = bytes(message.payload)
        if leaf == "counts":
            self._queue.put((camera, payload))
        elif leaf == "descriptor" and payload:
            self._ingestor.feed_descriptor(camera, payload)
        elif leaf == "status":
            self._status(camera, payload)

    def _status(self, camera: str, payload: bytes) -> None:
        try:
            status = json.loads(payload)
        except ValueError:
            return
        if not isinstance(status, dict):
            return
        if status.get("state") == "online":
            self._ingestor.seen(camera)
        sent = status.get("sent_through")
        if status.get("stream") == "counts" and isinstance(sent, int):
            self.announced[camera] = sent

    def _work(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            try:
                first = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                problems = self._ingestor.feed_records(batch)
            except Exception:
                log.exception("hub: a batch of %d records could not be stored", len(batch))
                continue
            for camera, problem in problems:
                log.warning("hub: camera %s: %s", camera, problem)

    def _tick(self) -> None:
        while not self._stop.wait(self._cfg.ack_every_s):
            for camera, through in self._ingestor.due_acks():
                self._send(camera, "ack", {"stream": "counts", "confirmed_through": through})
                self.acks_sent += 1
            replays = self._ingestor.due_replays(
                time.monotonic(), self._cfg.gap_after_s, dict(self.announced)
            )
            for camera, first, last in replays:
                self._send(camera, "replay", {"stream": "counts", "from": first, "to": last})
                self.replays_requested += 1

    def _send(self, camera: str, leaf: str, body: dict[str, object]) -> None:
        topic = f"{self._cfg.topic_prefix}/{camera}/{leaf}"
        for client, _ in self._clients:
            client.publish(topic, json.dumps(body), qos=1)

    def idle(self) -> bool:
        """Whether everything that arrived has been stored."""
        return (self._queue.empty() and self._queue.unfinished_tasks <= 0) or self._queue.empty()
