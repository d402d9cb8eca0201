"""The intake's listener on its own: limits, TLS, stop, and the simulator's event camera."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING

import pytest
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry
from uplink_rig import wait_until

from agent.config.schema import IntakeConfig
from agent.intake import EventSource, load_preset, no_fit, read_token, server_context
from simulator.cli import main as sim_main
from simulator.fakes import FakeClock
from simulator.vendorcam import VendorRead, encode_event
from simulator.vendordemo import intake_files

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from agent.core.events import PlateRead
    from simulator.vendordemo import IntakeFiles


class Sink:
    """The service's intake as the listener sees it: reads in, idle beats."""

    def __init__(self) -> None:
        self.reads: list[PlateRead] = []
        self.beats = 0
        self.hold = threading.Event()
        self.hold.set()
        self.refuse = False  # the journal refuses reads (full, closed)

    def read_durable(self, read: PlateRead) -> Future[int]:
        self.hold.wait()
        done: Future[int] = Future()
        if self.refuse:
            done.set_exception(RuntimeError("journal full"))
            return done
        self.reads.append(read)
        done.set_result(len(self.reads))
        return done

    def idle(self) -> None:
        self.beats += 1


class Running:
    def __init__(self, source: EventSource, sink: Sink, files: IntakeFiles) -> None:
        self.source, self.sink, self.files = source, sink, files
        self.stop = threading.Event()
        self.thread = threading.Thread(target=source.run, args=(sink, self.stop))
        self.thread.start()
        self.port = source.address[1]

    def context(self, *, client: bool = True) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.files.ca))
        if client:
            ctx.load_cert_chain(self.files.client_cert, self.files.client_key)
        return ctx

    def post(
        self,
        body: bytes,
        ctype: str = "application/json",
        *,
        token: str | None = None,
        method: str = "POST",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, object]]:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context())
        sent = {"Content-Type": ctype, "Authorization": f"Bearer {token or self.files.token}"}
        try:
            conn.request(method, "/events", body, {**sent, **(headers or {})})
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            conn.close()

    def outcomes(self) -> str:
        return generate_latest(self.registry).decode()

    registry: CollectorRegistry


def _start(tmp_path: Path, *, client_ca: bool = True, rate: float = 5, burst: int = 3) -> Running:
    files = intake_files(tmp_path / "intake")
    config = IntakeConfig(
        listen="127.0.0.1:0",
        tls_cert=files.cert,
        tls_key=files.key,
        client_ca=files.ca if client_ca else None,
        token=files.token_file,
        preset="genetec-sharp-json",
        max_events_per_s=rate,
        burst=burst,
        max_event_bytes=4096,
    )
    registry = CollectorRegistry()
    source = EventSource(
        config,
        load_preset("genetec-sharp-json"),
        fit=no_fit,
        clock=FakeClock(wall=time.time()),
        token=read_token(config),
        context=server_context(config),
        registry=registry,
    )
    run = Running(source, Sink(), files)
    run.registry = registry
    return run


def _finish(run: Running) -> None:
    run.sink.hold.set()
    run.stop.set()
    run.thread.join(20)
    assert not run.thread.is_alive()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    run = _start(tmp_path)
    yield run
    _finish(run)


def _event(plate: str, event_id: str) -> bytes:
    read = VendorRead(plate, int(time.time() * 1000), "B", 0.9, event_id=event_id)
    return encode_event(load_preset("genetec-sharp-json"), read)[0]


def test_the_listener_refuses_what_it_must_and_counts_each_outcome(running: Running) -> None:
    assert running.post(_event("1ABC234", "a")) == (200, {"status": "accepted"})
    assert running.post(b"{}", method="PUT")[0] == 405
    # No Content-Length: http.client sends one, so speak HTTP by hand.
    raw = socket.create_connection(("127.0.0.1", running.port))
    tls = running.context().wrap_socket(raw, server_hostname="localhost")
    tls.sendall(
        b"POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Authorization: Bearer " + running.files.token.encode() + b"\r\n\r\n0\r\n\r\n"
    )
    assert tls.recv(100).startswith(b"HTTP/1.1 411")
    tls.close()
    statuses = [running.post(_event(f"2ABC23{i}", f"r{i}"))[0] for i in range(8)]
    assert 429 in statuses  # 5 a second, 3 at once
    assert len(running.sink.reads) == statuses.count(200) + 1
    text = running.outcomes()
    assert 'anpr_intake_events_total{outcome="rate_limited"}' in text
    assert 'anpr_intake_events_total{outcome="method"} 1.0' in text
    assert 'anpr_intake_events_total{outcome="no_length"} 1.0' in text
    assert "1ABC234" not in text


def test_a_camera_without_a_client_certificate_is_refused_in_the_handshake(
    running: Running,
) -> None:
    conn = http.client.HTTPSConnection(
        "127.0.0.1", running.port, context=running.context(client=False), timeout=5
    )
    body = _event("1ABC234", "a")
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
        _exchange(conn, body)
    conn.close()
    plain = socket.create_connection(("127.0.0.1", running.port), timeout=5)
    plain.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    assert not plain.recv(100).startswith(b"HTTP/1.1 200")
    plain.close()
    assert wait_until(lambda: 'outcome="tls_refused"} 2.0' in running.outcomes(), 5)
    assert running.sink.reads == []


def test_stopping_answers_the_request_in_hand_before_closing(running: Running) -> None:
    running.sink.hold.clear()  # the journal feed is busy: the camera's request waits
    answers: list[tuple[int, dict[str, object]]] = []
    waiting = threading.Thread(target=lambda: answers.append(running.post(_event("1ABC234", "a"))))
    waiting.start()
    assert wait_until(lambda: 'outcome="accepted"' in running.outcomes() or _inflight(running), 5)
    running.stop.set()
    time.sleep(0.3)
    running.sink.hold.set()
    waiting.join(10)
    assert answers == [(200, {"status": "accepted"})]
    assert [r.text for r in running.sink.reads] == ["1ABC234"]
    running.thread.join(15)
    assert not running.thread.is_alive()


def _exchange(conn: http.client.HTTPConnection, body: bytes) -> bytes:
    conn.request("POST", "/events", body, {})
    return conn.getresponse().read()


def _inflight(running: Running) -> bool:
    return running.source._inflight > 0  # the request is in hand


def test_anpr_sim_camera_posts_the_scene_as_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _start(tmp_path, client_ca=False, rate=1000, burst=1000)
    truth = tmp_path / "truth.jsonl"
    args = [
        "camera",
        "--events",
        f"https://127.0.0.1:{run.port}/events/genetec-sharp-json",
        "--preset",
        "genetec-sharp-json",
        "--token-file",
        str(run.files.token_file),
        "--ca",
        str(run.files.ca),
        "--truth",
        str(truth),
        "--seconds",
        "12",
        "--rate",
        "60",
        "--read-errors",
        "0",
        "--resends",
        "1",
        "--seed",
        "4",
    ]
    try:
        assert sim_main(args) == 0
    finally:
        _finish(run)
    out = capsys.readouterr().out
    passes = [json.loads(x) for x in truth.read_text().splitlines()]
    readable = sorted(
        p["text"] for p in passes if p.get("kind") == "pass" and p["readable"] and p["complete"]
    )
    assert readable, "the scene should have had readable passes in 12 s at 60 a minute"
    assert sorted(r.text for r in run.sink.reads) == readable
    assert f"{len(readable)} accepted, {len(readable)} duplicate" in out


def test_a_read_the_journal_refuses_is_answered_503_and_may_be_sent_again(
    running: Running,
) -> None:
    running.sink.refuse = True
    status, answer = running.post(_event("1ABC234", "a"))
    assert status == 503
    assert "not journaled" in str(answer["error"])
    running.sink.refuse = False
    assert running.post(_event("1ABC234", "a")) == (200, {"status": "accepted"})
    assert [r.text for r in running.sink.reads] == ["1ABC234"]
