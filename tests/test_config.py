"""Configuration: one frozen, strict tree; a user error is one line naming key, value and rule."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pki_config

from agent.config.files import check_files
from agent.config.load import ConfigError, LoadedConfig, load_config
from agent.config.schema import AgentConfig
from simulator.pki import DevPki, issue_cert, load_issued, save_issued

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config" / "agent.example.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env or {})
    return info.value.problems


def test_example_config_validates() -> None:
    loaded = load_config(EXAMPLE, {})
    assert isinstance(loaded.config, AgentConfig)
    assert loaded.config.camera.id == "be-gent-0042"
    # The example is a production config: its keys come from systemd credentials.
    assert "keys.signing_key" in loaded.unresolved_credentials
    assert check_files(loaded) == []


def test_config_is_frozen() -> None:
    cfg = load_config(EXAMPLE, {}).config
    with pytest.raises(ValueError, match="frozen"):
        cfg.counts.k = 1  # type: ignore[misc]


def test_unknown_key_is_named(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("inflight = 50", "inflihgt = 50")
    assert _problems(_write(tmp_path, text)) == ["police.inflihgt: unknown key (value 50)"]


def test_out_of_range_qos_is_named(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("qos = 1 ", "qos = 7 ")
    (line,) = _problems(_write(tmp_path, text))
    assert line.startswith("police.qos: 7: ")


def test_an_unknown_plate_country_is_named_and_the_tables_codes_and_aliases_pass(
    tmp_path: Path,
) -> None:
    listed = 'countries = ["B", "NL", "F", "D", "L"]'
    text = EXAMPLE.read_text()
    assert listed in text
    (line,) = _problems(_write(tmp_path, text.replace(listed, 'countries = ["B", "XX"]')))
    assert line.startswith("recognition.countries: ")
    assert "no plate syntax for 'XX'" in line
    ok = _write(tmp_path, text.replace(listed, 'countries = ["GB", "PL", "SLO", "BR"]'))
    assert load_config(ok, {}).config.recognition.countries == ("GB", "PL", "SLO", "BR")


def test_wrong_type_is_named(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("window_s = 900", 'window_s = "often"')
    (line,) = _problems(_write(tmp_path, text))
    assert line.startswith("counts.window_s: 'often': ")


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace('id = "be-gent-0042"', "")
    assert _problems(_write(tmp_path, text)) == ["camera.id: missing: this key is required"]


def test_plaintext_broker_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("mqtts://mobility", "mqtt://mobility")
    (line,) = _problems(_write(tmp_path, text))
    assert line.startswith("civil.brokers.0: ")
    assert "plaintext MQTT is not supported" in line


def test_civil_sharing_the_police_broker_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "mqtts://mobility.city.example:8883", "mqtts://ANPR-BO1.police.example:8883"
    )
    (line,) = _problems(_write(tmp_path, text))
    assert "civil.brokers shares anpr-bo1.police.example:8883" in line


def test_civil_sharing_the_police_identity_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        'cert = "credential:civil-client.crt"', 'cert = "credential:police-client.crt"'
    )
    (line,) = _problems(_write(tmp_path, text))
    assert "civil flux needs its own identity" in line


def test_identifying_count_dimension_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        'dimensions = ["lane", "direction", "country_group"]', 'dimensions = ["lane", "plate"]'
    )
    (line,) = _problems(_write(tmp_path, text))
    assert line.startswith("counts.dimensions: ")
    assert "'plate' not allowed" in line


def test_metrics_must_stay_on_loopback(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("127.0.0.1:9108", "0.0.0.0:9108")
    (line,) = _problems(_write(tmp_path, text))
    assert "loopback" in line


def test_every_field_has_a_description() -> None:
    def walk(model: type[AgentConfig]) -> list[str]:
        missing = []
        for name, field in model.model_fields.items():
            sub = field.annotation
            if isinstance(sub, type) and hasattr(sub, "model_fields"):
                missing += [f"{name}.{m}" for m in walk(sub)]
            elif not field.description:
                missing.append(name)
        return missing

    assert walk(AgentConfig) == []


def test_environment_overrides_win_and_are_typed() -> None:
    env = {
        "ANPR_POLICE__INFLIGHT": "20",
        "ANPR_POLICE__BROKERS": '["mqtts://a.example:8883", "mqtts://b.example:1883"]',
        "ANPR_JOURNAL__SYNCHRONOUS": "EXTRA",
        "OTHER_VAR": "ignored",
    }
    cfg = load_config(EXAMPLE, env).config
    assert cfg.police.inflight == 20
    assert cfg.police.brokers == ("mqtts://a.example:8883", "mqtts://b.example:1883")
    assert cfg.journal.synchronous == "EXTRA"


def test_bad_environment_override_names_the_variable() -> None:
    problems = _problems(EXAMPLE, {"ANPR_COUNTS__K": "1", "ANPR_COUNTS__KAY": "5"})
    assert "counts.k (from ANPR_COUNTS__K): '1': Input should be greater than or equal to 2" in (
        problems
    )
    assert any(p.startswith("counts.kay (from ANPR_COUNTS__KAY): unknown key") for p in problems)


def test_credentials_resolve_from_the_systemd_directory(tmp_path: Path) -> None:
    loaded = load_config(EXAMPLE, {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert loaded.unresolved_credentials == ()
    assert loaded.config.police.key == tmp_path / "police-client.key"
    # Now the files are checked, and they are missing.
    problems = check_files(loaded)
    assert any(p.startswith("police.cert: client certificate") for p in problems)
    assert any("does not exist" in p for p in problems)


def test_relative_paths_are_taken_from_the_config_directory() -> None:
    cfg = load_config(REPO / "config" / "simulator.toml", {}).config
    assert cfg.police.ca == REPO / "config" / ".." / ".demo" / "pki" / "police-ca.crt"


def test_dev_pki_config_passes_the_file_checks(tmp_path: Path, pki: DevPki) -> None:
    loaded = load_config(_write(tmp_path, pki_config(pki)), {})
    assert check_files(loaded) == []


def _loaded_with(tmp_path: Path, pki: DevPki, old: str, new: str) -> LoadedConfig:
    return load_config(_write(tmp_path, pki_config(pki).replace(old, new)), {})


def test_missing_cert_file_is_reported(tmp_path: Path, pki: DevPki) -> None:
    loaded = _loaded_with(tmp_path, pki, str(pki.path("device.crt")), "/nonexistent/device.crt")
    assert check_files(loaded) == [
        "police.cert: client certificate /nonexistent/device.crt does not exist"
    ]


def test_private_key_readable_by_others_is_refused(tmp_path: Path, pki: DevPki) -> None:
    key = tmp_path / "open.key"
    shutil.copy(pki.path("device.key"), key)
    key.chmod(0o644)
    loaded = _loaded_with(tmp_path, pki, str(pki.path("device.key")), str(key))
    (line,) = check_files(loaded)
    assert line.startswith("police.key: client key")
    assert "mode 0644" in line
    assert f"chmod 600 {key}" in line


def test_cert_for_another_camera_is_reported(tmp_path: Path, pki: DevPki) -> None:
    ca = load_issued(pki.path("police-ca.crt"), pki.path("police-ca.key"))
    crt, key = save_issued(tmp_path, "cam-02", issue_cert(ca, "cam-02"))
    text = pki_config(pki).replace(str(pki.path("device.crt")), str(crt))
    text = text.replace(str(pki.path("device.key")), str(key))
    (line,) = check_files(load_config(_write(tmp_path, text), {}))
    assert "CN 'cam-02' is not the camera id 'cam-01'" in line


def test_expired_cert_and_mismatched_key_are_reported(tmp_path: Path, pki: DevPki) -> None:
    ca = load_issued(pki.path("police-ca.crt"), pki.path("police-ca.key"))
    old = issue_cert(ca, "cam-01", not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), days=30)
    crt, _ = save_issued(tmp_path, "old", old)
    loaded = _loaded_with(tmp_path, pki, str(pki.path("device.crt")), str(crt))
    problems = check_files(loaded)
    assert any("expired on 2020-01-31" in p for p in problems)
    assert any(p.startswith("police.key: ") and "does not belong" in p for p in problems)


def test_same_certificate_under_two_paths_is_refused(tmp_path: Path, pki: DevPki) -> None:
    crt = tmp_path / "copy.crt"
    key = tmp_path / "copy.key"
    shutil.copy(pki.path("device.crt"), crt)
    shutil.copy(pki.path("device.key"), key)
    text = pki_config(pki).replace(str(pki.path("civil-device.crt")), str(crt))
    text = text.replace(str(pki.path("civil-device.key")), str(key))
    problems = check_files(load_config(_write(tmp_path, text), {}))
    assert any("same certificate as police.cert" in p for p in problems)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_check_config_cli_exit_codes(tmp_path: Path) -> None:
    ok = _cli("check-config", str(EXAMPLE))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: ")
    assert len(ok.stdout.splitlines()) == 1

    bad = _write(tmp_path, EXAMPLE.read_text().replace("qos = 1 ", "qos = 7 "))
    res = _cli("check-config", str(bad))
    assert res.returncode == 2
    assert res.stderr.splitlines() == [
        f"anpr-agent: {bad}: police.qos: 7: Input should be 1",
    ]

    for broken in ("[camera\n", "\xff"):
        path = tmp_path / "broken.toml"
        path.write_bytes(broken.encode("latin-1"))
        res = _cli("check-config", str(path))
        assert res.returncode == 2
        assert len(res.stderr.splitlines()) == 1
        assert "Traceback" not in res.stderr

    res = _cli("check-config", str(tmp_path / "absent.toml"))
    assert res.returncode == 2
    assert "cannot read config file: No such file or directory" in res.stderr


def test_lane_zones_are_polygons_of_known_lanes(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE, {}).config
    assert [z.lane for z in cfg.camera.lane_zones] == [1, 2]
    assert cfg.camera.lane_zones[0].polygon[1] == (0.5, 0.3)
    text = EXAMPLE.read_text().replace("{ lane = 2,", "{ lane = 3,")
    (line,) = _problems(_write(tmp_path, text))
    assert line == "camera: lane_zones name lane(s) [3] but camera.lanes is 2"
    text = EXAMPLE.read_text().replace("[1.0, 0.3], [1.0, 1.0]", "[1.5, 0.3], [1.0, 1.0]")
    (line,) = _problems(_write(tmp_path, text))
    assert line.startswith("camera.lane_zones.1.polygon.1.0: 1.5: ")


def test_the_screen_votes_by_default_and_can_be_turned_off(tmp_path: Path) -> None:
    assert load_config(EXAMPLE, {}).config.recognition.vote_screen is True
    text = EXAMPLE.read_text().replace("vote_screen = true", "vote_screen = false")
    assert load_config(_write(tmp_path, text), {}).config.recognition.vote_screen is False
    # No screen: nothing to vote, and not an error for a config that only turns it off.
    text = EXAMPLE.read_text().replace("\nscreen = true", "\nscreen = false")
    recognition = load_config(_write(tmp_path, text), {}).config.recognition
    assert (recognition.screen, recognition.vote_screen) == (False, True)


def test_a_second_look_is_a_frame_size_or_off(tmp_path: Path) -> None:
    assert load_config(EXAMPLE, {}).config.recognition.second_look == 0
    text = EXAMPLE.read_text().replace("second_look = 0", "second_look = 768")
    assert load_config(_write(tmp_path, text), {}).config.recognition.second_look == 768
    text = EXAMPLE.read_text().replace("second_look = 0", "second_look = 32")
    (line,) = _problems(_write(tmp_path, text))
    assert "second_look" in line
