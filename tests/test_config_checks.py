"""check-config and run check the same things: what one refuses, the other refuses too."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest
from conftest import make_read, pki_config
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from agent.cli.main import main as agent_main
from agent.config.load import load_config
from agent.config.schema import JournalConfig
from agent.core.clock import SystemClock
from agent.journal.store import Journal
from agent.security.crypto import Sealer, Signer
from agent.service import Service, ServiceOptions
from simulator.pki import issue_cert, new_ca, save_issued

if TYPE_CHECKING:
    from pathlib import Path

    from simulator.pki import DevPki


def _both(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], list[str]]:
    """Problems check-config prints, and those run's startup raises (same config)."""
    code = agent_main(["check-config", str(config)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    checked = [line.split(": ", 2)[2] for line in err.splitlines()]
    assert (code == 2) == bool(checked)
    try:
        loaded = load_config(config, {})
    except Exception as exc:  # noqa: BLE001 - a ConfigError: the run CLI prints the same lines
        return checked, [str(exc)]
    try:
        Service(loaded, options=ServiceOptions(drain_only=True, serve_metrics=False))
    except Exception as exc:  # noqa: BLE001 - the startup error run turns into exit 2
        problems: list[str] = getattr(exc, "problems", [f"not a startup error: {exc!r}"])
        return checked, problems
    pytest.fail("run started with this config")


def _config(tmp_path: Path, pki: DevPki, text: str | None = None) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text or pki_config(pki, tmp_path / "journal.sqlite"), encoding="utf-8")
    return path


def test_a_journal_run_refuses_is_refused_by_check_config(
    tmp_path: Path, pki: DevPki, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, pki)
    journal = tmp_path / "journal.sqlite"
    assert agent_main(["check-config", str(config)]) == 0  # no journal yet: the agent makes it
    capsys.readouterr()
    cases = {
        "not SQLite": "is not a SQLite database",
        "another application": "another application's SQLite database",
        "another camera": "belongs to camera 'cam-02'",
        "corrupt": "is corrupt",
        "a directory": "is a directory",
    }
    for case, expected in cases.items():
        if journal.is_dir():
            journal.rmdir()
        else:
            journal.unlink(missing_ok=True)
        if case == "not SQLite":
            journal.write_bytes(b"an operator's notes\n")
        elif case == "another application":
            with sqlite3.connect(journal) as conn:
                conn.execute("CREATE TABLE notes (line TEXT)")
            conn.close()
        elif case == "another camera":
            other = Journal(
                journal,
                camera="cam-02",
                signer=Signer(ed25519.Ed25519PrivateKey.generate()),
                sealer=Sealer(x25519.X25519PrivateKey.generate().public_key()),
                config=JournalConfig(path=journal),
                clock=SystemClock(),
            )
            other.append_read(make_read())
            other.close()
        elif case == "corrupt":
            journal.write_bytes(b"SQLite format 3\x00" + b"\xee" * 4000)
        else:
            journal.mkdir()
        before = journal.read_bytes() if journal.is_file() else None
        checked, refused = _both(config, capsys)
        assert len(checked) == 1, (case, checked)
        assert checked[0].startswith(f"journal.path: journal {journal} "), (case, checked)
        assert expected in checked[0], (case, checked)
        assert checked == refused, case
        assert (journal.read_bytes() if journal.is_file() else None) == before, case


def test_a_client_certificate_of_another_ca_is_refused_by_both(
    tmp_path: Path, pki: DevPki, capsys: pytest.CaptureFixture[str]
) -> None:
    stranger = new_ca("someone else's CA")
    crt, key = save_issued(tmp_path, "stranger", issue_cert(stranger, pki.camera_id))
    text = pki_config(pki, tmp_path / "journal.sqlite")
    text = text.replace(str(pki.path("device.crt")), str(crt))
    text = text.replace(str(pki.path("device.key")), str(key))
    checked, refused = _both(_config(tmp_path, pki, text), capsys)
    assert checked == [
        (
            f"police.cert: {crt} is not issued by police.ca {pki.path('police-ca.crt')} "
            "(the broker would refuse it)"
        )
    ]
    assert refused == checked


def test_a_control_character_in_a_text_is_refused_at_load(
    tmp_path: Path, pki: DevPki, capsys: pytest.CaptureFixture[str]
) -> None:
    text = pki_config(pki, tmp_path / "journal.sqlite").replace(
        'site = "test site"', 'site = "test\\u0000site"'
    )
    config = _config(tmp_path, pki, text)
    checked, refused = _both(config, capsys)
    assert len(checked) == 1
    assert checked[0].startswith("camera.site")
    assert "control characters (U+0000)" in checked[0]
    assert "control characters (U+0000)" in refused[0]


def test_one_ca_for_both_fluxes_is_refused_by_path_and_by_content(
    tmp_path: Path, pki: DevPki, capsys: pytest.CaptureFixture[str]
) -> None:
    base = pki_config(pki, tmp_path / "journal.sqlite")
    assert agent_main(["check-config", str(_config(tmp_path, pki, base))]) == 0
    capsys.readouterr()
    same = base.replace(str(pki.path("civil-ca.crt")), str(pki.path("police-ca.crt")))
    checked, _ = _both(_config(tmp_path, pki, same), capsys)
    assert any("civil.ca is police.ca: the civil flux needs its own CA" in p for p in checked)
    # The police CA under another name, next to the civil one (a bundle).
    bundle = tmp_path / "bundle.crt"
    bundle.write_bytes(
        pki.path("civil-ca.crt").read_bytes() + pki.path("police-ca.crt").read_bytes()
    )
    copied = base.replace(str(pki.path("civil-ca.crt")), str(bundle))
    checked, refused = _both(_config(tmp_path, pki, copied), capsys)
    assert len(checked) == 1
    assert checked[0].startswith(f"civil.ca: {bundle} holds a certificate of police.ca ")
    assert checked[0].endswith(": the civil flux needs its own CA")
    assert refused == checked


def test_one_broker_under_two_names_is_refused(
    tmp_path: Path, pki: DevPki, capsys: pytest.CaptureFixture[str]
) -> None:
    text = pki_config(pki, tmp_path / "journal.sqlite").replace(
        "mqtts://127.0.0.1:18884", "mqtts://localhost:18883"
    )
    checked, refused = _both(_config(tmp_path, pki, text), capsys)
    assert checked == [
        (
            "civil.brokers: mqtts://localhost:18883 and police.brokers' mqtts://127.0.0.1:18883 "
            "are both 127.0.0.1 port 18883: the civil flux needs its own broker"
        )
    ]
    assert refused == checked
    # Another port on the same host is another broker.
    other = pki_config(pki, tmp_path / "journal.sqlite").replace(
        "mqtts://127.0.0.1:18884", "mqtts://localhost:18884"
    )
    assert agent_main(["check-config", str(_config(tmp_path, pki, other))]) == 0
