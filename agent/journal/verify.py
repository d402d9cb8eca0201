"""Verify a journal stream: signatures, chain links, gaps, forks, truncation and rollback.

Shared by ``anpr-agent journal verify`` (records in seq order from the file)
and by back offices (records in arrival order, replays included). Each problem
names the seq it concerns:

- ``malformed``, ``not-canonical``, ``wrong-camera``, ``wrong-stream``;
- ``unknown-key`` (signed by a key the verifier does not trust, by a new
  key before the ``key`` record that announced it, or by another key than
  the record before it with no ``key`` record between), ``retired-key`` (signed
  by a key after a ``key`` record retired it) and ``bad-signature`` (any
  edit of a body, a sealed blob included);
- ``broken-chain`` (``prev`` is not the previous record's hash);
- ``gap`` (seqs missing in the middle), ``reorder`` (in ordered mode, a record
  out of seq order, e.g. two swapped rows);
- ``fork`` (one seq seen with two different contents, or a checkpoint that
  disagrees with the record it names);
- ``unaccounted-start`` (the stream starts after seq 1 and no purge record
  accounts for the missing head);
- ``truncation`` (a checkpoint seen earlier, or the file's own heads table,
  names a seq past the end: the tail was cut or an older copy was restored)
  and ``rollback`` (a checkpoint seen earlier names a head hash that the file
  does not have; or the heads table names another hash, or a lower seq, than
  the records hold).

Key rotation: a well-signed ``key`` record at seq N makes the verifier trust
its ``new_key`` for records after N, and stop trusting the key it ``retires``
after N. Trust comes only from keys given to the verifier and from
announcements signed by them, so a key nobody announced is still refused.
The chain changes signer only at a ``key`` record: two neighbouring records
signed by different keys with no announcement between are refused even when
the verifier trusts both keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.core.canonical import unb64
from agent.journal.records import GENESIS, STREAMS, ParsedRecord, RecordError, parse_record
from agent.security.crypto import key_id, verify_signature

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["ChainVerifier", "Checkpoint", "Problem", "checkpoints_from", "verify_records"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found, about one seq (None when it concerns no single record)."""

    seq: int | None
    kind: str
    detail: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "stream"
        return f"{where}: {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A verified checkpoint: the chain head (seq, hash) it vouched for, and where it sat."""

    seq: int
    head_seq: int
    head: str
    external: bool = False  # seen earlier by a back office, not read from this stream


class ChainVerifier:
    """Verifies one stream of one camera, fed record by record in any order."""

    def __init__(
        self,
        camera: str,
        stream: str,
        keys: Mapping[str, Ed25519PublicKey],
        *,
        ordered: bool = False,
    ) -> None:
        self.camera = camera
        self.stream = stream
        self._keys = dict(keys)
        self._valid_from: dict[str, int] = {}  # announced key -> first seq it may sign
        self._retired_after: dict[str, int] = {}  # retired key -> last seq it may sign
        self._ordered = ordered
        self._hash: dict[int, str] = {}
        self._prev: dict[int, str] = {}
        self._kid: dict[int, str] = {}  # seq -> key that signed it
        self._announced: dict[int, str] = {}  # seq of a key record -> the kid it announces
        self._head: tuple[int, str] | None = None  # the file's own heads table, if given
        self._purge: tuple[int, int, str] | None = None  # (at seq, below, head_before)
        self.checkpoints: list[Checkpoint] = []
        self.duplicates = 0
        self._last_fed: int | None = None

    @property
    def verified(self) -> int:
        """Distinct records with a good signature."""
        return len(self._hash)

    @property
    def last_seq(self) -> int | None:
        """Highest verified seq."""
        return max(self._hash) if self._hash else None

    def check_record(self, record: ParsedRecord) -> Problem | None:
        """Camera, stream, canonical form, trusted key and signature of one record."""
        seq = record.seq
        if not record.canonical:
            return Problem(seq, "not-canonical", "bytes differ from the canonical encoding")
        if record.text("camera") != self.camera:
            return Problem(seq, "wrong-camera", f"record of camera {record.text('camera')!r}")
        if record.text("stream") != self.stream:
            return Problem(seq, "wrong-stream", f"record of stream {record.text('stream')!r}")
        kid = record.text("kid")
        key = self._keys.get(kid)
        wrong_key = self._key_in_force(kid, seq)
        if key is None or wrong_key is not None:
            return wrong_key
        if not verify_signature(key, record.signature, record.body_bytes):
            return Problem(seq, "bad-signature", "signature does not match the body")
        return None

    def _key_in_force(self, kid: str, seq: int) -> Problem | None:
        """Whether ``kid`` may sign at ``seq``: trusted, announced before, not retired yet."""
        if kid not in self._keys:
            return Problem(seq, "unknown-key", f"signed by untrusted key {kid!r}")
        if seq < self._valid_from.get(kid, 0):
            return Problem(seq, "unknown-key", f"signed by key {kid!r} before its announcement")
        if seq > self._retired_after.get(kid, seq):
            retired = self._retired_after[kid]
            return Problem(seq, "retired-key", f"signed by key {kid!r}, retired at seq {retired}")
        return None

    def feed(self, wire: bytes) -> list[Problem]:
        """Check one record; return the problems it shows now."""
        try:
            record = parse_record(wire)
        except RecordError as exc:
            return [Problem(None, "malformed", str(exc))]
        problems: list[Problem] = []
        seq = record.seq
        if self._ordered and self._last_fed is not None and seq != self._last_fed + 1:
            if seq <= self._last_fed:
                problems.append(Problem(seq, "reorder", f"comes after seq {self._last_fed}"))
            else:
                problems.append(
                    Problem(self._last_fed + 1, "gap", f"seqs {self._last_fed + 1}..{seq - 1}")
                )
        self._last_fed = seq
        bad = self.check_record(record)
        if bad is not None:
            return [*problems, bad]
        known = self._hash.get(seq)
        if known is not None:
            if known == record.hash:
                self.duplicates += 1
            else:
                problems.append(Problem(seq, "fork", "seen before with different content"))
            return problems
        self._hash[seq] = record.hash
        self._prev[seq] = record.text("prev")
        self._kid[seq] = record.text("kid")
        problems += self._special(record)
        problems += self._links(seq)
        return problems

    def _links(self, seq: int) -> list[Problem]:
        problems = []
        before = GENESIS if seq == 1 else self._hash.get(seq - 1)
        if before is not None and self._prev[seq] != before:
            problems.append(Problem(seq, "broken-chain", f"prev is not the hash of seq {seq - 1}"))
        after = self._prev.get(seq + 1)
        if after is not None and after != self._hash[seq]:
            problems.append(Problem(seq + 1, "broken-chain", f"prev is not the hash of seq {seq}"))
        problems += [p for s in (seq, seq + 1) if (p := self._signer_change(s)) is not None]
        return problems

    def _signer_change(self, seq: int) -> Problem | None:
        """Seq signed by another key than seq - 1 without a ``key`` record at seq - 1."""
        kid, before = self._kid.get(seq), self._kid.get(seq - 1)
        if kid is None or before is None or kid == before:
            return None
        if self._announced.get(seq - 1) == kid:
            return None
        return Problem(
            seq,
            "unknown-key",
            f"signed by key {kid!r}, seq {seq - 1} by {before!r}, and no key record between",
        )

    def _special(self, record: ParsedRecord) -> list[Problem]:
        seq = record.seq
        if record.kind == "key":
            return self._rotation(record)
        if record.kind == "checkpoint":
            head_seq, head = record.integer("head_seq"), record.text("head")
            if head_seq is None or not head:
                return [Problem(seq, "malformed", "checkpoint without head_seq/head")]
            self.checkpoints.append(Checkpoint(seq, head_seq, head))
        if record.kind == "purge":
            below = record.integer("below")
            if below is None:
                return [Problem(seq, "malformed", "purge without below")]
            if self._purge is None or seq > self._purge[0]:
                self._purge = (seq, below, record.text("head_before"))
        return []

    def _rotation(self, record: ParsedRecord) -> list[Problem]:
        """A verified ``key`` record: trust its new key after it, retire the signer's."""
        seq, new_kid, retires = record.seq, record.text("new_kid"), record.text("retires")
        try:
            new_key = Ed25519PublicKey.from_public_bytes(unb64(record.text("new_key")))
        except ValueError:
            return [Problem(seq, "malformed", "key record without a valid new_key")]
        if key_id(new_key) != new_kid or retires != record.text("kid"):
            return [Problem(seq, "malformed", "key record's new_kid/retires do not match")]
        if new_kid not in self._keys:
            self._keys[new_kid] = new_key
            self._valid_from[new_kid] = seq + 1
        self._announced[seq] = new_kid
        self._retired_after[retires] = min(self._retired_after.get(retires, seq), seq)
        return []

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Remember a checkpoint a back office saw earlier, to check the stream against it."""
        self.checkpoints.append(
            Checkpoint(checkpoint.seq, checkpoint.head_seq, checkpoint.head, external=True)
        )

    def expect_head(self, seq: int, digest: str) -> None:
        """The head the journal file itself records (its heads table): the records must reach it."""
        self._head = (seq, digest)

    def finish(self) -> list[Problem]:
        """Problems only the whole stream shows: gaps, unaccounted start, truncation, rollback."""
        problems: list[Problem] = []
        if not self._hash:
            problems += [
                Problem(None, "truncation", f"journal ends before seq {c.seq}, a seen checkpoint")
                for c in self.checkpoints[-1:]
            ]
            if self._head is not None and self._head[0] > 0:
                problems.append(
                    Problem(
                        None,
                        "truncation",
                        f"the journal's heads table names seq {self._head[0]} as the head "
                        "but the stream holds no record",
                    )
                )
            return problems
        first, last = min(self._hash), max(self._hash)
        if not self._ordered:
            problems += _gaps(self._hash, first, last)
        if first > 1:
            problems += self._start(first)
        problems += self._head_problems(last)
        for cp in self.checkpoints:
            if cp.seq > last or cp.head_seq > last:
                seen = "seen earlier" if cp.external else "in this stream"
                problems.append(
                    Problem(
                        last,
                        "truncation",
                        f"the stream ends at seq {last} but a checkpoint {seen} is seq {cp.seq} "
                        f"(vouching for seq {cp.head_seq})",
                    )
                )
            elif self._hash.get(cp.head_seq, cp.head) != cp.head:
                kind, why = (
                    ("rollback", "differs from what a checkpoint seen earlier vouched for")
                    if cp.external
                    else ("fork", f"differs from what the checkpoint at seq {cp.seq} vouched for")
                )
                problems.append(Problem(cp.head_seq, kind, why))
        return problems

    def _head_problems(self, last: int) -> list[Problem]:
        if self._head is None:
            return []
        seq, digest = self._head
        if seq > last:
            why = f"the journal's heads table names seq {seq} as the head; records end at {last}"
            return [Problem(last, "truncation", why)]
        if seq < last:
            why = f"the journal's heads table names seq {seq} as the head; records run to {last}"
            return [Problem(seq, "rollback", why)]
        if self._hash[last] != digest:
            return [Problem(last, "rollback", "the journal's heads table names another head hash")]
        return []

    def _start(self, first: int) -> list[Problem]:
        if self._purge is None or self._purge[1] != first:
            return [
                Problem(
                    first,
                    "unaccounted-start",
                    f"seqs 1..{first - 1} are missing and no purge record accounts for them",
                )
            ]
        if self._prev[first] != self._purge[2]:
            return [Problem(first, "broken-chain", "prev is not the head the purge recorded")]
        return []


def _gaps(seen: Mapping[int, str], first: int, last: int) -> list[Problem]:
    problems = []
    start = None
    for seq in range(first, last + 2):
        if seq not in seen and seq <= last:
            start = seq if start is None else start
        elif start is not None:
            problems.append(Problem(start, "gap", f"seqs {start}..{seq - 1} missing"))
            start = None
    return problems


def verify_records(  # noqa: PLR0913 - explicit inputs of a verification
    camera: str,
    stream: str,
    keys: Mapping[str, Ed25519PublicKey],
    wires: Iterable[bytes],
    *,
    known_checkpoints: Iterable[Checkpoint] = (),
    ordered: bool = True,
    head: tuple[int, str] | None = None,
) -> tuple[ChainVerifier, list[Problem]]:
    """Verify a whole stream; return the verifier (for its figures) and every problem.

    ``head`` is the (seq, hash) the journal file's heads table records, when
    the records come from a file: a tail cut after the last checkpoint shows there.
    """
    verifier = ChainVerifier(camera, stream, keys, ordered=ordered)
    problems: list[Problem] = []
    for wire in wires:
        problems += verifier.feed(wire)
    for checkpoint in known_checkpoints:
        verifier.add_checkpoint(checkpoint)
    if head is not None:
        verifier.expect_head(*head)
    problems += verifier.finish()
    return verifier, problems


def checkpoints_from(
    wires: Iterable[bytes], camera: str, stream: str, keys: Mapping[str, Ed25519PublicKey]
) -> tuple[list[Checkpoint], list[Problem]]:
    """Checkpoint records a back office kept: only well-signed ones of this stream count.

    Records of the camera's other stream are skipped (one file may hold both
    streams' checkpoints); anything else that is not a good checkpoint of this
    stream is a problem.
    """
    probe = ChainVerifier(camera, stream, keys)
    checkpoints: list[Checkpoint] = []
    problems: list[Problem] = []
    for wire in wires:
        try:
            record = parse_record(wire)
        except RecordError as exc:
            problems.append(Problem(None, "malformed", f"checkpoint: {exc}"))
            continue
        if record.text("stream") in STREAMS and record.text("stream") != stream:
            continue
        bad = probe.check_record(record)
        head_seq, head = record.integer("head_seq"), record.text("head")
        if bad is not None:
            problems.append(bad)
        elif record.kind == "checkpoint" and head_seq is not None and head:
            checkpoints.append(Checkpoint(record.seq, head_seq, head, external=True))
    return checkpoints, problems
