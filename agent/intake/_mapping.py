"""A vendor's event format, declared: where a read's fields sit in the payload, and their units.

A mapping is a small TOML file (the shipped presets are such files, see
``presets/``). It is validated like the agent's config (pydantic, ``extra``
forbidden, one line per problem) and never executes anything: paths are a
dotted walk with list indexes and ``[Key=Value]`` filters, times and scales are
closed vocabularies.
"""

from __future__ import annotations

import functools
import re
import tomllib
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "FieldPaths",
    "ImageSpec",
    "Mapping",
    "MappingError",
    "TimeSpec",
    "load_mapping",
    "parse_path",
    "preset_names",
    "resolve_mapping",
]

PRESET_PREFIX = "preset:"
_SEGMENT = re.compile(r"^(@?[A-Za-z_][\w.-]*?)(?:\[(\d+)\]|\[([\w -]+)=([^\]]*)\])?$")
_PATH_PATTERN = r"^[^\s.][^\n]*$"
_DIRECTIONS = ("approaching", "receding")
_CLASSES = ("car", "van", "truck", "bus", "motorcycle")


class MappingError(Exception):
    """A mapping cannot be used; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Step(BaseModel):
    """One step of a path: a key (``@name``: an XML attribute), then an index or a filter."""

    model_config = ConfigDict(frozen=True)

    key: str
    index: int | None = None
    where: tuple[str, str] | None = None  # (child key, value it must equal)


@functools.lru_cache(maxsize=512)
def parse_path(path: str) -> tuple[Step, ...]:
    """Split ``a.b[0].c[Key=Some value].@attr`` into steps; ValueError with the rule if bad."""
    steps: list[Step] = []
    # A filter value may hold dots ("Score 1.0"): split on dots outside brackets only.
    parts = re.split(r"\.(?![^\[]*\])", path)
    for part in parts:
        m = _SEGMENT.match(part)
        if not m:
            msg = f"path segment {part!r} is not name, name[INDEX], name[KEY=VALUE] or @attribute"
            raise ValueError(msg)
        key, index, fkey, fvalue = m.groups()
        if key.startswith("@") and (index is not None or fkey is not None):
            raise ValueError(f"attribute {key!r} takes no index or filter")
        steps.append(
            Step(
                key=key,
                index=int(index) if index is not None else None,
                where=(fkey.strip(), fvalue) if fkey is not None else None,
            )
        )
    if any(s.key.startswith("@") for s in steps[:-1]):
        raise ValueError("an @attribute can only be the last segment")
    return tuple(steps)


def _check_path(path: str) -> str:
    parse_path(path)
    return path


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


Path_ = Annotated[str, Field(min_length=1, max_length=300, pattern=_PATH_PATTERN)]


class FieldPaths(_Section):
    """Where each field of a read sits in the event; only ``plate`` is required."""

    plate: Path_ = Field(description="The plate text.")
    event_id: Path_ | None = Field(
        default=None, description="The vendor's event id: a resend carries the same one."
    )
    time: Path_ | None = Field(
        default=None,
        description="Time of the pass; without it the time the event arrived is taken.",
    )
    country: Path_ | None = Field(default=None, description="Country of the plate.")
    confidence: Path_ | None = Field(default=None, description="Overall confidence of the read.")
    char_confidence: Path_ | None = Field(
        default=None,
        description="Per-character confidences: a list, or one string of comma-separated numbers.",
    )
    lane: Path_ | None = Field(default=None, description="Lane number (1-based).")
    direction: Path_ | None = Field(default=None, description="Direction of travel.")
    vehicle_class: Path_ | None = Field(default=None, description="Vehicle class.")
    image: Path_ | None = Field(
        default=None, description="Plate crop, base64 in the event (see image.part for multipart)."
    )

    @model_validator(mode="after")
    def _paths_parse(self) -> FieldPaths:
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is not None:
                try:
                    parse_path(value)
                except ValueError as exc:
                    raise ValueError(f"fields.{name}: {exc}") from None
        return self


class TimeSpec(_Section):
    """How the pass time is written."""

    format: str = Field(
        default="iso8601",
        min_length=2,
        max_length=60,
        description="iso8601, epoch_s, epoch_ms, or a strptime pattern (e.g. %Y%m%dT%H%M%S.%f).",
    )
    timezone: str = Field(
        default="UTC",
        pattern=r"^(UTC|[+-]\d{2}:\d{2})$",
        description="Offset of times written without one: UTC or +HH:MM / -HH:MM.",
    )

    @model_validator(mode="after")
    def _format_known(self) -> TimeSpec:
        if self.format not in {"iso8601", "epoch_s", "epoch_ms"} and "%" not in self.format:
            raise ValueError("time.format must be iso8601, epoch_s, epoch_ms or a strptime pattern")
        return self


class ImageSpec(_Section):
    """Where the plate crop comes from when the event carries one."""

    part: str | None = Field(
        default=None,
        max_length=200,
        description="Multipart: the name or file name of the part holding the crop.",
    )


class Mapping(_Section):
    """One vendor event format."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="Short name (a URL path).")
    vendor: str = Field(min_length=1, max_length=200, description="Who makes the cameras.")
    source: str = Field(
        min_length=1,
        max_length=500,
        description="Where the format is documented (URL), or 'site-specific'.",
    )
    body: Literal["json", "xml"] = Field(description="Encoding of the event itself.")
    multipart: bool = Field(
        default=False,
        description="The event comes as multipart/form-data: one part the event, others images.",
    )
    event_part: str | None = Field(
        default=None,
        max_length=200,
        description="Multipart: name or file name of the event part (default: the first "
        "part of the body's type).",
    )
    root: str | None = Field(
        default=None,
        max_length=200,
        description="XML: the root element an event has (others are refused, 422).",
    )
    only_when: dict[str, Annotated[str, Field(max_length=200)]] = Field(
        default_factory=dict,
        max_length=8,
        description="Path -> value an event must have to be a read (e.g. eventType = 'ANPR'); "
        "other events are answered 'ignored' and not journaled.",
    )
    fields: FieldPaths
    time: TimeSpec = Field(default_factory=TimeSpec)
    confidence_scale: float = Field(
        default=1.0,
        gt=0.0,
        le=1000.0,
        description="What full confidence is written as (1, 100, 1000); values are divided by it.",
    )
    image: ImageSpec = Field(default_factory=ImageSpec)
    country_values: dict[str, Annotated[str, Field(pattern=r"^[A-Z]{1,3}$")]] = Field(
        default_factory=dict,
        description="Vendor country values to international codes (BEL = 'B'); other values "
        "that already are 1-3 capitals are kept, the rest dropped.",
    )
    direction_values: dict[str, Literal["approaching", "receding"]] = Field(
        default_factory=dict, description="Vendor direction values to approaching / receding."
    )
    class_values: dict[str, Literal["car", "van", "truck", "bus", "motorcycle"]] = Field(
        default_factory=dict, description="Vendor vehicle classes to ours."
    )
    no_plate_values: tuple[str, ...] = Field(
        default=(),
        max_length=20,
        description="Plate values that mean 'no plate read' (refused like a missing plate).",
    )

    @model_validator(mode="after")
    def _image_where(self) -> Mapping:
        if self.root is not None and self.body != "xml":
            raise ValueError("root names an XML element, but body is not xml")
        for path in self.only_when:
            try:
                parse_path(path)
            except ValueError as exc:
                raise ValueError(f"only_when: {exc}") from None
        if self.image.part is not None and not self.multipart:
            raise ValueError("image.part names a multipart part, but multipart is false")
        if self.event_part is not None and not self.multipart:
            raise ValueError("event_part names a multipart part, but multipart is false")
        return self


def _describe(exc: ValidationError, where: str) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{where}: {loc}: {msg}")
    return lines


def _from_text(text: str, where: str) -> Mapping:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError([f"{where}: not valid TOML: {exc}"]) from None
    try:
        return Mapping.model_validate(raw)
    except ValidationError as exc:
        raise MappingError(_describe(exc, where)) from None


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping file; :class:`MappingError` with one line per problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError([f"{path}: cannot read mapping: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise MappingError([f"{path}: mapping is not UTF-8 text"]) from None
    return _from_text(text, str(path))


def preset_names() -> tuple[str, ...]:
    """The presets shipped with the agent."""
    folder = resources.files("agent.intake") / "presets"
    return tuple(
        sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))
    )


def load_preset(name: str) -> Mapping:
    """A shipped preset by name; :class:`MappingError` naming the presets when unknown."""
    if name not in preset_names():
        raise MappingError(
            [f"unknown preset {name!r}: the presets are {', '.join(preset_names())}"]
        )
    item = resources.files("agent.intake") / "presets" / f"{name}.toml"
    return _from_text(item.read_text(encoding="utf-8"), f"preset {name}")


def resolve_mapping(preset: str | None, mapping: Path | None) -> Mapping:
    """The mapping a config names: a shipped preset or a mapping file."""
    if preset is not None:
        return load_preset(preset.removeprefix(PRESET_PREFIX))
    if mapping is not None:
        return load_mapping(mapping)
    raise MappingError(["intake: name a preset or a mapping file"])
