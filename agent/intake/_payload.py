"""Bodies as they come off the wire: JSON, XML (no DTD, no entities), multipart; paths into them.

XML is parsed with expat directly, refusing any document type declaration,
entity declaration or external reference before anything is expanded — the
part of ``defusedxml`` this intake needs, in a few lines and without a new
dependency. Namespaces are dropped from names (``{uri}licensePlate`` is
``licensePlate``): vendors move their namespace URIs between firmware versions.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import xml.parsers.expat
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from agent.intake._mapping import parse_path

if TYPE_CHECKING:
    from agent.intake._mapping import Mapping, Step

__all__ = ["BadEventError", "Document", "parse_body", "safe_xml"]

_MAX_DEPTH = 64

Value = str | int | float | bool | list[object] | dict[str, object] | None


class BadEventError(Exception):
    """An event the intake refuses: an HTTP status and one line saying why (never a plate)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _local(name: str) -> str:
    # expat with namespace_separator gives "uri local"; keep the local name.
    return name.rsplit(" ", 1)[-1]


def _refuse(*_: object) -> None:
    raise BadEventError(400, "XML with a DTD or entity declaration is refused")


class _Builder:
    """expat callbacks that build an element tree with local names."""

    def __init__(self) -> None:
        self.stack: list[Element] = []
        self.root: Element | None = None

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if len(self.stack) >= _MAX_DEPTH:
            raise BadEventError(400, f"XML nested deeper than {_MAX_DEPTH} levels")
        element = Element(_local(name), {_local(k): v for k, v in attrs.items()})
        if self.stack:
            self.stack[-1].append(element)
        elif self.root is None:
            self.root = element
        self.stack.append(element)

    def end(self, _name: str) -> None:
        self.stack.pop()

    def text(self, data: str) -> None:
        # Text after a child element (mixed content) means nothing to a mapping.
        if self.stack and not len(self.stack[-1]):
            element = self.stack[-1]
            element.text = (element.text or "") + data


def safe_xml(data: bytes) -> Element:
    """Parse XML into an element tree, refusing DTDs, entities and deep nesting."""
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    builder = _Builder()
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.text
    try:
        parser.Parse(data, True)  # noqa: FBT003 - expat's own signature
    except xml.parsers.expat.ExpatError as exc:
        reason = xml.parsers.expat.errors.messages[exc.code]
        raise BadEventError(400, f"malformed XML: {reason}") from None
    if builder.root is None:
        raise BadEventError(400, "malformed XML: no root element")
    return builder.root


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed event and the multipart parts that came with it (name -> bytes)."""

    tree: object  # dict/list (JSON) or Element (XML)
    parts: dict[str, bytes]

    @property
    def root(self) -> str | None:
        """The XML root element's name (None for JSON)."""
        return self.tree.tag if isinstance(self.tree, Element) else None

    def get(self, path: str) -> Value:
        """The value at ``path``, or None where the event has nothing there."""
        steps = parse_path(path)
        if isinstance(self.tree, Element):
            return _walk_xml(self.tree, steps)
        return _walk_json(self.tree, steps)


def _walk_json(node: object, steps: tuple[Step, ...]) -> Value:
    for step in steps:
        if not isinstance(node, dict):
            return None
        node = node.get(step.key.removeprefix("@"))
        if step.index is not None:
            if not isinstance(node, list) or step.index >= len(node):
                return None
            node = node[step.index]
        elif step.where is not None:
            key, want = step.where
            if not isinstance(node, list):
                return None
            node = next(
                (i for i in node if isinstance(i, dict) and str(i.get(key)) == want),
                None,
            )
    if isinstance(node, str | int | float | bool | list | dict) or node is None:
        return node
    return None


def _walk_xml(root: Element, steps: tuple[Step, ...]) -> Value:
    node: Element | None = root
    for step in steps:
        if node is None:
            return None
        if step.key.startswith("@"):
            return node.get(step.key[1:])
        children = node.findall(step.key)  # a plain name: ElementPath's C fast path
        if step.where is not None:
            key, want = step.where
            children = [c for c in children if (c.findtext(key) or "").strip() == want]
        index = step.index or 0
        node = children[index] if index < len(children) else None
    if node is None:
        return None
    return (node.text or "").strip()


_BOUNDARY = re.compile(r'boundary\s*=\s*"?([^";,\s]+)"?', re.IGNORECASE)
_PARAM = re.compile(rb'(\w+)\s*=\s*"([^"]*)"|(\w+)\s*=\s*([^;\s]+)')


def _part(chunk: bytes) -> tuple[dict[bytes, bytes], bytes]:
    """One multipart part: its headers (lower-case names) and its payload."""
    chunk = chunk.removeprefix(b"\r\n").removeprefix(b"\n")
    head, sep, data = chunk.partition(b"\r\n\r\n")
    if not sep:
        head, sep, data = chunk.partition(b"\n\n")
    if not sep:
        raise BadEventError(400, "malformed multipart body: a part without headers")
    data = data.removesuffix(b"\r\n") if data.endswith(b"\r\n") else data.removesuffix(b"\n")
    headers = {}
    for line in head.splitlines():
        name, colon, value = line.partition(b":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, data


def _multipart(body: bytes, content_type: str) -> dict[str, tuple[str, bytes]]:
    """Parts by name and by file name -> (content type, payload).

    A plain split on the boundary: the standard library's email parser costs
    milliseconds an event, most of the intake's budget.
    """
    found = _BOUNDARY.search(content_type)
    if found is None:
        raise BadEventError(400, "multipart body without a boundary in Content-Type")
    delimiter = b"--" + found.group(1).encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3:  # preamble, a part, the closing delimiter
        raise BadEventError(400, "malformed multipart body")
    parts: dict[str, tuple[str, bytes]] = {}
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        headers, data = _part(chunk)
        if headers.get(b"content-transfer-encoding", b"").lower() == b"base64":
            try:
                data = base64.b64decode(data)
            except (binascii.Error, ValueError):
                raise BadEventError(400, "malformed multipart body: bad base64 part") from None
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        item = (ctype, data)
        for m in _PARAM.finditer(headers.get(b"content-disposition", b"")):
            key = (m.group(1) or m.group(3)).lower()
            if key in {b"name", b"filename"}:
                name = (m.group(2) if m.group(1) else m.group(4)).decode("utf-8", "replace")
                parts.setdefault(name, item)
        parts.setdefault(f"#{len(parts)}", item)
    if not parts:
        raise BadEventError(400, "multipart body with no parts")
    return parts


def _decode(body: bytes, kind: str) -> object:
    if kind == "xml":
        return safe_xml(body)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadEventError(400, f"malformed JSON: {str(exc).split(':')[0]}") from None


def parse_body(body: bytes, content_type: str, mapping: Mapping) -> Document:
    """Decode an event body the way its mapping says; :class:`BadEventError` (400) if it cannot."""
    if not body.strip():
        raise BadEventError(400, "empty body")
    if not mapping.multipart:
        return Document(_decode(body, mapping.body), {})
    parts = _multipart(body, content_type)
    if mapping.event_part is not None:
        found = parts.get(mapping.event_part)
        if found is None:
            raise BadEventError(400, f"multipart body has no part {mapping.event_part!r}")
    else:
        found = next(
            (p for name, p in parts.items() if not name.startswith("#") and mapping.body in p[0]),
            None,
        )
        if found is None:
            raise BadEventError(400, f"multipart body has no {mapping.body} part")
    return Document(_decode(found[1], mapping.body), {k: v[1] for k, v in parts.items()})
