"""Canonical JSON: the one byte form that is signed, hashed and sent.

Sorted keys, no spaces, UTF-8, and no floats (confidences travel as per-mille
integers): two encoders that follow these rules produce the same bytes, so a
verifier can re-encode a parsed record and check its signature.
"""

from __future__ import annotations

import base64
import hashlib
import json

__all__ = ["b64", "canonical", "sha256_hex", "unb64"]

_MAX_DEPTH = 32


def _check(value: object, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError("canonical JSON nests too deep")
    if isinstance(value, float):
        raise TypeError("canonical JSON has no floats: use integers (e.g. per-mille)")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("canonical JSON object keys are strings")
            _check(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _check(item, depth + 1)
    elif not isinstance(value, str | int | bool) and value is not None:
        raise TypeError(f"canonical JSON cannot hold {type(value).__name__}")


def canonical(value: object) -> bytes:
    """Encode ``value`` canonically; refuse floats and non-JSON types."""
    _check(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` as lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def b64(data: bytes) -> str:
    """Standard base64 without newlines."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Decode standard base64, refusing anything that is not."""
    return base64.b64decode(text.encode("ascii"), validate=True)
