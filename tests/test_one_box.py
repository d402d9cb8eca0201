"""Several cameras on one box: check-config refuses configs sharing a journal, identity or port."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest

from agent.cli.main import main
from simulator.broker import free_port
from simulator.pki import DevPki, agent_config_toml, init_pki

if TYPE_CHECKING:
    from pathlib import Path

# The credential names of the units (systemd/anpr-agent@.service) and the dev PKI file of each.
CREDENTIALS = {
    "device-sign.key": "device-sign.key",
    "backoffice-seal.pub": "backoffice-seal.pub",
    "police-ca.crt": "police-ca.crt",
    "police-client.crt": "device.crt",
    "police-client.key": "device.key",
    "civil-ca.crt": "civil-ca.crt",
    "civil-client.crt": "civil-device.crt",
    "civil-client.key": "civil-device.key",
}


def _config(path: Path, pki: DevPki, journal: Path, port: int) -> Path:
    text = agent_config_toml(pki, journal=journal)
    text += f'\n[service]\nmetrics_address = "127.0.0.1:{port}"\n'
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> tuple[DevPki, DevPki]:
    root = tmp_path_factory.mktemp("box")
    return init_pki(root / "a", "cam-a"), init_pki(root / "b", "cam-b")


def _check(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, str, str]:
    code = main(["check-config", *map(str, paths)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_two_cameras_with_their_own_journal_identity_and_port_pass(
    pkis: tuple[DevPki, DevPki], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _config(tmp_path / "cam-a.toml", pkis[0], tmp_path / "a" / "journal.sqlite", free_port())
    b = _config(tmp_path / "cam-b.toml", pkis[1], tmp_path / "b" / "journal.sqlite", free_port())
    code, out, err = _check(capsys, a, b)
    assert (code, err) == (0, "")
    assert "camera cam-a" in out
    assert "camera cam-b" in out
    assert "ok: 2 agents on one box share no journal, identity or port" in out


def test_two_configs_on_one_journal_are_refused(
    pkis: tuple[DevPki, DevPki], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "journal.sqlite"
    a = _config(tmp_path / "cam-a.toml", pkis[0], journal, free_port())
    b = _config(tmp_path / "cam-b.toml", pkis[1], journal, free_port())
    code, _, err = _check(capsys, a, b)
    assert code == 2
    assert err.count("\n") == 1
    assert "cam-b.toml: journal.path" in err
    assert "cam-a.toml's" in err


def test_two_configs_of_one_identity_are_refused(
    pkis: tuple[DevPki, DevPki], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _config(tmp_path / "one.toml", pkis[0], tmp_path / "1.sqlite", free_port())
    b = _config(tmp_path / "two.toml", pkis[0], tmp_path / "2.sqlite", free_port())
    code, _, err = _check(capsys, a, b)
    assert code == 2
    assert "two.toml: camera.id cam-a is also" in err
    for key in ("keys.signing_key", "police.cert", "police.key", "civil.cert", "civil.key"):
        assert f"({key}) is also" in err


def test_two_configs_on_one_metrics_port_are_refused(
    pkis: tuple[DevPki, DevPki], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    a = _config(tmp_path / "cam-a.toml", pkis[0], tmp_path / "a.sqlite", port)
    b = _config(tmp_path / "cam-b.toml", pkis[1], tmp_path / "b.sqlite", port)
    code, _, err = _check(capsys, a, b)
    assert code == 2
    assert f"service.metrics_address port {port} is also" in err


def test_each_template_instance_is_checked_with_its_own_credentials(
    pkis: tuple[DevPki, DevPki],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/etc/anpr-agent/NAME.toml with /etc/anpr-agent/NAME/credentials, as the template has it."""
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    etc = tmp_path / "etc"
    paths = []
    for pki in pkis:
        creds = etc / pki.camera_id / "credentials"
        creds.mkdir(parents=True)
        for name, source in CREDENTIALS.items():
            shutil.copy2(pki.path(source), creds / name)
        text = agent_config_toml(pki, journal=tmp_path / pki.camera_id / "journal.sqlite")
        for name, source in CREDENTIALS.items():
            text = text.replace(f'"{pki.path(source)}"', f'"credential:{name}"')
        text += f'\n[service]\nmetrics_address = "127.0.0.1:{free_port()}"\n'
        path = etc / f"{pki.camera_id}.toml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    code, out, err = _check(capsys, *paths)
    assert (code, err) == (0, "")
    assert "not checked" not in out  # every credential file was found and checked
    # cam-b's instance holding cam-a's client certificate is caught (CN is not its id).
    shutil.copy2(pkis[0].path("device.crt"), etc / "cam-b" / "credentials" / "police-client.crt")
    code, _, err = _check(capsys, *paths)
    assert code == 2
    assert "cam-b.toml: police.cert" in err
