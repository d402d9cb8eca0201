"""The model-card contract shared by every ONNX model the agent loads (reader, detector).

A card is a JSON object next to its ``.onnx``: the checks here are the same
for every model — typed fields, fixed layout rules, and the model file's
sha256 — and each model module raises its own error type through them, so a
vendor's broken card is always one clear line (and exit 2).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import onnxruntime as ort

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

__all__ = ["check_rules", "need", "open_session", "read_card", "verified_model"]


def need(obj: dict[str, Any], key: str, kind: type, where: str, error: type[Exception]) -> Any:  # noqa: ANN401 - the caller knows the kind it asked for
    """``obj[key]`` when it has type ``kind`` (an int counts as a float), else ``error``."""
    value = obj.get(key)
    kinds = (int, float) if kind is float else (kind,)  # JSON writes 255.0 as 255
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise error(f"{where}: '{key}' must be a {kind.__name__}, got {value!r}")
    return value


def read_card(path: Path, what: str, error: type[Exception]) -> dict[str, Any]:
    """The card at ``path`` as a JSON object."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {what} card not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: not a readable JSON card ({exc})") from None
    if not isinstance(raw, dict):
        raise error(f"{path}: a card is a JSON object")
    return raw


def check_rules(
    raw: dict[str, Any],
    rules: Iterable[tuple[str, str, str]],
    where: str,
    error: type[Exception],
) -> None:
    """Each ``(section, key, value)`` rule must hold in the card."""
    for section, key, want in rules:
        got = need(raw, section, dict, where, error).get(key)
        if got != want:
            raise error(f"{where}: {section}.{key} must be {want!r}, got {got!r}")


def verified_model(
    card_path: Path, raw: dict[str, Any], what: str, error: type[Exception]
) -> tuple[Path, str]:
    """The model file next to the card, after checking its sha256."""
    where = str(card_path)
    model = card_path.parent / need(raw, "model", str, where, error)
    digest = need(raw, "sha256", str, where, error).lower()
    try:
        actual = hashlib.sha256(model.read_bytes()).hexdigest()
    except OSError as exc:
        raise error(f"{model}: cannot read the {what} model ({exc.strerror})") from None
    if actual != digest:
        raise error(
            f"{model}: sha256 {actual[:16]}... does not match its card ({digest[:16]}...): "
            "the model file was changed or belongs to another card"
        )
    return model, digest


def open_session(model_path: Path, threads: int, error: type[Exception]) -> ort.InferenceSession:
    """A CPU session for a card's model: ``threads`` intra-op threads, sequential, quiet.

    A file onnxruntime cannot load is one line of ``error``, as a broken card is.
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    # onnxruntime's errors (InvalidProtobuf, Fail, ...) derive from Exception only.
    except Exception as exc:  # noqa: BLE001
        raise error(f"{model_path}: not a loadable ONNX model ({exc})") from None
