"""One uplink: drain a journal stream over MQTT 5 with mutual TLS, ack-driven, through any outage.

The journal is the queue and the truth. The uplink publishes pending records
in seq order (QoS 1) inside a bounded in-flight window; a record becomes
*published* only on a PUBACK whose reason code is below 0x80 (paho reports a
refusal such as 0x87 as "published": we read the reason code ourselves), and
*confirmed* only when the back office says so on the ``ack`` topic. A refused
record stays pending, raises an alarm and is retried later.

One thread owns the paho client: it connects (failing over along the broker
list, with exponential backoff and jitter), runs paho's network loop and
publishes between loop calls. Because publishing and the callbacks run on the
same thread, the mid → seq map needs no lock and a PUBACK can never be handled
before its ``publish()`` returned. Each connection uses a fresh paho client:
whatever was in flight when a connection died is simply sent again from the
journal (at-least-once; duplicates stay within the in-flight window).

The police and civil fluxes are two instances of this class with their own
config, identity, stream and topics.
"""

from __future__ import annotations

import functools
import gc
import logging
import random
import ssl
import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.config.schema import broker_endpoint
from agent.core.alarms import Alarms
from agent.security.keyfiles import KeyFileError
from agent.uplink.probe import tls_preflight, tls_reason
from agent.uplink.wire import MAX_INBOUND_PACKET, Ack, parse_control, status_body, topics

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from concurrent.futures import Future

    from paho.mqtt.reasoncodes import ReasonCode

    from agent.config.schema import UplinkConfig
    from agent.core.clock import Clock
    from agent.journal.db import StoredRecord
    from agent.journal.store import Journal

__all__ = ["Uplink", "UplinkStats"]

log = logging.getLogger("anpr.uplink")

_PREFETCH = 512  # pending records read from the journal at a time, at most,
_PREFETCH_BYTES = 4 * 1024 * 1024  # and about this many bytes: 512 reads with 100 KB
# overview images would be 69 MB in the uplink's buffer (MemoryMax=1G in the unit), read
# while the network loop, on the same thread, waits
_CONNACK_TIMEOUT_S = 10.0
_LOOP_BUSY_S = 0.002
_LOOP_IDLE_S = 0.02  # how late a newly committed record may be noticed
_MARK_RETRY_S = 1.0  # a delivery mark the journal refused is tried again after this


def _reap_dropped_sockets() -> None:
    """Close now the TLS sockets of paho clients that are done with, quietly.

    paho leaves some sockets to the garbage collector: the one of a handshake that
    fails inside ``connect()`` (no reference kept), and those of a client dropped
    after an abrupt link failure (reference cycles). The collector would close them
    later, anywhere, with a ResourceWarning; collecting once a connection's life
    is over closes them at once, where the cause is known.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@dataclass
class UplinkStats:
    """Live figures of an uplink (read from other threads; plain ints under the GIL)."""

    connected: bool = False
    broker: str | None = None
    connects: int = 0
    connect_failures: int = 0
    published: int = 0
    refused: int = 0
    resent: int = 0
    replayed: int = 0
    last_ack: int = 0
    bad_messages: int = 0
    inflight: int = 0
    crashes: int = 0  # connections ended by an error nobody expected (logged with a trace)
    mark_failures: int = 0  # delivery marks the journal could not write (retried)


@dataclass
class _Session:
    """State of one connection; thrown away when it ends."""

    client: mqtt.Client
    url: str
    connack: ReasonCode | None = None
    lost: bool = False
    inflight: dict[int, int] = field(default_factory=dict)  # mid -> seq
    inflight_seqs: set[int] = field(default_factory=set)
    cursor: int = 0  # last seq handed to paho in this session
    buffer: deque[StoredRecord] = field(default_factory=deque)
    replay: deque[StoredRecord] = field(default_factory=deque)
    published: list[int] = field(default_factory=list)
    fresh: bool = True  # nothing read from the journal yet on this connection


class Uplink:
    """Drains one journal stream to one broker list. Start with :meth:`start`."""

    def __init__(  # noqa: PLR0913 - an uplink's seams are explicit
        self,
        name: str,
        cfg: UplinkConfig,
        *,
        camera_id: str,
        journal: Journal,
        stream: str,
        leaf: str,
        context: Callable[[], ssl.SSLContext],
        clock: Clock,
        descriptor: bytes | None = None,
        heartbeat_s: float = 60.0,
        rng: random.Random | None = None,
        on_published: Callable[[list[int]], None] | None = None,
        status_extra: Callable[[], Mapping[str, object]] | None = None,
    ) -> None:
        self.name = name
        self._cfg = cfg
        self._camera = camera_id
        self._journal = journal
        self._stream = stream
        self._context = context
        self._clock = clock
        self._descriptor = descriptor
        self._on_published = on_published  # seqs just PUBACKed (metrics, benchmarks)
        self._status_extra = status_extra  # health figures the service adds to the heartbeat
        self._brokers = cfg.brokers
        self._heartbeat_s = heartbeat_s
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self.topics = topics(cfg.topic_prefix, camera_id, leaf)
        self.stats = UplinkStats()
        self._alarms = Alarms()
        self._logged: set[str] = set()
        self._stop = threading.Event()
        self._deadline = 0.0
        self._refused: set[int] = set()
        self._retry_at = 0.0
        self._max_sent = 0  # highest seq handed to any connection of this process
        self._record_bytes = 65_536  # mean size of the pending records last read (prefetch)
        # PUBACKed seqs whose "published" mark is not committed yet: never sent again for
        # that (a reconnect reads the journal, where they still look pending).
        self._marks_lock = threading.Lock()
        self._unmarked: set[int] = set()
        self._mark_retry: list[int] = []
        self._confirm_wanted = 0  # highest ack whose "confirmed" mark is not committed yet
        self._confirm_busy = False
        self._mark_retry_at = 0.0  # a failed mark is tried again from then on
        self._thread = threading.Thread(target=self._run, name=f"uplink-{name}", daemon=True)
        self._new_records = threading.Event()
        self._reconnect = threading.Event()  # SIGHUP: a new CRL applies to a fresh handshake
        journal.on_commit(self._committed)

    # ----------------------------------------------------------------- API

    def start(self) -> None:
        """Start connecting and draining in the background."""
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the uplink's thread runs (it ends only on :meth:`stop`)."""
        return self._thread.is_alive()

    def stop(self, deadline_s: float = 10.0) -> None:
        """Stop: wait up to ``deadline_s`` for in-flight PUBACKs, say offline, disconnect."""
        self._deadline = time.monotonic() + deadline_s
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(deadline_s + _CONNACK_TIMEOUT_S)

    @property
    def alarms(self) -> tuple[str, ...]:
        """Active alarms, one line each."""
        return self._alarms.lines()

    def reconnect(self) -> None:
        """End the connection in use; the next one builds its TLS context afresh (reload)."""
        self._reconnect.set()

    def set_brokers(self, brokers: tuple[str, ...]) -> None:
        """Use a new broker list from the next connection attempt on (config reload)."""
        self._brokers = brokers

    @property
    def brokers(self) -> tuple[str, ...]:
        """The broker list in use."""
        return self._brokers

    def _committed(self, stream: str) -> None:
        if stream == self._stream:
            self._new_records.set()

    # ---------------------------------------------------------- connection

    def _run(self) -> None:
        index, failures = 0, 0
        while not self._stop.is_set():
            brokers = self._brokers  # may change on reload
            url = brokers[index % len(brokers)]
            try:
                ok = self._connect_and_serve(url)
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any one connection
                ok = self._crashed(url, exc)
            _reap_dropped_sockets()  # the connection's paho client is garbage now
            failures = 0 if ok else failures + 1
            if self._stop.is_set():
                break
            index += 1 if not ok else 0
            self._stop.wait(self._backoff(failures))

    def _crashed(self, url: str, exc: Exception) -> bool:
        """A connection ended by an error nobody expected: say so loudly, then reconnect.

        The journal is the truth, so a fresh connection loses nothing; what was in
        flight is sent again.
        """
        self.stats.crashes += 1
        self.stats.connected = False
        self.stats.inflight = 0
        log.error(
            "%s: connection to %s ended by an unexpected %s; reconnecting",
            self.name,
            url,
            type(exc).__name__,
            exc_info=exc,
        )
        self._alarm(
            "crash",
            f"{self.name}: connection ended by an unexpected {type(exc).__name__} "
            f"({self.stats.crashes} so far); reconnected",
        )
        return False

    def _backoff(self, failures: int) -> float:
        ceiling = min(self._cfg.backoff_max_s, self._cfg.backoff_min_s * 2.0 ** min(failures, 30))
        return float(ceiling / 2 + self._rng.uniform(0, ceiling / 2))  # "equal jitter"

    def _once(self, key: str, level: int, message: str, *args: object) -> None:
        """Log a repeating condition once until it changes (no flood at 3 a.m.)."""
        if key not in self._logged:
            self._logged.add(key)
            log.log(level, message, *args)

    def _connect_and_serve(self, url: str) -> bool:
        """One connection's life; True when it got a CONNACK (so the broker is healthy)."""
        host, port = broker_endpoint(url)
        self._reconnect.clear()  # this connection's context is built now
        try:
            ctx = self._context()  # rebuilt per connection: a renewed key is read again
        except KeyFileError as exc:  # e.g. a renewed key left readable by others
            return self._connect_failed(url, str(exc))
        try:
            tls_preflight(host, port, ctx, _CONNACK_TIMEOUT_S)
        except (OSError, ssl.SSLError) as exc:
            return self._connect_failed(url, tls_reason(exc))
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._camera,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=False,
        )
        client.tls_set_context(ctx)
        client.max_inflight_messages_set(self._cfg.inflight)
        client.max_queued_messages_set(0)
        client.will_set(self.topics["status"], self._status("offline"), qos=1, retain=True)
        session = _Session(client, url)
        self._wire_callbacks(session)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._cfg.session_expiry_s
        props.MaximumPacketSize = MAX_INBOUND_PACKET  # the broker drops bigger ones for us
        failed = None
        try:
            client.connect(host, port, self._cfg.keepalive_s, clean_start=False, properties=props)
        except (OSError, ssl.SSLError) as exc:
            failed = tls_reason(exc)
        if failed is not None:
            sock = client.socket()  # set when the failure came after the handshake
            if sock is not None:
                sock.close()
            return self._connect_failed(url, failed)
        try:
            if not self._await_connack(session):
                return False
            self._serve(session)
        except (OSError, ssl.SSLError) as exc:
            self._once(
                f"lost:{url}",
                logging.WARNING,
                "%s: connection to %s lost: %s",
                self.name,
                url,
                tls_reason(exc),
            )
        finally:
            self.stats.connected = False
            self.stats.inflight = 0
            sock = client.socket()
            if sock is not None:
                sock.close()
        return True

    def _connect_failed(self, url: str, reason: str) -> bool:
        self.stats.connect_failures += 1
        self._once(
            f"fail:{url}:{reason}",
            logging.ERROR,
            "%s: cannot connect to %s: %s",
            self.name,
            url,
            reason,
        )
        self._alarm("connect", f"{self.name}: cannot connect to {url}: {reason}")
        return False

    def _await_connack(self, session: _Session) -> bool:
        deadline = time.monotonic() + _CONNACK_TIMEOUT_S
        while session.connack is None and not session.lost and time.monotonic() < deadline:
            if session.client.loop(timeout=0.1) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        if session.connack is None or session.connack.is_failure:
            reason = (
                f"broker refused: {session.connack}"
                if session.connack is not None
                else "closed before CONNACK: the broker likely refused our client certificate"
            )
            return self._connect_failed(session.url, reason)
        self.stats.connects += 1
        self.stats.connected = True
        self.stats.broker = session.url
        self._logged = {k for k in self._logged if not k.startswith(("fail:", "lost:"))}
        self._alarm("connect", None)
        log.info("%s: connected to %s", self.name, session.url)
        return True

    def _wire_callbacks(self, session: _Session) -> None:
        def on_connect(
            _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
        ) -> None:
            session.connack = reason

        def on_disconnect(
            _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
        ) -> None:
            session.lost = True
            if not self._stop.is_set() and session.connack is not None:
                self._once(
                    f"lost:{session.url}",
                    logging.WARNING,
                    "%s: disconnected from %s (%s)",
                    self.name,
                    session.url,
                    reason,
                )

        def on_publish(
            _c: mqtt.Client, _u: object, mid: int, reason: ReasonCode, _p: object
        ) -> None:
            self._on_puback(session, mid, reason)

        def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
            self._on_message(session, message)

        session.client.on_connect = on_connect
        session.client.on_disconnect = on_disconnect
        session.client.on_publish = on_publish
        session.client.on_message = on_message

    # -------------------------------------------------------------- serving

    def _serve(self, session: _Session) -> None:
        client = session.client
        client.subscribe([(self.topics["ack"], 1), (self.topics["replay"], 1)])
        if self._descriptor is not None:
            client.publish(self.topics["descriptor"], self._descriptor, qos=1, retain=True)
        next_heartbeat = 0.0
        while not session.lost:
            if self._stop.is_set() and (not session.inflight or time.monotonic() >= self._deadline):
                self._goodbye(session)
                return
            if self._reconnect.is_set():
                self._reconnect.clear()
                self._goodbye(session)  # what is in flight stays pending and goes again
                return
            if not self._stop.is_set():
                self._fill(session)
            self._flush_marks(session)
            now = time.monotonic()
            if now >= next_heartbeat:
                client.publish(self.topics["status"], self._status("online"), qos=1, retain=True)
                next_heartbeat = now + self._heartbeat_s
            busy = session.inflight or session.buffer or session.replay
            rc = client.loop(timeout=_LOOP_BUSY_S if busy else _LOOP_IDLE_S)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        self._flush_marks(session)

    def _goodbye(self, session: _Session) -> None:
        self._flush_marks(session)
        if session.inflight:
            log.warning(
                "%s: stopping with %d record(s) unacknowledged; they stay pending",
                self.name,
                len(session.inflight),
            )
        info = session.client.publish(
            self.topics["status"], self._status("offline"), qos=1, retain=True
        )
        deadline = time.monotonic() + 1.0
        while not info.is_published() and time.monotonic() < deadline and not session.lost:
            session.client.loop(timeout=0.05)
        session.client.disconnect()
        session.client.loop(timeout=0.1)

    def _fill(self, session: _Session) -> None:
        """Publish pending (and replayed) records until the in-flight window is full."""
        if self._refused and time.monotonic() >= self._retry_at:
            session.cursor = min(session.cursor, min(self._refused) - 1)
            session.buffer.clear()
            self._refused.clear()
            self._new_records.set()
        while len(session.inflight) < self._cfg.inflight:
            record = self._next_record(session)
            if record is None:
                return
            if record.seq in session.inflight_seqs:
                continue
            info = session.client.publish(self.topics["records"], record.wire, qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                session.lost = True
                return
            if info.mid in session.inflight:  # a mid wrapped onto one still in flight
                log.error("%s: mid %d reused while in flight; resending", self.name, info.mid)
                session.inflight_seqs.discard(session.inflight[info.mid])
            session.inflight[info.mid] = record.seq
            session.inflight_seqs.add(record.seq)
            self.stats.inflight = len(session.inflight)

    def _next_record(self, session: _Session) -> StoredRecord | None:
        if session.replay:
            self.stats.replayed += 1
            return session.replay.popleft()
        while True:
            record = self._next_pending(session)
            if record is None:
                return None
            with self._marks_lock:
                late_mark = record.seq in self._unmarked
            if not late_mark:  # else: PUBACKed already, only its mark is late; skip it
                break
        if record.seq <= self._max_sent:
            self.stats.resent += 1  # sent before, its PUBACK never came
        self._max_sent = max(self._max_sent, record.seq)
        return record

    def _next_pending(self, session: _Session) -> StoredRecord | None:
        if not session.buffer:
            if not session.fresh and not self._new_records.is_set():
                return None  # nothing committed since the journal last came up empty
            session.fresh = False
            self._new_records.clear()
            limit = max(1, min(_PREFETCH, _PREFETCH_BYTES // self._record_bytes))
            session.buffer.extend(
                self._journal.pending(self._stream, limit, after_seq=session.cursor)
            )
            if session.buffer:
                size = sum(len(r.wire) for r in session.buffer)
                self._record_bytes = max(1, size // len(session.buffer))
            if len(session.buffer) == limit:
                self._new_records.set()  # there is more where that came from
            if not session.buffer:
                return None
        record = session.buffer.popleft()
        session.cursor = max(session.cursor, record.seq)
        return record

    def _on_puback(self, session: _Session, mid: int, reason: ReasonCode) -> None:
        seq = session.inflight.pop(mid, None)
        if seq is None:
            return  # status, descriptor, or a record from before a reconnect
        session.inflight_seqs.discard(seq)
        self.stats.inflight = len(session.inflight)
        if reason.value < 0x80:
            session.published.append(seq)
            self.stats.published += 1
            return
        self.stats.refused += 1
        self._refused.add(seq)
        self._retry_at = time.monotonic() + self._cfg.backoff_max_s
        self._alarm(
            "refused",
            f"{self.name}: broker refused {self._stream} seq {seq} ({reason}); "
            f"kept pending, retrying in {self._cfg.backoff_max_s:g} s",
        )
        self._once(
            f"refused:{reason.value}",
            logging.ERROR,
            "%s: broker refused %s seq %d (%s): kept pending",
            self.name,
            self._stream,
            seq,
            reason,
        )

    def _flush_marks(self, session: _Session) -> None:
        retry = time.monotonic() >= self._mark_retry_at
        with self._marks_lock:
            seqs = list(session.published)
            if retry:
                seqs, self._mark_retry = [*self._mark_retry, *seqs], []
            self._unmarked.update(seqs)
            confirm = 0 if self._confirm_busy or not retry else self._confirm_wanted
            self._confirm_busy = self._confirm_busy or confirm > 0
        if confirm:
            self._submit_confirm(confirm)
        if seqs:
            future = self._journal.mark_published(self._stream, seqs)
            future.add_done_callback(functools.partial(self._published_marked, seqs=tuple(seqs)))
        if session.published:
            if self._on_published is not None:
                self._on_published(session.published)
            session.published = []
            if not self._refused:
                self._alarm("refused", None)

    def _submit_confirm(self, through: int) -> None:
        future = self._journal.mark_confirmed(self._stream, through)
        future.add_done_callback(lambda f: self._confirmed_marked(f, through))

    def _published_marked(self, future: Future[int], seqs: tuple[int, ...]) -> None:
        """The journal wrote (or failed to write) a "published" mark: never silently."""
        exc = future.exception()
        with self._marks_lock:
            if exc is None:
                self._unmarked.difference_update(seqs)
            else:
                self._mark_retry.extend(seqs)  # next turn of the loop tries again
        if exc is None:
            self._mark_ok()
        else:
            self._mark_failed("published", exc)

    def _confirmed_marked(self, future: Future[int], through: int) -> None:
        exc = future.exception()
        with self._marks_lock:
            self._confirm_busy = False
            if exc is None:
                if self._confirm_wanted <= through:
                    self._confirm_wanted = 0
                # Confirmed is past published: these need no "published" mark any more.
                self._unmarked = {s for s in self._unmarked if s > through}
                self._mark_retry = [s for s in self._mark_retry if s > through]
        if exc is None:
            self._mark_ok()
        else:
            self._mark_failed("confirmed", exc)

    def _mark_failed(self, mark: str, exc: BaseException) -> None:
        self.stats.mark_failures += 1
        self._mark_retry_at = time.monotonic() + _MARK_RETRY_S
        self._once(
            f"mark:{mark}:{type(exc).__name__}",
            logging.ERROR,
            "%s: the journal could not record %s marks (%s: %s); kept and retried",
            self.name,
            mark,
            type(exc).__name__,
            exc,
        )
        self._alarm(
            "marks",
            f"{self.name}: journal cannot record delivery marks ({type(exc).__name__}); "
            "retrying, nothing is resent for it",
        )

    def _mark_ok(self) -> None:
        with self._marks_lock:
            clear = not self._mark_retry and not self._confirm_wanted
        if clear:
            self._alarm("marks", None)

    # ------------------------------------------------------ back office in

    def _on_message(self, session: _Session, message: mqtt.MQTTMessage) -> None:
        try:
            self._handle(session, message.topic, message.payload)
        except Exception as exc:  # noqa: BLE001 - a bad message is counted, never fatal
            self.stats.bad_messages += 1
            reason = f"{type(exc).__name__}: {str(exc)[:200]}"
            self._once(
                f"bad:{message.topic}",
                logging.WARNING,
                "%s: ignored a bad message on %s: %s",
                self.name,
                message.topic,
                reason,
            )
            self._alarm(
                "bad-message",
                f"{self.name}: {self.stats.bad_messages} bad back-office message(s) ignored "
                f"(last on {message.topic}: {type(exc).__name__})",
            )
        else:
            self._alarm("bad-message", None)

    def _handle(self, session: _Session, topic: str, payload: bytes | bytearray) -> None:
        msg = parse_control(topic, payload, stream=self._stream, topic_map=self.topics)
        if isinstance(msg, Ack):
            # Never confirm what was not sent: a bogus ack would make records undeliverable.
            sent = max(self._max_sent, self._journal.highest_sent(self._stream))
            if msg.through > sent:
                raise ValueError(
                    f"confirmed_through {msg.through} is beyond the last record sent ({sent})"
                )
            self.stats.last_ack = max(self.stats.last_ack, msg.through)
            # States never move back in the journal: an old ack changes nothing. The mark
            # is written from the serve loop, and written again until the journal takes it.
            with self._marks_lock:
                self._confirm_wanted = max(self._confirm_wanted, msg.through)
            return
        records = self._journal.records(self._stream, msg.first, msg.last)
        session.replay.extend(records)
        log.info(
            "%s: replaying %d record(s) of %s %d..%d",
            self.name,
            len(records),
            self._stream,
            msg.first,
            msg.last,
        )

    # ---------------------------------------------------------------- misc

    def _status(self, state: str) -> bytes:
        figures: dict[str, object] | None = None
        if state == "online":
            stats = next(s for s in self._journal.stats().streams if s.stream == self._stream)
            figures = {
                "stream": self._stream,
                "backlog": stats.pending + stats.published,
                "head_seq": stats.head_seq,
                "sent_through": self._max_sent,
                "confirmed_through": stats.confirmed_through,
            }
        return status_body(
            state,
            camera=self._camera,
            ts_ms=self._journal.stamp_ms(self._stream),  # the civil side: window grain
            boot=self._journal.stream_boot(self._stream),  # its own, not the police boot
            stream=figures,
            extra=self._status_extra() if figures and self._status_extra else None,
        )

    def _alarm(self, key: str, line: str | None) -> None:
        if line is None:
            self._alarms.clear(key)
        else:
            self._alarms.raise_(key, line)
