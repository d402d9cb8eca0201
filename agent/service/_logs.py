"""Structured logs for journald, and the one place where anything plate-like is removed.

Every line the agent writes passes through :class:`Redactor`, a filter on the
one output handler. It renders the message itself, after replacing arguments
that can carry a plate (stage data, bytes, arrays) by a neutral stand-in, then
blanks out of the rendered text, the exception and the stack:

- plate-like tokens: runs of capital letters and digits (``-`` or ``.`` may
  join them) holding 4 to 10 such characters, at least one letter and one
  digit — what a reader emits (``A-Z0-9``), with or without separators; and
  the same written in groups of 1 to 6 with single spaces (``B MW 1234``,
  ``AB 123 CD``);
- long lowercase hex (40 characters or more): a plate hash or HMAC;
- long base64 (64 characters or more): a crop or a sealed blob.

Reads are referred to by stream and seq, never by content. Lowercase words
with digits (``tlsv1``, ``sha256``, ``x25519``), key ids (16 hex) and seqs
stay readable. A personalised plate without any digit is caught only by the
argument rule, which is why nothing in the agent formats a plate into a
message in the first place.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
from typing import IO, TYPE_CHECKING

from agent.core.events import Frame, PlateBox, PlateRead, PlateText

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["JsonFormatter", "KvFormatter", "Redactor", "configure_logging", "redact", "set_level"]

REDACTED = "[redacted]"
# Whole runs only (nothing alphanumeric, joined or not, on either side), so the
# letter/digit look-aheads judge the run that is matched and no longer one.
_PLATE = re.compile(
    r"(?<![A-Za-z0-9])(?<![A-Za-z0-9][.-])"
    r"(?=(?:[.-]?[A-Z0-9])*?[A-Z])(?=(?:[.-]?[A-Z0-9])*?[0-9])"
    r"[A-Z0-9](?:[.-]?[A-Z0-9]){3,9}(?![A-Za-z0-9])(?![.-][A-Za-z0-9])"
)
# A plate printed in spaced groups: 2 to 4 groups of 1-6 capitals/digits, nothing
# plate-like joined on either side; letters, digits and length are checked on the match.
_SPACED = re.compile(
    r"(?<![A-Za-z0-9])(?<![A-Za-z0-9][.-])(?<![A-Z0-9] )"
    r"[A-Z0-9]{1,6}(?: [A-Z0-9]{1,6}){1,3}"
    r"(?![A-Za-z0-9])(?![.-][A-Za-z0-9])(?! [A-Z0-9])"
)
_HASH = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{40,}(?![0-9a-fA-F])")
_BLOB = re.compile(r"[A-Za-z0-9+/]{64,}={0,2}")
_STAGE_DATA = (PlateRead, PlateText, Frame, PlateBox)
# LogRecord attributes that are not "extra" fields.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}
# journald reads a "<N>" syslog priority prefix on stdout lines and strips it.
_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


def redact(text: str) -> str:
    """Blank plate-like tokens, long hex and long base64 out of ``text``."""
    text = _BLOB.sub(REDACTED, text)
    text = _HASH.sub(REDACTED, text)
    text = _SPACED.sub(_spaced, text)
    return _PLATE.sub(REDACTED, text)


def _spaced(match: re.Match[str]) -> str:
    chars = match.group(0).replace(" ", "")
    plate_like = (
        4 <= len(chars) <= 10
        and any(c.isalpha() for c in chars)
        and any(c.isdigit() for c in chars)
    )
    return REDACTED if plate_like else match.group(0)


def _safe_arg(value: object) -> object:
    if isinstance(value, _STAGE_DATA):
        return f"<{type(value).__name__}>"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if type(value).__module__ == "numpy":
        return "<array>"
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


class Redactor(logging.Filter):
    """The one redaction point: renders each record and removes whatever could be a plate."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place (message, exception, stack, extras); never drop it."""
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_safe_arg(a) for a in args)
        elif isinstance(args, dict):
            record.args = {k: _safe_arg(v) for k, v in args.items()}
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg!s} (unformattable arguments)"
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD:
                setattr(record, key, _safe_arg(value))
        return True


def _extras(record: logging.LogRecord) -> Mapping[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class _LineFormatter(logging.Formatter):
    """The fields every line carries, and the journald priority prefix under systemd."""

    def __init__(self, *, priority_prefix: bool = False) -> None:
        super().__init__()
        self._prefix = priority_prefix

    def _fields(self, record: logging.LogRecord) -> dict[str, object]:
        fields: dict[str, object] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **_extras(record),
        }
        if record.exc_text:
            fields["exc"] = record.exc_text
        return fields

    def _line(self, record: logging.LogRecord, text: str) -> str:
        return f"<{_PRIORITY.get(record.levelname, 6)}>{text}" if self._prefix else text


class JsonFormatter(_LineFormatter):
    """One JSON object per line: ts, level, logger, msg, extras (e.g. stream, seq), exc."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a (redacted) record."""
        line = self._fields(record)
        if record.stack_info:
            line["stack"] = record.stack_info
        return self._line(record, json.dumps(line, default=str, ensure_ascii=False))


class KvFormatter(_LineFormatter):
    """``ts=… level=… logger=… msg="…" key=value`` lines."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a (redacted) record."""
        fields = self._fields(record)
        return self._line(record, " ".join(f"{k}={_kv(v)}" for k, v in fields.items()))


def _kv(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\n\t'):
        return text
    return json.dumps(text, ensure_ascii=False)


def _timestamp(record: logging.LogRecord) -> str:
    when = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_HANDLER_NAME = "anpr-agent"


def configure_logging(
    level: str, fmt: str, stream: IO[str] | None = None, env: Mapping[str, str] | None = None
) -> logging.Handler:
    """Send every log line, redacted, to ``stream`` (stdout); replace a previous setup.

    Under systemd (``$JOURNAL_STREAM`` set) lines carry a ``<N>`` priority prefix
    that journald turns into the entry's priority and strips.
    """
    env = os.environ if env is None else env
    prefix = bool(env.get("JOURNAL_STREAM")) and stream is None
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(Redactor())
    formatter = JsonFormatter if fmt == "json" else KvFormatter
    handler.setFormatter(formatter(priority_prefix=prefix))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def set_level(level: str) -> None:
    """Change the log level at run time (SIGHUP)."""
    logging.getLogger().setLevel(level)
