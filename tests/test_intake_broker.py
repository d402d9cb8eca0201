"""Events from a camera that reads plates itself, through the real agent to both back offices."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import threading
import time
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest
from service_rig import backoffice, plates, write_config
from uplink_rig import wait_until

from agent.config.load import load_config
from agent.intake import load_mapping, load_preset, preset_names
from agent.security.keyfiles import load_signing_key
from agent.service import Service, ServiceOptions, syntax_fit
from simulator.backoffice import CivilBackOffice
from simulator.fakes import FakeClock
from simulator.mqttc import client_context
from simulator.pki import LOCAL_NAMES, issue_cert, new_ca, save_issued
from simulator.vendorcam import VendorRead, encode_event

if TYPE_CHECKING:
    from pathlib import Path

    from agent.intake import Mapping
    from simulator.broker import Broker
    from simulator.pki import DevPki

TOKEN = "s3cret-token-for-the-test-camera"  # noqa: S105 - a test credential
CUSTOM = """
name = "site-json"
vendor = "a site's own cameras"
source = "site-specific"
body = "json"
confidence_scale = 1
[fields]
plate = "result.plate.text"
event_id = "id"
time = "result.ts"
country = "result.plate.country"
confidence = "result.plate.score"
lane = "lane"
direction = "result.heading"
image = "result.crop"
[time]
format = "epoch_ms"
[direction_values]
N = "approaching"
S = "receding"
"""


def _fragments(plate: str) -> list[str]:
    return [plate[i : i + n] for n in range(4, len(plate) + 1) for i in range(len(plate) - n + 1)]


def _intake_section(tmp_path: Path, fmt: str) -> tuple[str, Mapping, ssl.SSLContext]:
    """TLS files, a token and the [intake] section; the camera's client context."""
    root = tmp_path / "intake"
    root.mkdir()
    ca = new_ca("camera CA")
    ca_crt, _ = save_issued(root, "camera-ca", ca)
    crt, key = save_issued(root, "intake", issue_cert(ca, "localhost", server_names=LOCAL_NAMES))
    cam_crt, cam_key = save_issued(root, "camera", issue_cert(ca, "cam-01"))
    token = root / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    lines = [
        "[intake]",
        'listen = "127.0.0.1:0"',
        f'tls_cert = "{crt}"',
        f'tls_key = "{key}"',
        f'token = "{token}"',
        "max_event_bytes = 200000",
    ]
    if fmt == "custom":
        path = root / "site.toml"
        path.write_text(CUSTOM, encoding="utf-8")
        lines += [f'mapping = "{path}"', f'client_ca = "{ca_crt}"']  # mTLS as well
        mapping = load_mapping(path)
    else:
        lines.append(f'preset = "{fmt}"')
        mapping = load_preset(fmt)
    ctx = ssl.create_default_context(cafile=str(ca_crt))
    ctx.load_cert_chain(cam_crt, cam_key)
    return "\n" + "\n".join(lines) + "\n", mapping, ctx


def _post(  # noqa: PLR0913
    port: int,
    ctx: ssl.SSLContext,
    body: bytes,
    ctype: str,
    *,
    path: str = "/events",
    token: str | None = TOKEN,
) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    headers = {"Content-Type": ctype}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _crop() -> bytes:
    img = np.full((40, 170, 3), 230, np.uint8)
    cv2.putText(img, "PLATE", (8, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2)
    return cv2.imencode(".jpg", img)[1].tobytes()


@pytest.mark.broker
@pytest.mark.parametrize("fmt", [*preset_names(), "custom"])
def test_events_reach_the_police_whole_and_the_city_only_as_counts(  # noqa: PLR0915
    fmt: str, police: Broker, civil: Broker, pki: DevPki, tmp_path: Path
) -> None:
    section, mapping, ctx = _intake_section(tmp_path, fmt)
    config = write_config(tmp_path / "agent.toml", pki, police=police.url, civil=civil.url)
    text = config.read_text().replace('source = "sim:"', 'source = "events:"') + section
    config.write_text(text, encoding="utf-8")
    loaded = load_config(config, {})
    window_s = loaded.config.counts.window_s
    # 10 s into a window, so that every pass below falls in the same one.
    clock = FakeClock(wall=(int(time.time()) // window_s + 1) * window_s + 10.0)
    office = backoffice(pki, police.url)
    sign = load_signing_key(pki.path("device-sign.key")).public_key()
    from agent.security.crypto import key_id  # noqa: PLC0415

    city = CivilBackOffice(
        civil.url,
        client_context(pki.path("civil-ca.crt"), pki.path("city.crt"), pki.path("city.key")),
        trusted={"cam-01": {key_id(sign): sign}},
        gap_after_s=0.5,
    )
    office.start()
    city.start()
    assert city.wait_ready(10)  # subscribed before the first count goes out
    service = Service(loaded, options=ServiceOptions(tick_s=0.1, civil_poll_s=0.1), clock=clock)
    thread = threading.Thread(target=service.run, name="service-under-test")
    thread.start()
    try:
        port = service._source.address[1]  # type: ignore[union-attr]
        now_ms = int(clock.wall() * 1000)
        crop = _crop()
        fresh, late = plates(13, seed=22)[:8], plates(13, seed=22)[8:]
        sent = [
            VendorRead(p, now_ms - 500 * i, "B", 0.93, 1, "approaching", "car", f"ev-{i}", crop)
            for i, p in enumerate(fresh)
        ]
        # Late: passes of 20 minutes ago (a camera emptying its buffer after an outage).
        sent += [
            VendorRead(p, now_ms - 1_200_000 - 1000 * i, "B", 0.9, 1, None, None, f"late-{i}")
            for i, p in enumerate(late)
        ]
        for i, read in enumerate(sent, start=1):
            assert _post(port, ctx, *encode_event(mapping, read)) == (200, {"status": "accepted"})
            # "accepted" is said once the read's record is committed, not before.
            reads = next(s for s in service.journal.stats().streams if s.stream == "reads")
            assert reads.head_seq >= i
        # A resend (same id) and the same plate 1 s later with a new id: journaled once.
        assert _post(port, ctx, *encode_event(mapping, sent[0]))[1] == {"status": "duplicate"}
        again = VendorRead(fresh[1], sent[1].wall_ms + 1000, "B", 0.9, event_id="ev-again")
        assert _post(port, ctx, *encode_event(mapping, again))[1] == {"status": "duplicate"}

        # Bad events: a clear 4xx with the reason, and nothing changes.
        body, ctype = encode_event(mapping, VendorRead("9ZZZ999", now_ms, event_id="bad"))
        nothing, nothing_type = encode_event(mapping, VendorRead("", now_ms, event_id="empty"))
        bad = [
            (_post(port, ctx, b"<<<not an event", ctype), 400),
            (_post(port, ctx, body + b" " * 200_000, ctype), 413),
            (_post(port, ctx, body, ctype, token="wrong-token-wrong-token"), 401),  # noqa: S106
            (_post(port, ctx, body, ctype, token=None), 401),
            (_post(port, ctx, nothing, nothing_type), 422),
            (_post(port, ctx, body, ctype, path="/events/some-other-vendor"), 404),
        ]
        for (status, answer), want in bad:
            assert status == want, answer
            assert isinstance(answer.get("error"), str)
            assert answer["error"]
            assert "9ZZZ999" not in str(answer["error"])
        assert "unknown preset 'some-other-vendor'" in str(bad[-1][0][1]["error"])

        head = 13
        assert wait_until(lambda: service.reads_journaled == head, 20)
        assert office.wait_complete("cam-01", head, timeout=30)
        assert office.problems == []
        feed = office.feed("cam-01")
        assert feed is not None
        opened = list(feed.opened.values())
        # Through the configured plate syntaxes, as the agent's own reads go.
        fit = syntax_fit(loaded.config.recognition.countries)
        fitted = {p: fit(p, "B")[0] for p in fresh + late}
        assert sorted(str(m["text"]) for m in opened) == sorted(fitted.values())
        by_text = {str(m["text"]): m for m in opened}
        for read in sent:
            meta = by_text[fitted[read.text]]
            assert meta["pass_ms"] == read.wall_ms  # late ones keep their own pass time
            assert meta["frames"] == 1
            assert meta["conf"] == [900 if read.text in late else 930] * len(read.text)
        assert by_text[fitted[fresh[0]]]["lane"] == (1 if mapping.fields.lane else None)

        clock.advance(2 * window_s)
        assert wait_until(lambda: len(city.windows) >= 1, 20)
        message = city.windows[city.window_order[0]]
        assert message["total"] == len(fresh)
        late_seen = sum(int(str(m.get("late", 0))) for m in city.windows.values())
        assert late_seen == len(late)
        civil_side = json.dumps(city.windows)
        for plate in [*fresh, *late, *fitted.values()]:
            for part in _fragments(plate):
                assert part not in civil_side, "a plate fragment reached the civil side"
        assert "event" not in civil_side  # nothing tells the city what kind of camera this is
    finally:
        service.request_stop()
        thread.join(60)
        office.stop()
        city.stop()
    assert service.exit_code == 0
    assert not thread.is_alive()
    assert os.environ.get("ANPR_INTAKE__LISTEN") is None
