"""Load an :class:`~agent.config.AgentConfig` from TOML, environment and credentials.

Sources, later ones winning:

1. the TOML file;
2. environment overrides ``ANPR_<SECTION>__<FIELD>=value`` (double underscore
   between levels, case-insensitive: ``ANPR_POLICE__INFLIGHT=20``). A value
   starting with ``[`` or ``{`` is parsed as a TOML inline array/table
   (``ANPR_POLICE__BROKERS='["mqtts://a:8883", "mqtts://b:8883"]'``); any other
   value is a string that the field's type converts (``20``, ``true``, ``FULL``).

Paths: relative ones are taken from the config file's directory; a path written
``credential:NAME`` is ``$CREDENTIALS_DIRECTORY/NAME`` (systemd ``LoadCredential=``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from agent.config.schema import AgentConfig

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CREDENTIAL_PREFIX",
    "ENV_PREFIX",
    "ConfigError",
    "LoadedConfig",
    "load_config",
]

ENV_PREFIX = "ANPR_"
CREDENTIAL_PREFIX = "credential:"
_MAX_SHOWN_VALUE = 60


class ConfigError(Exception):
    """The configuration, or what it names, cannot be used: ``problems`` holds one line each.

    Raised by loading (TOML, schema, overrides) and by the service when it starts
    (keys, certificates, journal, models); either way the agent exits 2.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated configuration and what could not be checked where it was loaded."""

    config: AgentConfig
    source: Path
    # Fields given as credential:NAME while $CREDENTIALS_DIRECTORY was unset.
    unresolved_credentials: tuple[str, ...]


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN_VALUE else text[: _MAX_SHOWN_VALUE - 3] + "..."


def _env_overrides(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Turn ``ANPR_A__B=v`` variables into a nested dict; also return their origins."""
    tree: dict[str, Any] = {}
    origin: dict[str, str] = {}
    problems: list[str] = []
    for name in sorted(env):
        if not name.upper().startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if any(not k for k in keys):
            problems.append(f"{name}: malformed override name: use ANPR_SECTION__FIELD")
            continue
        raw = env[name]
        value: Any = raw
        if raw.lstrip().startswith(("[", "{")):
            try:
                value = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError as exc:
                problems.append(f"{name}: {_show(raw)}: not a TOML array/table ({exc})")
                continue
        node = tree
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                problems.append(f"{name}: conflicts with another override")
                break
            node = child
        else:
            node[keys[-1]] = value
            origin[".".join(keys)] = name
    return tree, origin, problems


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _lookup(tree: Mapping[str, Any], loc: tuple[str | int, ...]) -> object:
    node: Any = tree
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _describe(exc: ValidationError, raw: Mapping[str, Any], origin: Mapping[str, str]) -> list[str]:
    lines = []
    errors = exc.errors(include_url=False)
    failed_locs = [tuple(e["loc"]) for e in errors]
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "too_short" and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other in failed_locs
        ):
            continue  # "0 items after validation" only repeats that an item was refused
        path = ".".join(str(p) for p in loc) or "(top level)"
        where = origin.get(path)
        path_shown = f"{path} (from {where})" if where else path
        kind = err["type"]
        message = err["msg"].removeprefix("Value error, ")
        if kind == "extra_forbidden":
            lines.append(f"{path_shown}: unknown key (value {_show(err['input'])})")
        elif kind == "missing":
            lines.append(f"{path_shown}: missing: this key is required")
        elif kind in {"model_type", "dict_type"} or not loc or isinstance(_lookup(raw, loc), dict):
            lines.append(f"{path_shown}: {message}")
        else:
            lines.append(f"{path_shown}: {_show(err['input'])}: {message}")
    return lines


def _resolve_paths(
    model: BaseModel, base: Path, cred_dir: str | None, prefix: str, unresolved: list[str]
) -> BaseModel:
    updates: dict[str, object] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            updates[name] = _resolve_paths(value, base, cred_dir, f"{key}.", unresolved)
        elif isinstance(value, Path):
            text = str(value)
            if text.startswith(CREDENTIAL_PREFIX):
                cred = text.removeprefix(CREDENTIAL_PREFIX)
                if cred_dir:
                    updates[name] = Path(cred_dir) / cred
                else:
                    unresolved.append(key)
            elif not value.is_absolute():
                updates[name] = base / value
    return model.model_copy(update=updates) if updates else model


def load_config(path: Path, env: Mapping[str, str]) -> LoadedConfig:
    """Read, override, validate and resolve a configuration file.

    Raises :class:`ConfigError` with one line per problem (key path, value, rule).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read config file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError(["config file is not UTF-8 text"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"]) from None
    overrides, origin, problems = _env_overrides(env)
    if problems:
        raise ConfigError(problems)
    merged = _merge(raw, overrides)
    try:
        config = AgentConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, merged, origin)) from None
    unresolved: list[str] = []
    resolved = _resolve_paths(
        config,
        path.parent.resolve(),
        env.get("CREDENTIALS_DIRECTORY"),
        "",
        unresolved,
    )
    if not isinstance(resolved, AgentConfig):  # model_copy keeps the type; -O strips asserts
        raise TypeError("resolved config is not an AgentConfig")
    return LoadedConfig(resolved, path, tuple(unresolved))
