"""The daemon: read source → journal → police and civil uplinks, counts, health, signals.

Threads, one stop flag, bounded queues:

- ``read-source``: the :class:`~agent.service.ReadSource` (issue 7's pipeline)
  reports passes to the :class:`~agent.service.Intake` (bounded; a full queue
  blocks the source, it never drops a read);
- ``journal-feed``: takes each read, counts it for the civil flux and submits
  it to the journal (sealed and signed by the journal's writer thread);
- the journal writer, the two uplinks' network threads and the civil window
  clock (their own modules);
- the main thread: signals, reload, sd_notify (``WATCHDOG=1`` only while every
  stage shows progress), certificate expiry, the status line.

Stop (SIGTERM/SIGINT): stop the source (it flushes its open passes), journal
every read already handed over, wait for the commit, stop the window clock,
let both uplinks wait for in-flight PUBACKs up to ``shutdown_deadline_s``,
close the journal. Whatever was not PUBACKed stays pending in the journal and
leaves at the next start.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import queue
import shutil
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from prometheus_client import ProcessCollector, start_http_server
from prometheus_client.registry import CollectorRegistry

from agent import __version__
from agent.civil.flux import CivilFlux
from agent.config.load import ConfigError, load_config
from agent.config.schema import EVENTS_SOURCE
from agent.core.alarms import Alarms
from agent.core.clock import SystemClock
from agent.core.events import UnreadPass
from agent.core.timesync import AdjtimexClock, TimeWatch
from agent.journal.lock import JournalLock, JournalLockError
from agent.journal.store import Journal, JournalError, JournalFullError
from agent.security.crypto import Sealer, Signer
from agent.security.keyfiles import (
    KeyFileError,
    cert_fingerprint,
    load_certificates,
    load_sealing_public_key,
    load_signing_key,
)
from agent.security.tls import build_client_context
from agent.service._certs import CertWatch
from agent.service._events import event_source
from agent.service._health import (
    HealthCollector,
    Snapshot,
    UplinkFigures,
    own_resources,
    status_fields,
)
from agent.service._logs import set_level
from agent.service._notify import Notifier, watchdog_interval
from agent.service._preflight import preflight
from agent.service._reload import plan_reload
from agent.service._source import Intake, SourceUnavailableError, recognition_source
from agent.service._threads import ThreadWatch
from agent.uplink.client import Uplink
from agent.uplink.descriptor import build_descriptor

if TYPE_CHECKING:
    from collections.abc import Mapping
    from concurrent.futures import Future
    from pathlib import Path

    from agent.config.load import LoadedConfig
    from agent.config.schema import AgentConfig, UplinkConfig
    from agent.core.clock import Clock
    from agent.core.events import PlateRead
    from agent.core.timesync import KernelClock
    from agent.service._source import ReadSource

__all__ = ["Service", "ServiceOptions"]

log = logging.getLogger("anpr.service")

_CERT_CHECK_S = 3600.0
_STATUS_LINE_S = 10.0
_FPS_WINDOW_S = 5.0
_REFUSED_LOG_S = 60.0


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """Knobs of the run that are not configuration (tests and the soak set them)."""

    drain_only: bool = False  # no read source: deliver the backlog, publish counts windows
    stall_after_s: float = 10.0  # a stage silent this long stops the watchdog pings
    tick_s: float = 1.0  # main loop period (shorter when the watchdog asks for it)
    intake_size: int = 1000  # reads waiting for the journal feed at most
    serve_metrics: bool = True
    civil_poll_s: float = 1.0


def _crl_digest(cfg: UplinkConfig) -> tuple[str, str] | None:
    """Which CRL an uplink uses and what it holds now (None: no CRL)."""
    if cfg.crl is None:
        return None
    try:
        content = hashlib.sha256(cfg.crl.read_bytes()).hexdigest()
    except OSError as exc:
        content = f"unreadable: {exc.strerror}"
    return str(cfg.crl), content


class Service:
    """One agent process. :meth:`run` blocks until :meth:`request_stop`; returns the exit code."""

    def __init__(  # noqa: PLR0913 - the service's seams are explicit
        self,
        loaded: LoadedConfig,
        source: ReadSource | None = None,
        *,
        options: ServiceOptions | None = None,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        env: Mapping[str, str] | None = None,
        kernel_clock: KernelClock | None = None,
    ) -> None:
        self._loaded = loaded
        self.config: AgentConfig = loaded.config
        self._opts = options or ServiceOptions()
        self._clock = clock or SystemClock()
        self.timewatch = TimeWatch(
            kernel_clock or AdjtimexClock(),
            self._clock,
            step_bound_ms=self.config.service.clock_step_ms,
        )
        self._clock_alarms: tuple[str, ...] = ()
        self._env = dict(os.environ if env is None else env)
        self._notify = notifier or Notifier(self._env)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reload = threading.Event()
        self._source_stop = threading.Event()
        self._feed_done = threading.Event()
        self.exit_code = 0
        self.registry = CollectorRegistry()
        self.intake = Intake(self._opts.intake_size, self.registry)
        self._lock: JournalLock | None = None
        self._source: ReadSource | None = None
        self._started = time.monotonic()
        self.reads_journaled = 0
        self.reads_refused = 0
        self.reads_uncounted = 0  # reads the civil counter failed on (journaled all the same)
        self._feed_alarms = Alarms()
        self._refused_logged_at = -_REFUSED_LOG_S
        self._counter_lock = threading.Lock()
        self._feed_beat = time.monotonic()
        self._probe: Future[int] | None = None
        self._probe_at = 0.0
        self.stalled: str | None = None
        self._stalled_stage: str | None = None
        self._certs = CertWatch()
        self.threads = ThreadWatch()  # a long-lived thread that dies stops the agent
        self._source_done = threading.Event()  # a finite source was read to its end
        self._camera_lost = False
        self._fps = 0.0
        self._fps_mark = (time.monotonic(), 0)
        self._open(source)

    # ------------------------------------------------------------- startup

    def _choose_source(self, source: ReadSource | None) -> ReadSource | None:
        if self._opts.drain_only:
            return None
        if source is not None:
            return source
        try:
            if self.config.camera.source == EVENTS_SOURCE:
                return event_source(self.config, self._clock, self.registry)
            return recognition_source(self.config.recognition, self.config.camera, self._clock)
        except SourceUnavailableError as exc:
            raise ConfigError([str(exc)]) from None

    def _open(self, source: ReadSource | None) -> None:
        loaded, cfg = self._loaded, self.config
        # Every problem at once, the most basic first: the operator fixes them in one go.
        problems = [
            f"{key}: is a credential: path but $CREDENTIALS_DIRECTORY is unset "
            "(run under systemd with LoadCredential=, or set it)"
            for key in loaded.unresolved_credentials
        ]
        problems += preflight(loaded)
        if not problems:  # models load only once the keys are known to be usable
            try:
                self._source = self._choose_source(source)
            except ConfigError as exc:
                problems += exc.problems
        if problems:
            raise ConfigError(problems)
        try:
            signer = Signer(load_signing_key(cfg.keys.signing_key))
            sealer = Sealer(load_sealing_public_key(cfg.keys.sealing_public_key))
            fingerprints = {
                name: cert_fingerprint(load_certificates(up.cert)[0])
                for name, up in (("police", cfg.police), ("civil", cfg.civil))
            }
            build_client_context(cfg.police)
            build_client_context(cfg.civil)
        except KeyFileError as exc:
            raise ConfigError([str(exc)]) from None
        self._take_lock(cfg.journal.path)
        try:
            self.journal = Journal(
                cfg.journal.path,
                camera=cfg.camera.id,
                signer=signer,
                sealer=sealer,
                config=cfg.journal,
                clock=self._clock,
                counts_grain_s=cfg.counts.window_s,
            )
        except JournalError as exc:
            self._release_lock()
            raise ConfigError([str(exc)]) from None
        try:
            self._build(signer, sealer, fingerprints)
        except ConfigError:
            self.journal.close()
            self._release_lock()
            raise

    def _take_lock(self, journal: Path) -> None:
        try:
            self._lock = JournalLock(journal)
        except JournalLockError as exc:
            raise ConfigError([str(exc)]) from None

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _build(self, signer: Signer, sealer: Sealer, fingerprints: dict[str, str]) -> None:
        cfg = self.config
        now_ms = int(self._clock.wall() * 1000)
        # The civil copy names no police key and its time is no finer than a count
        # window: the police copy's millisecond would tie the two fluxes' starts together.
        window_ms = cfg.counts.window_s * 1000

        def describe(flux: Literal["police", "civil"], ts_ms: int) -> bytes:
            return build_descriptor(
                cfg,
                signer,
                sealed_to=sealer.fingerprint,
                police_cert_sha256=fingerprints["police"],
                civil_cert_sha256=fingerprints["civil"],
                ts_ms=ts_ms,
                flux=flux,
            )

        descriptor = describe("police", now_ms)
        civil_descriptor = describe("civil", now_ms // window_ms * window_ms)
        self.civil = CivilFlux(
            cfg.counts,
            camera_id=cfg.camera.id,
            journal=self.journal,
            clock=self._clock,
            poll_s=self._opts.civil_poll_s,
            # A graceful stop keeps the open window here, beside the journal (police side).
            state_path=cfg.journal.path.with_name(cfg.journal.path.name + ".counts-state"),
        )
        self.police_uplink = self._uplink("police", cfg.police, "reads", descriptor)
        self.civil_uplink = self._uplink("civil", cfg.civil, "counts", civil_descriptor)
        self._crls = {name: _crl_digest(self._uplink_config(name)) for name in ("police", "civil")}
        self.registry.register(HealthCollector(self.snapshot))
        ProcessCollector(registry=self.registry)  # RSS, open fds, CPU: flat over months?
        self._metrics_server = None
        if self._opts.serve_metrics:
            host, _, port = cfg.service.metrics_address.rpartition(":")
            try:
                self._metrics_server, _ = start_http_server(
                    int(port), host.strip("[]"), self.registry
                )
            except OSError as exc:
                line = (
                    f"service.metrics_address {cfg.service.metrics_address}: cannot listen: "
                    f"{exc.strerror or exc}"
                )
                raise ConfigError([line]) from None
        self._check_certs()

    def _uplink(self, name: str, up: UplinkConfig, stream: str, descriptor: bytes | None) -> Uplink:
        return Uplink(
            name,
            up,
            camera_id=self.config.camera.id,
            journal=self.journal,
            stream=stream,
            leaf=stream,
            # Built per connection from the running config: a certificate renewed on disk,
            # or a CRL renewed or renamed on reload, is used at the next connect.
            context=lambda: build_client_context(self._uplink_config(name)),
            clock=self._clock,
            descriptor=descriptor,
            heartbeat_s=self.config.service.heartbeat_s,
            status_extra=lambda: status_fields(self.snapshot(), name),
        )

    def _uplink_config(self, name: str) -> UplinkConfig:
        return self.config.police if name == "police" else self.config.civil

    def _reload_crls(self) -> None:
        """SIGHUP: an uplink whose CRL changed (file or path) reconnects, so it applies now."""
        for name, uplink in (("police", self.police_uplink), ("civil", self.civil_uplink)):
            cfg = self._uplink_config(name)
            digest = _crl_digest(cfg)
            if digest == self._crls[name]:
                continue
            self._crls[name] = digest
            try:
                build_client_context(cfg)
            except KeyFileError as exc:
                log.error("reload: %s.crl: %s; connections fail until it is fixed", name, exc)  # noqa: TRY400
            else:
                log.warning("reload: %s.crl %s read again; reconnecting to apply it", name, cfg.crl)
            uplink.reconnect()

    # ----------------------------------------------------------------- API

    def request_stop(self) -> None:
        """Begin a graceful stop (signal-safe: only sets flags)."""
        self._stop.set()
        self._wake.set()

    def request_reload(self) -> None:
        """Re-read the config file on the main loop (signal-safe)."""
        self._reload.set()
        self._wake.set()

    def run(self) -> int:
        """Run until stopped; return the exit code (0 after a graceful stop)."""
        threads = [
            threading.Thread(target=self._feed, name="journal-feed", daemon=True),
        ]
        if self._source is not None:
            threads.append(
                threading.Thread(target=self._run_source, name="read-source", daemon=True)
            )
        self.threads.install()
        self.police_uplink.start()
        self.civil_uplink.start()
        self.civil.start()
        for thread in threads:
            thread.start()
        self._watch_threads(threads)
        mode = "drain-only (no camera)" if self._source is None else "reading"
        log.info(
            "anpr-agent %s started: camera %s, %s, journal %s, metrics on %s",
            __version__,
            self.config.camera.id,
            mode,
            self.config.journal.path,
            self.config.service.metrics_address if self._metrics_server else "off",
        )
        self._watch_clock()
        self._notify.ready(f"camera {self.config.camera.id}: {mode}")
        try:
            self._main_loop()
        finally:
            self._shutdown(threads)
            self.threads.uninstall()
        return self.exit_code

    def _watch_threads(self, threads: list[threading.Thread]) -> None:
        """Name every long-lived thread whose end, before a stop, is fatal."""
        watch = self.threads.watch
        watch("uplink-police", lambda: self.police_uplink.alive or self._stop.is_set())
        watch("uplink-civil", lambda: self.civil_uplink.alive or self._stop.is_set())
        watch("journal-writer", lambda: self.journal.alive or self._stop.is_set())
        for thread in threads:
            watch(thread.name, functools.partial(self._thread_ok, thread))

    def _thread_ok(self, thread: threading.Thread) -> bool:
        # The read source may end on its own (a finite source read once): not a death.
        return thread.is_alive() or self._stop.is_set() or self._source_done.is_set()

    def snapshot(self) -> Snapshot:
        """Health figures now (thread-safe; a scrape and a heartbeat call it)."""
        stats = self.journal.stats()
        now_ms = int(self._clock.wall() * 1000)
        ages = {
            s.stream: max(0, (now_ms - s.oldest_pending_ms) // 1000) if s.oldest_pending_ms else 0
            for s in stats.streams
        }
        uplinks = tuple(
            UplinkFigures(
                name=u.name,
                stream=stream,
                connected=u.stats.connected,
                connects=u.stats.connects,
                connect_failures=u.stats.connect_failures,
                published=u.stats.published,
                refused=u.stats.refused,
                cert_expiry_days=self._certs.days.get(u.name),
                resent=u.stats.resent,
                replayed=u.stats.replayed,
                bad_messages=u.stats.bad_messages,
            )
            for u, stream in ((self.police_uplink, "reads"), (self.civil_uplink, "counts"))
        )
        try:
            free = shutil.disk_usage(self.config.journal.path.parent).free
        except OSError:
            free = 0
        rss, fds = own_resources()
        return Snapshot(
            camera=self.config.camera.id,
            software=f"anpr-edge {__version__}",
            uptime_s=int(time.monotonic() - self._started),
            frames=self.intake.frames,
            frames_dropped=self.intake.frames_dropped,
            fps=self._fps,
            reads=self.intake.reads,
            reads_refused=self.reads_refused,
            journal=stats,
            oldest_pending_age_s=ages,
            uplinks=uplinks,
            disk_free_bytes=free,
            alarms=self.alarms,
            stalled=self.stalled,
            threads=threading.active_count(),
            rss_bytes=rss,
            open_fds=fds,
            frames_corrupt=self.intake.frames_corrupt,
            camera_frame_age_s=self.camera_frame_age(),
            clock_synced=None if self.timewatch.last is None else self.timewatch.last.synced,
            clock_maxerror_us=None
            if self.timewatch.last is None
            else self.timewatch.last.maxerror_us,
            clock_steps=self.timewatch.steps,
        )

    @property
    def alarms(self) -> tuple[str, ...]:
        """Every active alarm, one line each."""
        lines = [
            *self.journal.alarms,
            *self.police_uplink.alarms,
            *self.civil_uplink.alarms,
            *self._certs.alarms.values(),
            *self.timewatch.alarms,
        ]
        if self.stalled:
            lines.append(f"pipeline stalled: {self.stalled}")
        lines += self.threads.dead()
        lines += self._feed_alarms.lines()
        camera = self._camera_alarm()
        if camera:
            lines.append(camera)
        return tuple(lines)

    def camera_frame_age(self) -> float | None:
        """Seconds since the camera's last frame; None without a (running) camera."""
        if self._source is None or self._source_done.is_set():
            return None
        return self.intake.frame_age()

    def _camera_alarm(self) -> str | None:
        age = self.camera_frame_age()
        limit = self.config.camera.lost_alarm_s
        if age is None or age < limit:
            return None
        restart = self.config.camera.lost_restart_s
        then = f"; the agent restarts at {restart:g} s" if restart else "; the agent keeps waiting"
        return f"camera lost: no frame for {age:.0f} s{then}"

    # ------------------------------------------------------------ threads

    def _run_source(self) -> None:
        source = self._source
        if source is None:  # started only with a source
            return
        try:
            source.run(self.intake, self._source_stop)
        except Exception:
            log.exception("read source failed; stopping so that the service manager restarts us")
            self.exit_code = 1
            self.request_stop()
            return
        if not self._source_stop.is_set():
            # A finite source (a video file, a directory) was read once: deliver, then stop.
            self._source_done.set()
            log.info("camera source ended (read once); draining the journal, then stopping")
            self._drain_then_stop()

    def _drain_then_stop(self) -> None:
        """Wait until every read is journaled and PUBACKed, or delivery stalls; then stop, exit 0.

        A broker that stays away does not keep the agent up: after
        ``service.shutdown_deadline_s`` without a record delivered it stops
        anyway, and what is pending stays in the journal for the next start.
        """
        patience = self.config.service.shutdown_deadline_s
        last, progress_at = -1, time.monotonic()
        while not self._stop.is_set():
            if self.intake.queue.empty():
                with contextlib.suppress(Exception):
                    self.journal.sync().result(timeout=60)
                reads = next(s for s in self.journal.stats().streams if s.stream == "reads")
                if reads.pending == 0 and self.intake.queue.empty():
                    break
                if reads.pending != last:
                    last, progress_at = reads.pending, time.monotonic()
                elif time.monotonic() - progress_at > patience:
                    log.warning(
                        "source ended; %d read(s) still pending after %g s without delivery: "
                        "they stay in the journal",
                        reads.pending,
                        patience,
                    )
                    break
            self._stop.wait(0.2)
        self.request_stop()

    def _feed(self) -> None:
        while True:
            self._feed_beat = time.monotonic()
            try:
                read = self.intake.queue.get(timeout=0.2)
            except queue.Empty:
                if self._feed_done.is_set():
                    return
                continue
            self._take(read)

    def _take(self, read: PlateRead | UnreadPass) -> None:
        if isinstance(read, UnreadPass):  # a vehicle whose plate was not read: the city counts it
            try:
                self.civil.add(read)
            except Exception as exc:  # noqa: BLE001 - one pass the counter chokes on
                self._uncounted(exc)
            return
        waiter = self.intake.waiter(read)  # an event camera waiting for its answer, if any
        try:
            self.civil.add(read)
        except Exception as exc:  # noqa: BLE001 - a read the counter chokes on is still journaled
            self._uncounted(exc)
        # The clock's state at the pass goes into the record's signed body (docs/PROTOCOL.md).
        read = replace(read, clock=self.timewatch.reading())
        try:
            future = self.journal.submit_read(read)
        except JournalError as exc:
            log.error("read lost: journal closed: %s", exc)  # noqa: TRY400 - one line, no trace
            Intake.settle(waiter, exc)
            return
        Intake.settle(waiter, future)
        future.add_done_callback(self._journaled)

    def _uncounted(self, exc: Exception) -> None:
        self.reads_uncounted += 1
        if self.reads_uncounted == 1:
            log.error("civil: a read could not be counted (%s); it is journaled anyway", exc)
        self._feed_alarms.raise_(
            "uncounted",
            f"civil: {self.reads_uncounted} read(s) not counted ({type(exc).__name__})",
        )

    def _journaled(self, future: Future[int]) -> None:
        exc = future.exception()
        if exc is None:
            with self._counter_lock:
                self.reads_journaled += 1
            log.debug("read journaled", extra={"stream": "reads", "seq": future.result()})
            return
        with self._counter_lock:
            self.reads_refused += 1
            refused = self.reads_refused
            now = time.monotonic()
            quiet = now - self._refused_logged_at < _REFUSED_LOG_S
            if not quiet:
                self._refused_logged_at = now
        if quiet:  # the alarm and the metric carry it; the log says it once a minute
            return
        why = "journal full" if isinstance(exc, JournalFullError) else "journal error"
        log.error("read not journaled (%s): %s; %d refused so far", why, exc, refused)

    # ---------------------------------------------------------- main loop

    def _main_loop(self) -> None:
        interval = watchdog_interval(self._env)
        tick = min(self._opts.tick_s, interval) if interval else self._opts.tick_s
        next_cert = time.monotonic() + _CERT_CHECK_S
        next_status = 0.0
        while not self._stop.is_set():
            self._wake.wait(tick)
            self._wake.clear()
            if self._stop.is_set():
                break
            if self._reload.is_set():
                self._reload.clear()
                self._do_reload()
            now = time.monotonic()
            self._watch_clock()
            self._update_fps(now)
            if self._healthy(now):
                self._notify.watchdog()
            if now >= next_cert:
                next_cert = now + _CERT_CHECK_S
                self._check_certs()
            if now >= next_status:
                next_status = now + _STATUS_LINE_S
                line = self._status_line()
                self._notify.status(line)
                log.debug("health: %s", line)

    def _thread_died(self) -> bool:
        """A long-lived thread ended: no more pings, the alarm names it, exit 1 (restart)."""
        dead = self.threads.dead()
        if not dead:
            return False
        if self.exit_code == 0:
            log.error("%s; stopping with exit 1", "; ".join(dead))
            self._notify.status(f"failed: {dead[0]}")
        self.exit_code = 1
        self.stalled = dead[0]
        self.request_stop()
        return True

    def _note_camera(self) -> None:
        camera = self._camera_alarm()
        if (camera is not None) != self._camera_lost:  # once per loss, not per tick
            self._camera_lost = camera is not None
            if camera is not None:
                log.error("%s (reconnecting)", camera)
            else:
                log.warning("camera back: frames are coming again")

    def _source_stage(self) -> tuple[str | None, float]:
        """The read source's stall, if any: silent (no frame, no beat), or a camera long gone."""
        if self._source is None or self._source_done.is_set():
            return None, 0.0
        if self.intake.silent_for() > self._opts.stall_after_s:
            return "read source", self.intake.silent_for()
        age = self.intake.frame_age()
        restart = self.config.camera.lost_restart_s
        if restart and age > restart:
            # Idle beats keep a reconnecting camera's agent alive, but not for ever.
            return "camera (no frame)", age
        return None, 0.0

    def _healthy(self, now: float) -> bool:
        if self._thread_died():
            return False
        self._note_camera()
        limit = self._opts.stall_after_s
        stage, silent = self._source_stage()
        if stage:
            pass
        elif now - self._feed_beat > limit:
            stage, silent = "journal feed", now - self._feed_beat
        elif self._probe is not None and not self._probe.done() and now - self._probe_at > limit:
            stage, silent = "journal writer", now - self._probe_at
        if self._probe is None or self._probe.done():
            with contextlib.suppress(JournalError):  # a dead writer is named by the watch
                self._probe, self._probe_at = self.journal.sync(), now
        if stage != self._stalled_stage:  # log and tell systemd once per stall, not per tick
            self._stalled_stage = stage
            if stage:
                log.error(
                    "pipeline stalled: %s silent for %.0f s; watchdog pings stop", stage, silent
                )
                self._notify.status(f"stalled: {stage} makes no progress")
            else:
                log.warning("pipeline progressing again")
        self.stalled = f"{stage} silent for {silent:.0f} s" if stage else None
        return stage is None

    def _watch_clock(self) -> None:
        self.timewatch.sample()
        lines = self.timewatch.alarms
        for line in lines:
            if line not in self._clock_alarms:  # once per condition, not per tick
                log.warning("%s", line)
        self._clock_alarms = lines

    def _update_fps(self, now: float) -> None:
        since, frames = self._fps_mark
        if now - since >= _FPS_WINDOW_S:
            current = self.intake.frames
            self._fps = (current - frames) / (now - since)
            self._fps_mark = (now, current)

    def _status_line(self) -> str:
        up = "up" if self.police_uplink.stats.connected else "DOWN"
        civ = "up" if self.civil_uplink.stats.connected else "DOWN"
        reads = next(s for s in self.journal.stats().streams if s.stream == "reads")
        text = (
            f"{self.intake.reads} reads, {self._fps:.1f} fps; police {up}, civil {civ}; "
            f"backlog {reads.pending}"
        )
        alarms = self.alarms
        return f"{text}; {len(alarms)} alarm(s)" if alarms else text

    def _check_certs(self) -> None:
        self._certs.check(self.config, self._clock.wall())

    def _do_reload(self) -> None:
        source = self._loaded.source
        try:
            new = load_config(source, self._env).config
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused: %s: %s", source, problem)  # noqa: TRY400
            return
        plan = plan_reload(self.config, new)
        for key in plan.refused:
            log.warning(
                "reload: %s changed in %s but needs a restart; keeping the running value",
                key,
                source,
            )
        cfg = plan.config
        if "service.log_level" in plan.applied:
            set_level(cfg.service.log_level)
        if {"police.brokers", "civil.brokers"} & set(plan.applied):
            self.police_uplink.set_brokers(cfg.police.brokers)
            self.civil_uplink.set_brokers(cfg.civil.brokers)
        if self._source is not None and any(k.startswith("recognition.") for k in plan.applied):
            self._source.reconfigure(cfg.recognition)
        self.config = cfg
        self._reload_crls()
        if "service.cert_warn_days" in plan.applied:
            self._check_certs()
        log.warning(
            "reload: applied %s", ", ".join(plan.applied) if plan.applied else "nothing new"
        )
        log.debug("reload: running with log level %s", cfg.service.log_level)

    # ------------------------------------------------------------ shutdown

    def _shutdown(self, threads: list[threading.Thread]) -> None:
        deadline_s = self.config.service.shutdown_deadline_s
        self._notify.stopping("stopping: flushing reads and waiting for PUBACKs")
        log.info("stopping: flushing reads, then waiting up to %g s for PUBACKs", deadline_s)
        self._source_stop.set()
        for thread in threads:
            if thread.name == "read-source":
                thread.join(deadline_s)
                if thread.is_alive():
                    log.error("read source did not stop within %g s; leaving it", deadline_s)
        self._feed_done.set()
        for thread in threads:
            if thread.name == "journal-feed":
                thread.join()
        try:
            self.journal.sync().result(timeout=60)
        except Exception:
            log.exception("journal: final commit failed")
        self.civil.stop()
        stoppers = [
            threading.Thread(target=u.stop, args=(deadline_s,), name=f"stop-{u.name}")
            for u in (self.police_uplink, self.civil_uplink)
        ]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        stats = self.journal.stats()
        backlog = ", ".join(f"{s.stream} {s.pending} pending" for s in stats.streams)
        self.journal.close()
        self._release_lock()
        log.info(
            "stopped: %d frame(s) (%d corrupt), %d read(s) journaled this run (%d refused); %s",
            self.intake.frames,
            self.intake.frames_corrupt,
            self.reads_journaled,
            self.reads_refused,
            backlog,
        )
        with contextlib.suppress(OSError):
            self._notify.close()
