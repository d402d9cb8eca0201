"""The journal: durable, sealed, signed, chained; every tamper shows; nothing is lost silently."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from typing import TYPE_CHECKING

import pytest
from conftest import JournalKit, make_read
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent.core.canonical import b64, canonical, unb64
from agent.journal.db import JournalError, open_readonly
from agent.journal.records import open_read, parse_record
from agent.journal.store import JournalFullError
from agent.journal.verify import Problem, checkpoints_from, verify_records
from agent.security.crypto import SealError, Signer, seal_info, unseal

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from agent.journal.verify import Checkpoint

DAY = 86_400.0


def _wires(path: Path, stream: str = "reads") -> list[bytes]:
    with open_readonly(path, "cam-01") as store:
        return [r.wire for r in store.iter_records(stream)]


def _verify(
    kit: JournalKit,
    wires: list[bytes] | None = None,
    *,
    known_checkpoints: Iterable[Checkpoint] = (),
) -> list[Problem]:
    wires = wires if wires is not None else _wires(kit.path)
    _, problems = verify_records(
        "cam-01", "reads", kit.keys, wires, known_checkpoints=known_checkpoints
    )
    return problems


def _kinds(problems: list[Problem]) -> set[str]:
    return {p.kind for p in problems}


def _sql(path: Path, statement: str, *args: object) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(statement, args)
    conn.close()


def test_reads_are_sealed_signed_chained_and_pending(kit: JournalKit) -> None:
    journal = kit.open()
    seqs = [journal.append_read(make_read(f"1ABC{i:03d}")) for i in range(3)]
    assert seqs == [1, 2, 3]
    pending = journal.pending("reads", 10)
    assert [r.seq for r in pending] == [1, 2, 3]
    record = parse_record(pending[1].wire)
    assert record.body["prev"] == parse_record(pending[0].wire).hash
    assert "1ABC001" not in pending[1].wire.decode()
    opened = open_read(record, kit.seal_key)
    assert opened.meta["text"] == "1ABC001"
    assert opened.meta["conf"] == [990, 989, 988, 987, 986, 985, 984]
    assert opened.crop_jpeg == make_read().crop_jpeg
    sealed = unb64(record.text("sealed"))
    # The blob is bound to its record: it does not open as another seq.
    with pytest.raises(SealError):
        unseal(sealed, kit.seal_key, seal_info("cam-01", "reads", 3))
    kit.close()
    assert _verify(kit) == []


def test_delivery_states_only_move_forward(kit: JournalKit) -> None:
    journal = kit.open()
    for _ in range(5):
        journal.append_read(make_read())
    assert journal.mark_published("reads", [1, 2, 3]).result() == 3
    assert [r.seq for r in journal.pending("reads", 10)] == [4, 5]
    assert journal.mark_confirmed("reads", 2).result() == 2
    # A late PUBACK for a confirmed record does not move it back.
    assert journal.mark_published("reads", [1]).result() == 0
    # A spoofed ack far in the future confirms only what exists.
    assert journal.mark_confirmed("reads", 10**9).result() == 3
    (reads,) = [s for s in journal.stats().streams if s.stream == "reads"]
    assert (reads.pending, reads.published, reads.confirmed) == (0, 0, 5)
    assert reads.confirmed_through == 5
    journal.append_read(make_read())
    assert [r.seq for r in journal.pending("reads", 10)] == [6]


def test_counts_stream_is_its_own_chain(kit: JournalKit) -> None:
    journal = kit.open()
    journal.append_read(make_read())
    assert journal.append_count({"window": 900, "total": 0}) == 1
    assert journal.append_count({"window": 900, "total": 7}) == 2
    kit.close()
    _, problems = verify_records("cam-01", "counts", kit.keys, _wires(kit.path, "counts"))
    assert problems == []


def test_checkpoints_every_n_records_and_every_t_seconds(tmp_path: Path) -> None:
    kit = JournalKit(tmp_path / "j.sqlite", checkpoint_every=4, checkpoint_seconds=30)
    journal = kit.open()
    for _ in range(4):
        journal.append_read(make_read())
    journal.append_read(make_read())
    journal.sync().result()
    kinds = [parse_record(w).kind for w in _wires(kit.path)]
    assert kinds == ["read"] * 4 + ["checkpoint", "read"]
    kit.clock.advance(31)
    journal.sync().result()
    kinds = [parse_record(w).kind for w in _wires(kit.path)]
    assert kinds[-1] == "checkpoint"
    checkpoint = parse_record(_wires(kit.path)[-1])
    assert checkpoint.body["head_seq"] == 6
    assert checkpoint.body["boot"] == journal.boot_id
    kit.close()


# --------------------------------------------------------------- tampering


@pytest.fixture
def filled(kit: JournalKit) -> JournalKit:
    kit.config = kit.config.model_copy(update={"checkpoint_every": 5})
    journal = kit.open()
    for i in range(12):
        journal.append_read(make_read(f"2XYZ{i:03d}"))
    kit.close()
    assert _verify(kit) == []
    return kit


def test_flipped_byte_in_a_body_is_flagged(filled: JournalKit) -> None:
    wires = _wires(filled.path)
    wires[3] = wires[3].replace(b'"boot":"', b'"boot":"0', 1)
    problems = _verify(filled, wires)
    assert Problem(4, "bad-signature", "signature does not match the body") in problems


def test_byte_flipped_in_the_file_is_flagged(filled: JournalKit) -> None:
    wire = _wires(filled.path)[2]
    tampered = bytearray(wire)
    tampered[wire.index(b'"ts":') + 6] ^= 1  # one digit of the timestamp
    _sql(filled.path, "UPDATE records SET wire = ? WHERE seq = 3", bytes(tampered))
    assert "bad-signature" in _kinds(_verify(filled))


def test_deleted_middle_record_is_flagged(filled: JournalKit) -> None:
    _sql(filled.path, "DELETE FROM records WHERE stream = 'reads' AND seq = 7")
    problems = _verify(filled)
    assert Problem(7, "gap", "seqs 7..7") in problems


def test_swapped_records_are_flagged(filled: JournalKit) -> None:
    wires = _wires(filled.path)
    wires[4], wires[5] = wires[5], wires[4]
    assert {"reorder", "gap"} <= _kinds(_verify(filled, wires))
    # Swapped in arrival order, a back office sees the chain still whole: no false alarm.
    _, problems = verify_records("cam-01", "reads", filled.keys, wires, ordered=False)
    assert problems == []


def test_cut_tail_after_a_seen_checkpoint_is_flagged(filled: JournalKit) -> None:
    seen, bad = checkpoints_from(_wires(filled.path), "cam-01", "reads", filled.keys)
    assert bad == []
    assert [c.seq for c in seen] == [6, 12]
    _sql(filled.path, "DELETE FROM records WHERE stream = 'reads' AND seq >= 10")
    assert _verify(filled) == []  # alone, a clean cut cannot be told from a young journal
    problems = _verify(filled, known_checkpoints=seen)
    assert "truncation" in _kinds(problems)


def test_restored_older_copy_is_flagged(filled: JournalKit, tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite"
    shutil.copy(filled.path, old)
    journal = filled.open()
    for i in range(6):
        journal.append_read(make_read(f"3NEW{i:03d}"))
    filled.close()
    seen, _ = checkpoints_from(_wires(filled.path), "cam-01", "reads", filled.keys)
    # The older copy comes back and the agent goes on writing from its head.
    shutil.copy(old, filled.path)
    journal = filled.open()
    for i in range(8):
        journal.append_read(make_read(f"4FORK{i:02d}"))
    filled.close()
    problems = _verify(filled, known_checkpoints=seen)
    assert "rollback" in _kinds(problems)


def test_resigned_with_another_key_is_flagged(filled: JournalKit) -> None:
    other = Signer(ed25519.Ed25519PrivateKey.generate())
    record = parse_record(_wires(filled.path)[0])
    body = dict(record.body)
    body["kid"] = other.key_id
    forged = canonical({**body, "sig": b64(other.sign(canonical(body)))})
    wires = [forged, *_wires(filled.path)[1:]]
    assert Problem(1, "unknown-key", f"signed by untrusted key {other.key_id!r}") in _verify(
        filled, wires
    )
    # Keeping the trusted kid but signing with another key is a bad signature.
    body["kid"] = filled.signer.key_id
    forged = canonical({**body, "sig": b64(other.sign(canonical(body)))})
    assert "bad-signature" in _kinds(_verify(filled, [forged, *_wires(filled.path)[1:]]))


def test_altered_sealed_blob_is_flagged(filled: JournalKit) -> None:
    wires = _wires(filled.path)
    record = json.loads(wires[1])
    blob = bytearray(unb64(record["sealed"]))
    blob[-1] ^= 0x01
    record["sealed"] = b64(bytes(blob))
    wires[1] = canonical(record)
    assert Problem(2, "bad-signature", "signature does not match the body") in _verify(
        filled, wires
    )


# --------------------------------------------------------------- retention and quota


def test_retention_purges_confirmed_old_records_and_says_so(tmp_path: Path) -> None:
    kit = JournalKit(tmp_path / "j.sqlite", retention_days=1, max_age_days=3)
    journal = kit.open()
    for _ in range(10):
        journal.append_read(make_read())
    journal.mark_confirmed("reads", 6).result()
    kit.clock.advance(1.5 * DAY)
    journal.append_read(make_read())  # seq 11, young
    journal.maintain().result()  # (the writer may already have run it by itself)
    records = [parse_record(w) for w in _wires(kit.path)]
    assert records[0].seq == 7
    (purge,) = [r for r in records if r.kind == "purge"]
    assert purge.body["below"] == 7
    assert purge.body["reason"] == "retention"
    assert purge.body["count"] == 6
    kit.close()
    assert _verify(kit) == []
    # Without the purge record, the missing head would be unaccounted for.
    wires = [w for w in _wires(kit.path) if parse_record(w).kind != "purge"]
    assert "unaccounted-start" in _kinds(_verify(kit, wires))


def test_max_age_purges_even_unconfirmed_and_says_so(tmp_path: Path) -> None:
    kit = JournalKit(tmp_path / "j.sqlite", retention_days=1, max_age_days=2)
    journal = kit.open()
    for _ in range(4):
        journal.append_read(make_read())
    kit.clock.advance(2.5 * DAY)
    journal.append_read(make_read())
    journal.maintain().result()
    (purge,) = [r for r in map(parse_record, _wires(kit.path)) if r.kind == "purge"]
    assert (purge.body["reason"], purge.body["below"]) == ("max-age", 5)
    kit.close()
    assert _verify(kit) == []


def _fill_until_full(journal_append: object, limit: int = 5000) -> int:
    crop = bytes(range(256)) * 12  # incompressible, 3 KB
    for i in range(limit):
        try:
            journal_append(make_read(crop=crop))  # type: ignore[operator]
        except JournalFullError:
            return i
    pytest.fail("the quota never filled")


def test_quota_refuse_new_keeps_everything_raises_an_alarm_and_recovers(tmp_path: Path) -> None:
    kit = JournalKit(
        tmp_path / "j.sqlite", quota_bytes=1024**2, retention_days=1, quota_policy="refuse-new"
    )
    journal = kit.open()
    stored = _fill_until_full(journal.append_read)
    assert stored > 100
    assert any("journal full" in a for a in journal.alarms)
    # Marks still work while full; nothing was dropped.
    journal.mark_confirmed("reads", stored).result()
    assert journal.stats().streams[1].records == stored
    kit.clock.advance(2 * DAY)
    journal.maintain().result()
    assert journal.append_read(make_read()) > stored + 1  # after the purge record
    assert journal.alarms == ()
    kit.close()
    assert _verify(kit) == []


def test_quota_drop_oldest_records_what_it_dropped(tmp_path: Path) -> None:
    kit = JournalKit(
        tmp_path / "j.sqlite", quota_bytes=1024**2, quota_policy="drop-oldest-unconfirmed"
    )
    journal = kit.open()
    crop = bytes(range(256)) * 12
    for _ in range(1500):
        journal.append_read(make_read(crop=crop))
    assert journal.alarms == ()
    records = [parse_record(w) for w in _wires(kit.path)]
    purges = [r for r in records if r.kind == "purge"]
    assert purges
    assert {p.body["reason"] for p in purges} == {"quota"}
    assert records[0].seq == purges[-1].body["below"]
    kit.close()
    assert _verify(kit) == []


# --------------------------------------------------------------- bad files


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_foreign_or_corrupt_files_are_refused_and_left_untouched(kit: JournalKit) -> None:
    kit.path.write_bytes(b"this is not a database at all" * 100)
    before = _digest(kit.path)
    with pytest.raises(JournalError, match="not a SQLite database"):
        kit.open()
    assert _digest(kit.path) == before

    kit.path.unlink()
    _sql(kit.path, "CREATE TABLE notes (body TEXT)")
    before = _digest(kit.path)
    with pytest.raises(JournalError, match="another application"):
        kit.open()
    assert _digest(kit.path) == before

    kit.path.unlink()
    kit.open().append_read(make_read())
    kit.close()
    data = bytearray(kit.path.read_bytes())
    data[100:4096] = b"\x00" * (4096 - 100)  # wreck the first page's b-tree
    kit.path.write_bytes(bytes(data))
    before = _digest(kit.path)
    with pytest.raises(JournalError):
        kit.open()
    assert _digest(kit.path) == before


def test_another_cameras_journal_is_refused(kit: JournalKit) -> None:
    kit.open().append_read(make_read())
    kit.close()
    _sql(kit.path, "UPDATE meta SET value = 'cam-99' WHERE key = 'camera'")
    with pytest.raises(JournalError, match="belongs to camera 'cam-99'"):
        kit.open()


def test_no_plate_text_in_the_file(kit: JournalKit) -> None:
    journal = kit.open()
    plates = [f"{i % 10}PLT{i:03d}" for i in range(1000)]
    futures = [journal.submit_read(make_read(p)) for p in plates]
    assert [f.result() for f in futures] == list(range(1, 1001))
    kit.close()
    raw = b"".join(
        p.read_bytes() for p in kit.path.parent.iterdir() if p.name.startswith(kit.path.name)
    )
    assert all(p.encode() not in raw for p in plates)
