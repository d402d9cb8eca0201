"""The event intake: an HTTPS listener that turns a camera's read events into reads.

:class:`EventSource` is a read source like the recognition pipeline (it has
the same ``run(intake, stop)`` / ``reconfigure`` pair): the service runs it on
its thread and it hands each accepted read to the service's bounded intake,
which journals it, counts it for the civil flux and lets the police uplink
deliver it. Nothing else distinguishes an event read from one our models made.

Per request, in order, each failure one clear status and a JSON ``error``
line that never quotes a plate: TLS handshake (client certificate when
``client_ca`` is set) -> path (404; ``/events`` or ``/events/<mapping name>``)
-> bearer token (401) -> ``Content-Length`` (411, 413 past
``max_event_bytes``) -> rate (429, token bucket) -> body (400 malformed) ->
read (422 missing plate, bad time, bad image...) -> duplicate (200
``duplicate``) -> journaled (200 ``accepted`` once the record is durable; 503
when the journal refuses it or is more than the request timeout behind). A
refused event changes nothing: no read, no count.

Threads: one acceptor (``serve_forever``) and one thread per connection,
capped at ``max_connections`` (beyond it a connection is closed at once); the
TLS handshake runs on the connection's thread with the request timeout, so a
slow client cannot hold the acceptor.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import socket
import socketserver
import ssl
import sys
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import Counter
from prometheus_client.registry import CollectorRegistry

from agent.intake._dedupe import Dedupe
from agent.intake._event import EventLimits, to_read
from agent.intake._payload import BadEventError, parse_body
from agent.security.keyfiles import KeyFileError, check_private_mode

if TYPE_CHECKING:
    from concurrent.futures import Future

    from agent.config.schema import IntakeConfig, RecognitionConfig
    from agent.core.clock import Clock
    from agent.core.events import PlateRead
    from agent.intake._event import Fit
    from agent.intake._mapping import Mapping

__all__ = ["EventSource", "IntakeError", "ReadSink", "server_context"]

log = logging.getLogger("anpr.intake")

_IDLE_BEAT_S = 0.5
_REFUSAL_LOG_S = 60.0
_DRAIN_S = 10.0
_DRAIN_MAX = 16 * 1024**2  # an oversized body is read and dropped up to this, then cut
_OUTCOMES = {
    200: "accepted",
    400: "malformed",
    401: "unauthorized",
    404: "not_found",
    405: "method",
    411: "no_length",
    413: "too_large",
    415: "media_type",
    422: "invalid",
    429: "rate_limited",
    503: "stopping",
}


class IntakeError(Exception):
    """The intake cannot start (one line for the operator; exit 2)."""


class ReadSink(Protocol):
    """Where accepted reads go: the service's intake (``agent.service.Intake``)."""

    def read_durable(self, read: PlateRead) -> Future[int]:
        """Hand over one read (may block while the journal catches up).

        The future resolves once its record is durable, or fails with the refusal.
        """
        ...

    def idle(self) -> None:
        """Alive, no frame: the watchdog's sign of progress."""
        ...


def server_context(config: IntakeConfig) -> ssl.SSLContext | None:
    """The listener's TLS context (None for plain HTTP on loopback); :class:`IntakeError`."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        check_private_mode(config.tls_key, "intake.tls_key")
        ctx.load_cert_chain(config.tls_cert, config.tls_key)
        if config.client_ca is not None:
            ctx.load_verify_locations(cafile=config.client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
    except KeyFileError as exc:
        raise IntakeError(str(exc)) from None
    except (OSError, ssl.SSLError) as exc:
        raise IntakeError(f"intake: cannot load its TLS files: {exc}") from None
    return ctx


def read_token(config: IntakeConfig) -> bytes | None:
    """The bearer token from its file (``credential:`` under systemd); :class:`IntakeError`."""
    if config.token is None:
        return None
    try:
        check_private_mode(config.token, "intake.token")
        token = config.token.read_bytes().strip()
    except KeyFileError as exc:
        raise IntakeError(str(exc)) from None
    except OSError as exc:
        raise IntakeError(f"intake.token: {config.token}: {exc.strerror or exc}") from None
    if len(token) < 16:
        raise IntakeError(f"intake.token: {config.token} holds fewer than 16 characters")
    return token


class _Bucket:
    """Token bucket: ``rate`` events a second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64
    source: EventSource

    def __init__(self, address: tuple[str, int], ctx: ssl.SSLContext | None, limit: int) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        self._ctx = ctx
        self._slots = threading.BoundedSemaphore(limit)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)
        if ctx is not None:
            self.socket = ctx.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the host's FQDN (getfqdn): on an edge box
        # without working DNS that stalls the start for nothing; the name is not used.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ANN401, ARG002
        """A connection that broke mid-request (reset, bad TLS record): count it, no trace.

        socketserver's default prints a traceback to stderr for each one.
        """
        self.source.outcomes.labels("broken").inc()
        log.debug("event connection broke: %s", type(sys.exc_info()[1]).__name__)

    def process_request(self, request: Any, client_address: Any) -> None:  # noqa: ANN401
        if not self._slots.acquire(blocking=False):
            self.source.count(503)
            self.shutdown_request(request)
            return
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request(request, client_address)
        except Exception:
            self._forget(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:  # noqa: ANN401
        try:
            if isinstance(request, ssl.SSLSocket):
                request.settimeout(self.source.config.request_timeout_s)
                try:
                    request.do_handshake()
                except (ssl.SSLError, OSError):
                    self.source.count_tls_refused()
                    self.shutdown_request(request)
                    return
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request: socket.socket) -> None:
        with self._open_lock:
            if request in self._open:
                self._open.discard(request)
                self._slots.release()

    def close_connections(self) -> None:
        """Wake every connection thread waiting on a keep-alive socket."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "anpr-agent-intake"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.source.config.request_timeout_s)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002, ANN401
        """No per-request access log: the outcome counters and refusal lines say enough."""

    def _reply(self, status: int, body: dict[str, object], *, close: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="anpr-intake"')
        if status == 429:
            self.send_header("Retry-After", "1")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _refuse(self, exc: BadEventError, *, close: bool = False) -> None:
        self.server.source.refused(exc)
        self._reply(exc.status, {"error": exc.reason}, close=close)

    def do_POST(self) -> None:
        source = self.server.source
        if not source.enter():
            self._refuse(BadEventError(503, "the agent is stopping; send again later"), close=True)
            return
        try:
            self._post(source)
        finally:
            source.leave()

    def _post(self, source: EventSource) -> None:
        try:
            source.check_path(self.path)
            source.check_token(self.headers.get("Authorization"))
            length = self._length(source)
        except BadEventError as exc:
            # The body was not read: drop it (bounded) so the client reads the answer
            # rather than a reset, and end the connection (what follows is not a request).
            if exc.status != 411:
                self._drain()
            self._refuse(exc, close=True)
            return
        if not source.bucket.take():
            self._refuse(BadEventError(429, "too many events: over intake.max_events_per_s"))
            # The body was not read: the connection cannot carry another request.
            self.close_connection = True
            return
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            return
        try:
            status = source.take(body, self.headers.get("Content-Type", ""))
        except BadEventError as exc:
            self._refuse(exc)
            return
        self._reply(200, {"status": status})

    def _drain(self) -> None:
        """Read (and drop) an oversized body up to a bound, so the client sees the 413.

        Closing on a client still sending makes it see a reset instead of the answer.
        """
        raw = self.headers.get("Content-Length", "0").strip()
        left = min(int(raw) if raw.isdigit() else 0, _DRAIN_MAX)
        while left > 0:
            chunk = self.rfile.read(min(left, 65_536))
            if not chunk:
                return
            left -= len(chunk)

    def _length(self, source: EventSource) -> int:
        raw = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            raise BadEventError(411, "chunked bodies are not taken: send a Content-Length")
        if raw is None or not raw.strip().isdigit():
            raise BadEventError(411, "a Content-Length is required")
        length = int(raw)
        if length > source.config.max_event_bytes:
            raise BadEventError(413, f"event of {length} bytes is over intake.max_event_bytes")
        return length

    def _not_post(self) -> None:
        self._refuse(BadEventError(405, "events are POSTed"))

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _not_post  # noqa: N815


class EventSource:
    """A :class:`~agent.service.ReadSource` fed by one camera's read events over HTTPS."""

    def __init__(  # noqa: PLR0913 - the intake's seams are explicit
        self,
        config: IntakeConfig,
        mapping: Mapping,
        *,
        fit: Fit,
        clock: Clock,
        lanes: int = 1,
        token: bytes | None = None,
        context: ssl.SSLContext | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.config = config
        self.mapping = mapping
        self._fit = fit
        self._clock = clock
        self._token = token
        self._limits = EventLimits(
            lanes=lanes,
            crop_max_side=config.crop_max_side,
            crop_max_bytes=config.crop_max_bytes,
            max_skew_s=config.max_skew_s,
            max_age_s=config.max_age_s,
        )
        self.bucket = _Bucket(config.max_events_per_s, config.burst)
        self.dedupe = Dedupe(config.dedupe_s)
        self._sink: ReadSink | None = None
        self._lock = threading.Lock()
        self._inflight = 0
        self._closing = False
        self._drained = threading.Condition(self._lock)
        self._refusal_logged: dict[int, float] = {}
        self.outcomes = Counter(
            "anpr_intake_events",
            "Read events received, by outcome (accepted, duplicate, or why refused).",
            ["outcome"],
            registry=registry or CollectorRegistry(),
        )
        host, _, port = config.listen.rpartition(":")
        try:
            self._server = _Server((host.strip("[]"), int(port)), context, config.max_connections)
        except OSError as exc:
            raise IntakeError(
                f"intake.listen {config.listen}: cannot listen: {exc.strerror or exc}"
            ) from None
        self._server.source = self
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port): port 0 in the config gets a free one."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    # ---------------------------------------------------------- ReadSource

    def run(self, intake: ReadSink, stop: threading.Event) -> None:
        """Serve until ``stop``; then refuse new events, let those in hand reach ``intake``."""
        self._sink = intake
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="intake-accept"
        )
        self._thread.start()
        log.info(
            "event intake listening on %s:%d (%s, mapping %s)",
            *self.address,
            "https" if isinstance(self._server.socket, ssl.SSLSocket) else "http, loopback",
            self.mapping.name,
        )
        try:
            while not stop.wait(_IDLE_BEAT_S):
                if not self._thread.is_alive():
                    raise RuntimeError("the intake's acceptor thread died")
                intake.idle()
        finally:
            self.close()

    def reconfigure(self, recognition: RecognitionConfig) -> None:
        """Nothing of the recognition section applies to a camera that reads on board."""
        del recognition

    def close(self) -> None:
        """Stop accepting, wait (bounded) for requests in hand, close the listener."""
        with self._lock:
            self._closing = True
        if self._thread is not None and self._thread.is_alive():
            self._server.shutdown()
        deadline = time.monotonic() + _DRAIN_S
        with self._drained:  # requests in hand reach the intake and get their answer
            while self._inflight and time.monotonic() < deadline:
                self._drained.wait(0.1)
        self._server.close_connections()  # then idle keep-alive connections are let go
        self._server.server_close()

    # ------------------------------------------------------------ requests

    def enter(self) -> bool:
        """Count a request in hand; False once stopping."""
        with self._lock:
            if self._closing:
                return False
            self._inflight += 1
            return True

    def leave(self) -> None:
        """A request is answered."""
        with self._drained:
            self._inflight -= 1
            self._drained.notify_all()

    def check_path(self, path: str) -> None:
        """404 unless the path is ``/events`` or ``/events/<this mapping's name>``."""
        route = path.split("?", 1)[0].rstrip("/")
        if route in {"/events", f"/events/{self.mapping.name}"}:
            return
        if route.startswith("/events/"):
            name = route.removeprefix("/events/")[:64]
            raise BadEventError(
                404,
                f"unknown preset {name!r}: this intake maps {self.mapping.name!r} events "
                f"(POST /events or /events/{self.mapping.name})",
            )
        raise BadEventError(404, "POST read events to /events")

    def check_token(self, header: str | None) -> None:
        """401 unless the bearer token matches (when one is configured)."""
        if self._token is None:
            return
        scheme, _, given = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self._token
        ):
            raise BadEventError(401, "missing or wrong bearer token")

    def take(self, body: bytes, content_type: str) -> str:
        """Make, check and hand over one event's read: ``accepted``, ``duplicate``, ``ignored``."""
        doc = parse_body(body, content_type, self.mapping)
        now_ms = int(self._clock.wall() * 1000)
        event = to_read(doc, self.mapping, fit=self._fit, limits=self._limits, now_ms=now_ms)
        if event is None:
            self.count(200, "ignored")
            return "ignored"
        if not self.dedupe.claim(event.read, event.event_id):
            self.count(200, "duplicate")
            return "duplicate"
        sink = self._sink
        if sink is None:
            self.dedupe.release(event.read, event.event_id)
            raise BadEventError(503, "the intake is not running")
        journaled = sink.read_durable(event.read)
        try:
            journaled.result(timeout=self.config.request_timeout_s)
        except FutureTimeout:
            # Still queued: it will be journaled. The claim stays, so the resend this
            # answer invites is recognised as a duplicate.
            raise BadEventError(503, "the journal is behind: send again later") from None
        except Exception:  # noqa: BLE001 - whatever the journal refused it with
            self.dedupe.release(event.read, event.event_id)
            reason = "not journaled (journal full or closed): send again later"
            raise BadEventError(503, reason) from None
        self.count(200)
        return "accepted"

    def count(self, status: int, outcome: str | None = None) -> None:
        """One more event with this outcome."""
        self.outcomes.labels(outcome or _OUTCOMES.get(status, str(status))).inc()

    def count_tls_refused(self) -> None:
        """A connection whose TLS handshake failed (no certificate, wrong CA, plain HTTP)."""
        self.outcomes.labels("tls_refused").inc()

    def refused(self, exc: BadEventError) -> None:
        """Count a refusal and say it in the log (once a minute per status)."""
        self.count(exc.status)
        now = time.monotonic()
        with self._lock:
            last = self._refusal_logged.get(exc.status, -_REFUSAL_LOG_S)
            quiet = now - last < _REFUSAL_LOG_S
            if not quiet:
                self._refusal_logged[exc.status] = now
        if not quiet:
            log.warning("event refused (%d): %s", exc.status, exc.reason)
