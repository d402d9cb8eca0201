"""Pure parts of the daemon: the redaction point, the reload plan, sd_notify, the watchdog env."""

from __future__ import annotations

import io
import json
import logging
from typing import TYPE_CHECKING

import pytest
from conftest import make_read, pki_config
from service_rig import NotifyListener, plates
from uplink_rig import wait_until

from agent.config.load import load_config
from agent.service import Notifier, configure_logging, redact, watchdog_interval
from agent.service._reload import plan_reload

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from simulator.pki import DevPki


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("plate 1ABC123 seen", "1ABC123"),
        ("dutch AB-123-CD", "AB-123-CD"),
        ("belgian 1-ABC-123.", "1-ABC-123"),
        ("in brackets (2XYZ999)", "2XYZ999"),
        ("hash " + "ab12" * 16, "ab12" * 16),
        ("crop " + "A/b+" * 20, "A/b+" * 20),
    ],
)
def test_plate_like_text_is_blanked(text: str, hidden: str) -> None:
    assert hidden not in redact(text)
    assert "[redacted]" in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "tlsv1.2 sha256 x25519 MQTTv5",
        "cam-01 PUBACK 0x87 seq 150 stream reads",
        "kid 585ea63427c97a64 expires 2027-11-29T01:33:07",
        "mqtts://127.0.0.1:18883 be-gent-0042",
    ],
)
def test_ordinary_operations_text_stays_readable(text: str) -> None:
    assert redact(text) == text


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("DEBUG", "json", out)
    yield out
    root.removeHandler(handler)
    root.setLevel(level)


def test_no_level_and_no_argument_kind_lets_a_plate_through(stream: io.StringIO) -> None:
    log = logging.getLogger("anpr.test")
    truth = plates(20, seed=3)
    read = make_read(truth[0], crop=truth[1].encode())
    log.debug("read %s", read)
    log.info("text %s crop %s", truth[2], truth[3].encode())
    log.warning("%(plate)s", {"plate": truth[4]})
    log.error("voted %s over %s", truth[5], [truth[6], truth[7]], extra={"candidate": truth[8]})
    try:
        int(truth[9])
    except ValueError:
        log.exception("reader failed on %s", truth[10])
    log.info("stack", stack_info=True, extra={"stream": "reads", "seq": 7})
    out = stream.getvalue()
    for plate in truth[:11]:
        assert plate not in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["msg"] == "read <PlateRead>"
    assert lines[-1]["stream"] == "reads"
    assert lines[-1]["seq"] == 7
    assert "ValueError" in lines[-2]["exc"]


def test_kv_format_is_one_line_per_record() -> None:
    out = io.StringIO()
    handler = configure_logging("INFO", "kv", out)
    try:
        logging.getLogger("anpr.test").info("two words %s", "1ABC123", extra={"seq": 3})
    finally:
        logging.getLogger().removeHandler(handler)
    line = out.getvalue().strip()
    assert "\n" not in line
    assert 'msg="two words [redacted]"' in line
    assert "seq=3" in line


def test_reload_takes_safe_changes_and_names_the_rest(pki: DevPki, tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(pki_config(pki))
    running = load_config(path, {}).config
    changed = pki_config(pki).replace('site = "test site"', 'site = "moved"')
    changed = changed.replace("mqtts://127.0.0.1:18883", "mqtts://127.0.0.1:28883")
    changed += '\n[service]\nlog_level = "DEBUG"\n\n[recognition]\nread_threshold = 0.8\n'
    path.write_text(changed)
    plan = plan_reload(running, load_config(path, {}).config)
    assert plan.applied == (
        "police.brokers",
        "recognition.read_threshold",
        "service.log_level",
    )
    assert plan.refused == ("camera.site",)
    assert plan.config.camera.site == "test site"
    assert plan.config.police.brokers == ("mqtts://127.0.0.1:28883",)
    assert plan.config.service.log_level == "DEBUG"
    assert plan.config.recognition.read_threshold == 0.8


def test_sd_notify_reaches_an_abstract_socket_and_is_silent_without_one() -> None:
    listener = NotifyListener()
    try:
        notifier = Notifier({"NOTIFY_SOCKET": listener.address})
        notifier.ready("up")
        notifier.watchdog()
        notifier.stopping("bye")
        notifier.close()
        assert wait_until(lambda: "STOPPING=1" in listener.lines(), 5)
        assert listener.lines() == [
            "READY=1",
            "STATUS=up",
            "WATCHDOG=1",
            "STOPPING=1",
            "STATUS=bye",
        ]
    finally:
        listener.close()
    assert not Notifier({}).send("READY=1")


def test_watchdog_interval_is_half_of_watchdogsec_for_this_process() -> None:
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
