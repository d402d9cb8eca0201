"""The event intake's parts: mappings, payloads, reads, images, duplicates, config, check-intake."""

from __future__ import annotations

import base64
import json
import struct
import time
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from agent.cli.main import main
from agent.config.load import ConfigError, load_config
from agent.intake import (
    BadEventError,
    Dedupe,
    EventLimits,
    EventRead,
    MappingError,
    event_read,
    load_mapping,
    load_preset,
    no_fit,
    preset_names,
    safe_xml,
)
from agent.service import syntax_fit
from simulator.vendorcam import VendorRead, encode_event, misread

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "agent" / "intake" / "presets" / "samples"
NOW_MS = 1_800_000_000_000
OLD = EventLimits(lanes=2, max_age_s=1e12)


def _jpeg(w: int = 160, h: int = 40) -> bytes:
    img = np.full((h, w, 3), 220, np.uint8)
    cv2.putText(img, "TEST", (5, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    return cv2.imencode(".jpg", img)[1].tobytes()


def _decoded(data: bytes) -> npt.NDArray[np.uint8]:
    """``data`` decoded as a colour image; it must decode."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image, np.uint8)


def _read(
    body: bytes, ctype: str, mapping: str, limits: EventLimits = OLD, now: int = NOW_MS
) -> EventRead:
    event = event_read(body, ctype, load_preset(mapping), fit=no_fit, limits=limits, now_ms=now)
    assert event is not None
    return event


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
char_confidence = "result.plate.chars"
lane = "lane"
direction = "result.heading"
image = "result.crop"
[time]
format = "epoch_ms"
[direction_values]
N = "approaching"
S = "receding"
[country_values]
BEL = "B"
"""


def test_each_preset_makes_the_read_its_documented_sample_describes() -> None:
    assert set(preset_names()) == {
        "genetec-sharp-json",
        "genetec-sharp-xml",
        "hikvision-isapi-anpr",
    }
    for name in preset_names():
        assert load_preset(name).source.startswith("https://"), name
    g = _read(
        (SAMPLES / "genetec-sharp-json.json").read_bytes(), "application/json", "genetec-sharp-json"
    )
    assert (g.read.text, g.read.country, g.read.char_conf) == ("1XYZ987", "B", (930,) * 7)
    assert g.read.wall_ms == 1777884165797  # 2026-05-04T08:42:45.797, naive = UTC
    assert g.event_id == "32cf870a-46aa-4cfd-914b-00062d98e93a"
    x = _read((SAMPLES / "genetec-sharp-xml.xml").read_bytes(), "text/xml", "genetec-sharp-xml")
    assert (x.read.text, x.read.country, x.read.char_conf[0]) == ("GB123X", "NL", 880)
    assert x.read.wall_ms == 1777876984863  # 7 fractional digits, +02:00
    body = (SAMPLES / "hikvision-isapi-anpr.multipart").read_bytes()
    h = _read(
        body, "multipart/form-data; boundary=MIME_boundary_anpr_sample", "hikvision-isapi-anpr"
    )
    read = h.read
    assert (read.text, read.country, read.lane, read.direction, read.vehicle_class) == (
        "AB123CD",
        "F",
        2,
        "receding",
        "car",
    )
    assert read.char_conf == (990, 980, 970, 960, 990, 950, 940)
    for event in (g, x, h):
        crop = event.read.crop_jpeg
        assert crop.startswith(b"\xff\xd8")
        assert b"Exif" not in crop[:64]
        assert _decoded(crop).shape == (36, 150, 3)


def test_a_custom_mapping_reads_nested_json_epoch_times_and_per_character_confidence(
    tmp_path: Path,
) -> None:
    path = tmp_path / "site.toml"
    path.write_text(CUSTOM, encoding="utf-8")
    mapping = load_mapping(path)
    event = {
        "id": 77,
        "lane": "2",
        "result": {
            "ts": NOW_MS - 4000,
            "heading": "S",
            "crop": "data:image/jpeg;base64," + base64.b64encode(_jpeg()).decode(),
            "plate": {"text": "1-abc-234", "country": "BEL", "chars": [0.9, 1, 1, 0.8, 1, 1, 1]},
        },
    }
    made = event_read(
        json.dumps(event).encode(),
        "application/json",
        mapping,
        fit=no_fit,
        limits=OLD,
        now_ms=NOW_MS,
    )
    assert made is not None
    read = made.read
    assert (read.text, read.country, read.lane, read.direction) == ("1ABC234", "B", 2, "receding")
    assert read.char_conf == (900, 1000, 1000, 800, 1000, 1000, 1000)
    assert read.wall_ms == NOW_MS - 4000
    assert made.event_id == "77"
    assert read.frames == 1
    # The simulator's encoder writes what the mapping reads back.
    sent = VendorRead("5XYZ678", NOW_MS - 1000, "B", 0.9, 1, "approaching", event_id="e-1")
    back = event_read(*encode_event(mapping, sent), mapping, fit=no_fit, limits=OLD, now_ms=NOW_MS)
    assert back is not None
    assert (back.read.text, back.read.direction, back.read.lane) == ("5XYZ678", "approaching", 1)


def test_reads_go_through_the_configured_syntaxes() -> None:
    fit = syntax_fit(("B", "NL"))
    assert fit("1ABC2O4", None) == ("1ABC204", "B")  # a letter O where only digits stand
    assert fit("1ABC234", "F") == ("1ABC234", "F")  # the camera's country is kept
    assert fit("ZZZZZZZZZ", None) == ("ZZZZZZZZZ", None)


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"", 400, "empty body"),
        (b"{not json", 400, "malformed JSON"),
        (b'{"PlateRead": ""}', 422, "no plate"),
        (b'{"PlateRead": "-"}', 422, "no plate"),
        (b'{"Timestamp": "2026-01-01T00:00:00"}', 422, "no plate"),
        (b'{"PlateRead": "AB\xc3\x96123"}', 422, "A-Z 0-9"),
        (b'{"PlateRead": "1ABC234", "Timestamp": "yesterday"}', 422, "pass time is not iso8601"),
        (
            b'{"PlateRead": "1ABC234", "Timestamp": "2026-01-01T00:00:00", "PlateImage": "%%"}',
            422,
            "base64",
        ),
        (
            (
                b'{"PlateRead": "1ABC234", "Timestamp": "2026-01-01T00:00:00", '
                b'"PlateImage": "R0lGODlh"}'
            ),
            422,
            "JPEG and PNG",
        ),
    ],
)
def test_a_bad_event_is_refused_with_its_status_and_reason(
    body: bytes, status: int, reason: str
) -> None:
    with pytest.raises(BadEventError) as err:
        _read(body, "application/json", "genetec-sharp-json")
    assert err.value.status == status
    assert reason in err.value.reason
    assert "1ABC234" not in err.value.reason


def test_xml_with_a_dtd_or_entities_is_refused_before_expansion() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><Plate>&lol2;</Plate>'
    )
    external = b'<?xml version="1.0"?><!DOCTYPE p SYSTEM "file:///etc/passwd"><Plate/>'
    for body in (laughs, external):
        with pytest.raises(BadEventError, match="DTD"):
            safe_xml(body)
    with pytest.raises(BadEventError, match="malformed XML"):
        safe_xml(b"<Plate><PlateRead>1ABC234</Plate>")
    with pytest.raises(BadEventError, match="root <Other> is not <Plate>"):
        _read(
            b"<Other><PlateRead>1ABC234</PlateRead></Other>", "application/xml", "genetec-sharp-xml"
        )


def test_pass_times_out_of_bounds_are_refused_and_late_ones_keep_their_time() -> None:
    limits = EventLimits(max_skew_s=300, max_age_s=3600)

    def body(ms: int) -> bytes:
        return json.dumps(
            {
                "PlateRead": "1ABC234",
                "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)),
            }
        ).encode()

    late = _read(body(NOW_MS - 1800_000), "application/json", "genetec-sharp-json", limits)
    assert late.read.wall_ms == NOW_MS - 1800_000
    with pytest.raises(BadEventError, match="in the future"):
        _read(body(NOW_MS + 600_000), "application/json", "genetec-sharp-json", limits)
    with pytest.raises(BadEventError, match="older than"):
        _read(body(NOW_MS - 7200_000), "application/json", "genetec-sharp-json", limits)


def test_images_are_reencoded_capped_and_a_bomb_is_refused_from_its_header() -> None:
    big = cv2.imencode(".png", np.random.default_rng(1).integers(0, 255, (900, 1600, 3), np.uint8))[
        1
    ].tobytes()
    event = {
        "PlateRead": "1ABC234",
        "Timestamp": "2027-01-15T08:00:00",
        "PlateImage": base64.b64encode(big).decode(),
    }
    read = _read(json.dumps(event).encode(), "application/json", "genetec-sharp-json").read
    assert len(read.crop_jpeg) <= 65_536
    assert max(_decoded(read.crop_jpeg).shape[:2]) <= 480
    # A PNG header claiming 60000 x 60000 pixels: refused without decoding anything.
    bomb = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 60000, 60000)
    event["PlateImage"] = base64.b64encode(bomb + b"\0" * 64).decode()
    with pytest.raises(BadEventError, match="60000x60000"):
        _read(json.dumps(event).encode(), "application/json", "genetec-sharp-json")


def test_non_read_events_are_ignored_not_refused() -> None:
    body = (
        (SAMPLES / "hikvision-isapi-anpr.multipart")
        .read_bytes()
        .replace(b"<eventType>ANPR</eventType>", b"<eventType>videoloss</eventType>")
    )
    mapping = load_preset("hikvision-isapi-anpr")
    made = event_read(
        body,
        "multipart/form-data; boundary=MIME_boundary_anpr_sample",
        mapping,
        fit=no_fit,
        limits=OLD,
        now_ms=NOW_MS,
    )
    assert made is None


def test_duplicates_by_event_id_or_by_plate_within_the_window() -> None:
    dedupe = Dedupe(3.0, id_ttl_s=100, plate_ttl_s=100)
    first = VendorRead("1ABC234", NOW_MS)
    read = _read(*encode_event(load_preset("genetec-sharp-json"), first), "genetec-sharp-json")
    assert dedupe.claim(read.read, "a", now=0)
    assert not dedupe.claim(read.read, "a", now=1)  # a resend
    later = type(read.read)(
        **{**{f: getattr(read.read, f) for f in read.read.__slots__}, "wall_ms": NOW_MS + 2000}
    )
    assert not dedupe.claim(later, "b", now=2)  # same plate 2 s later, new id
    again = type(later)(
        **{**{f: getattr(later, f) for f in later.__slots__}, "wall_ms": NOW_MS + 60_000}
    )
    assert dedupe.claim(again, "c", now=3)  # a minute later: another pass
    assert dedupe.claim(read.read, "a", now=500)  # memory expired: bounded
    dedupe.release(read.read, "a")
    assert dedupe.claim(read.read, "a", now=501)


def test_mapping_problems_are_one_line_each(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        CUSTOM.replace('plate = "result.plate.text"', 'plate = "a..b"').replace(
            'source = "site-specific"', 'source = "x"\nsurprise = 1'
        )
    )
    with pytest.raises(MappingError) as err:
        load_mapping(bad)
    text = "\n".join(err.value.problems)
    assert "surprise: unknown key" in text
    assert "fields.plate" in text
    with pytest.raises(MappingError, match="unknown preset 'nope'"):
        load_preset("nope")


def _config(tmp_path: Path, pki_text: str, intake: str, source: str = "events:") -> Path:
    text = pki_text.replace('source = "sim:"', f'source = "{source}"') + intake
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_config_refuses_plain_http_off_loopback_no_auth_and_a_lone_section(
    tmp_path: Path, pki: object
) -> None:
    from conftest import pki_config  # noqa: PLC0415

    base = pki_config(pki)  # type: ignore[arg-type]
    assert 'source = "sim:"' in base
    cases = {
        '\n[intake]\nlisten = "0.0.0.0:8443"\npreset = "genetec-sharp-json"\ntoken = "t"\n': (
            "plain HTTP is refused"
        ),
        '\n[intake]\npreset = "genetec-sharp-json"\n': "client_ca",
        '\n[intake]\ntoken = "t"\n': "exactly one of preset or mapping",
    }
    for section, rule in cases.items():
        with pytest.raises(ConfigError) as err:
            load_config(_config(tmp_path, base, section), {})
        assert rule in "\n".join(err.value.problems)
    with pytest.raises(ConfigError, match="needs an \\[intake\\] section"):
        load_config(_config(tmp_path, base, ""), {})
    ok = '\n[intake]\npreset = "genetec-sharp-json"\ntoken = "tok"\n'
    with pytest.raises(ConfigError, match=r"needs camera\.source = 'events:'"):
        load_config(_config(tmp_path, base, ok, source="sim:"), {})
    assert load_config(_config(tmp_path, base, ok), {}).config.intake is not None


def test_check_intake_prints_the_read_with_the_plate_redacted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sample = SAMPLES / "hikvision-isapi-anpr.multipart"
    assert main(["check-intake", "--preset", "hikvision-isapi-anpr", "--sample", str(sample)]) == 0
    out = capsys.readouterr().out
    assert "AB123CD" not in out
    assert "*******" in out
    assert "receding" in out
    args = ["check-intake", "--preset", "hikvision-isapi-anpr", "--sample", str(sample), "--json"]
    assert main([*args, "--show-plate"]) == 0
    assert json.loads(capsys.readouterr().out)["read"]["plate"] == "AB123CD"
    broken = tmp_path / "broken.json"
    broken.write_text('{"PlateRead": ""}')
    assert main(["check-intake", "--preset", "genetec-sharp-json", "--sample", str(broken)]) == 1
    assert "refused (422)" in capsys.readouterr().out
    assert main(["check-intake", "--preset", "nope", "--sample", str(broken)]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err


def test_misread_changes_one_character() -> None:
    import random  # noqa: PLC0415

    rng = random.Random(3)
    for text in ("1ABC234", "XYZ", "GB123X"):
        wrong = misread(text, rng)
        assert len(wrong) == len(text)
        assert sum(a != b for a, b in zip(wrong, text, strict=True)) == 1


def test_the_readme_example_mapping_reads_its_example_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [
        "check-intake",
        "--mapping",
        str(REPO / "config" / "intake-mapping.example.toml"),
        "--sample",
        str(REPO / "config" / "intake-event.example.json"),
        "--json",
        "--show-plate",
    ]
    assert main(args) == 0
    read = json.loads(capsys.readouterr().out)["read"]
    assert (read["plate"], read["country"], read["lane"], read["direction"]) == (
        "1ABC234",
        "B",
        2,
        "receding",
    )
    assert read["pass_time"] == "2026-05-04T08:42:45.797Z"  # noqa: S105 - a time
    assert read["event_id"] == "evt-000123"


def test_multipart_parts_are_found_by_name_with_lf_lines_and_a_quoted_boundary() -> None:
    mapping = load_preset("hikvision-isapi-anpr")
    crlf = (SAMPLES / "hikvision-isapi-anpr.multipart").read_bytes()
    lf = crlf.replace(b"\r\n", b"\n")
    for body, ctype in (
        (crlf, 'multipart/form-data; boundary="MIME_boundary_anpr_sample"'),
        (lf, "multipart/form-data; charset=utf-8; boundary=MIME_boundary_anpr_sample"),
    ):
        made = event_read(body, ctype, mapping, fit=no_fit, limits=OLD, now_ms=NOW_MS)
        assert made is not None
        assert made.read.text == "AB123CD"
        assert made.read.crop_jpeg.startswith(b"\xff\xd8")
    with pytest.raises(BadEventError, match=r"no part 'anpr\.xml'"):
        event_read(
            crlf.replace(b"anpr.xml", b"other.xml"),
            "multipart/form-data; boundary=MIME_boundary_anpr_sample",
            mapping,
            fit=no_fit,
            limits=OLD,
            now_ms=NOW_MS,
        )
    with pytest.raises(BadEventError, match="boundary"):
        event_read(crlf, "multipart/form-data", mapping, fit=no_fit, limits=OLD, now_ms=NOW_MS)
