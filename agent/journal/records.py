"""Journal records (wire contract v1): build, seal, sign, parse.

A record is canonical JSON. Its *body* is the record without ``sig``; ``sig``
is Ed25519 over the body bytes and the record's *hash* is SHA-256 of the body
bytes. ``prev`` is the previous record's hash in the same stream, so the
signature covers the chain link. Kinds:

- ``read`` (stream ``reads``): ``sealed`` — the plate, per-character
  confidences, country, lane, direction, vehicle class, pass time and crop,
  HPKE-sealed to the back office (see :mod:`agent.crypto`);
- ``count`` (stream ``counts``): ``data`` — an anonymous count window;
- ``checkpoint``: ``head_seq``/``head`` — a signed statement of the chain head;
- ``purge``: ``below`` — every record under this seq is gone, ``head_before``
  the hash of record ``below - 1``, ``reason`` and ``count`` of this purge;
- ``key``: ``new_kid``/``new_key`` — a signing key rotation, signed by the key
  it ``retires``: later records of the stream are signed by the new key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from agent.core.canonical import b64, canonical, sha256_hex, unb64
from agent.security.crypto import SealError, seal_info, unseal

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import x25519

    from agent.core.events import PlateRead
    from agent.security.crypto import Sealer, Signer

__all__ = [
    "GENESIS",
    "RECORD_VERSION",
    "SEAL_ALG",
    "STREAMS",
    "OpenedRead",
    "ParsedRecord",
    "RecordError",
    "build_record",
    "open_read",
    "parse_record",
    "read_payload",
]

RECORD_VERSION = 1
GENESIS = "0" * 64  # ``prev`` of a stream's first record
STREAMS = ("reads", "counts")
SEAL_ALG = "hpke-x25519-hkdfsha256-aes128gcm"
Kind = Literal["read", "count", "checkpoint", "purge", "key"]
_HEADER = ("v", "camera", "stream", "seq", "prev", "ts", "boot", "kid", "type")


class RecordError(ValueError):
    """Bytes that are not a well-formed v1 record."""


def read_payload(read: PlateRead, sealer: Sealer, camera: str, seq: int) -> dict[str, object]:
    """Seal everything about a read to the back office; only the sealed blob is visible.

    The sealed plaintext is ``len(meta)`` (4 bytes, big-endian) ‖ ``meta``
    (canonical JSON: text, conf, country, lane, direction, class, pass_ms,
    frames, overview_bytes) ‖ the crop's JPEG bytes ‖ the overview's JPEG bytes
    (its last ``overview_bytes``; none when 0) — binary, so no image is
    base64'd twice. The clock's state at the pass (``clock``) is not personal
    data and goes into the signed body in clear, for anyone who checks the chain.
    """
    meta = canonical(
        {
            "text": read.text,
            "conf": list(read.char_conf),
            "country": read.country,
            "lane": read.lane,
            "direction": read.direction,
            "class": read.vehicle_class,
            "pass_ms": read.wall_ms,
            "frames": read.frames,
            "overview_bytes": len(read.overview_jpeg),
        }
    )
    plain = len(meta).to_bytes(4, "big") + meta + read.crop_jpeg + read.overview_jpeg
    blob = sealer.seal(plain, seal_info(camera, "reads", seq))
    payload: dict[str, object] = {
        "seal": SEAL_ALG,
        "sealed_to": sealer.fingerprint[:16],
        "sealed": b64(blob),
    }
    if read.clock is not None:
        payload["clock"] = read.clock.fields()
    return payload


@dataclass(frozen=True, slots=True)
class OpenedRead:
    """A read's sealed content, opened by the back office."""

    meta: dict[str, object]
    crop_jpeg: bytes = field(repr=False)
    overview_jpeg: bytes = field(default=b"", repr=False)  # the vehicle or frame; b"": none


def open_read(record: ParsedRecord, private: x25519.X25519PrivateKey) -> OpenedRead:
    """Unseal a ``read`` record with the back office's key (:class:`SealError` if it fails)."""
    camera, seq = record.text("camera"), record.seq
    try:
        blob = unb64(record.text("sealed"))
    except ValueError as exc:
        raise SealError(f"sealed blob is not base64: {exc}") from None
    plain = unseal(blob, private, seal_info(camera, "reads", seq))
    if len(plain) < 4:
        raise SealError("sealed content is shorter than its length prefix")
    size = int.from_bytes(plain[:4], "big")
    if size > len(plain) - 4:
        raise SealError(f"sealed meta says {size} bytes, {len(plain) - 4} follow the prefix")
    try:
        meta = json.loads(plain[4 : 4 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SealError(f"sealed content is not a read: {exc}") from None
    if not isinstance(meta, dict):
        raise SealError("sealed content is not a read")
    images = plain[4 + size :]
    overview = meta.get("overview_bytes", 0)
    if not isinstance(overview, int) or not 0 <= overview <= len(images):
        raise SealError(f"sealed overview_bytes {overview!r} does not fit the images")
    cut = len(images) - overview
    return OpenedRead(meta, images[:cut], images[cut:])


def build_record(  # noqa: PLR0913 - the header of a record has this many fields
    *,
    camera: str,
    stream: str,
    seq: int,
    prev: str,
    ts_ms: int,
    boot: str,
    kind: Kind,
    payload: dict[str, object],
    signer: Signer,
) -> tuple[bytes, str]:
    """Return the record's wire bytes and its hash."""
    clash = set(payload) & {*_HEADER, "sig"}
    if clash:
        raise ValueError(f"payload may not set {sorted(clash)}")
    body = {
        "v": RECORD_VERSION,
        "camera": camera,
        "stream": stream,
        "seq": seq,
        "prev": prev,
        "ts": ts_ms,
        "boot": boot,
        "kid": signer.key_id,
        "type": kind,
        **payload,
    }
    body_bytes = canonical(body)
    wire = canonical({**body, "sig": b64(signer.sign(body_bytes))})
    return wire, sha256_hex(body_bytes)


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    """A record split into what the verifier needs."""

    body: dict[str, object]
    body_bytes: bytes
    signature: bytes
    hash: str
    canonical: bool  # the wire bytes were exactly the canonical encoding

    @property
    def seq(self) -> int:
        """The record's seq."""
        value = self.body["seq"]
        if not isinstance(value, int):  # parse_record checked it; python -O strips asserts
            raise RecordError("seq is not an integer")
        return value

    @property
    def kind(self) -> str:
        """The record's type."""
        return str(self.body["type"])

    def text(self, key: str) -> str:
        """A string field of the body ('' when absent or not a string)."""
        value = self.body.get(key)
        return value if isinstance(value, str) else ""

    def integer(self, key: str) -> int | None:
        """An integer field of the body (None when absent or not an integer)."""
        value = self.body.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_record(wire: bytes) -> ParsedRecord:
    """Parse wire bytes; :class:`RecordError` when they are not a v1 record."""
    try:
        record = json.loads(wire.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise RecordError("not a JSON object")
    missing = [k for k in (*_HEADER, "sig") if k not in record]
    if missing:
        raise RecordError(f"missing {', '.join(missing)}")
    if record["v"] != RECORD_VERSION:
        raise RecordError(f"unknown record version {record['v']!r}")
    seq = record["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise RecordError("seq is not a positive integer")
    sig = record.pop("sig")
    try:
        signature = unb64(sig) if isinstance(sig, str) else b""
        body_bytes = canonical(record)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"not canonical: {exc}") from None
    is_canonical = canonical({**record, "sig": sig}) == wire
    return ParsedRecord(record, body_bytes, signature, sha256_hex(body_bytes), is_canonical)
