"""A params.yaml section validated against its pydantic dataclass (fmnist.params_schema), and pydantic's
first error turned into one line that names the key: `params.yaml: train.lr must be > 0, got 0`."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any

import pydantic

from fmnist.errors import ParamsError
from fmnist.params_schema import PER_EXPERIMENT


def show(value) -> str:
    """A value as a one-line message shows it: its repr (newlines escaped), cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def key_name(key) -> str:
    """A key as a message names it: plain when it is a plain name, else its repr."""
    return key if isinstance(key, str) and re.fullmatch(r"[\w.-]+", key) else show(key)


LIMITS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _field_hint(cls, names: tuple) -> Any:
    """The type hint of the field at `names` under dataclass `cls` (None past a mapping or a list)."""
    hint = None
    for name in names:
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            return None
        hint = typing.get_type_hints(cls, include_extras=True).get(name)
        cls = hint
    return hint


def _kinds(hint) -> list:
    """The types a hint allows, Annotated and Optional unwrapped."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _kinds(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        return [k for arg in typing.get_args(hint) for k in _kinds(arg)]
    return [hint]


def _description(hint) -> str | None:
    """The `description` a field declares in its Annotated metadata, if any."""
    if typing.get_origin(hint) is not typing.Annotated:
        return None
    return next((m.description for m in typing.get_args(hint)[1:] if getattr(m, "description", None)), None)


def _words(kind) -> str:
    if kind is type(None):
        return "null"
    if typing.get_origin(kind) is list:
        item = _kinds(typing.get_args(kind)[0])
        return "a list of strings" if item == [str] else "a list"
    if typing.get_origin(kind) is typing.Literal:
        return "one of " + ", ".join(typing.get_args(kind))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            dict: "a mapping"}.get(kind, "a mapping")


def _key_path(cls, loc) -> list:
    """The params.yaml keys of an error's location: field names down the dataclasses, then the key of a
    free mapping (model_config); list indices and pydantic's union-member tags dropped."""
    keys, hint = [], cls
    for part in loc:
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            hints = typing.get_type_hints(hint, include_extras=True)
            keys.append(part)
            if part not in hints:  # an unknown key
                break
            hint = hints[part]
        elif dict in _kinds(hint) and isinstance(part, str):
            keys.append(part)
            break
    return keys


def _value_at(raw, keys):
    for key in keys:
        raw = raw.get(key) if isinstance(raw, dict) else None
    return raw


def _limit(value) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def refusal(error: dict, path: str, cls, raw, hint=None) -> ParamsError:
    """Pydantic's first error as one line naming the params.yaml key it is about."""
    loc = _key_path(cls, error["loc"])
    where = ".".join([path, *map(key_name, loc)])
    kind, ctx = error["type"], error.get("ctx") or {}
    value = _value_at(raw, loc) if loc else error["input"]
    hint = hint or _field_hint(cls, tuple(loc))
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        parent = _field_hint(cls, tuple(loc[:-1])) if len(loc) > 1 else cls
        allowed = ", ".join(f.name for f in dataclasses.fields(parent)) if dataclasses.is_dataclass(parent) else ""
        return ParamsError(f"params.yaml: unknown key {where}; allowed: {allowed}")
    words = _description(hint)
    if words:  # a field that says in words what it takes (params_schema): any fault in it gets those
        return ParamsError(f"params.yaml: {where} must be {words}, got {show(value)}")
    if kind == "finite_number":
        return ParamsError(f"params.yaml: {where} must be a finite number, got {error['input']}")
    if kind in LIMITS:
        limit = next(iter(ctx.values()))
        return ParamsError(f"params.yaml: {where} must be {LIMITS[kind]} {_limit(limit)}, got {error['input']}")
    kinds = _kinds(hint)
    if kind == "literal_error":
        inner = _kinds(typing.get_args(kinds[0])[0]) if typing.get_origin(kinds[0]) is list else kinds
        literal = next(k for k in inner if typing.get_origin(k) is typing.Literal)
        return ParamsError(f"params.yaml: {where} must be one of {', '.join(typing.get_args(literal))}; "
                           f"got {show(error['input'])}")
    if kind == "too_short" and typing.get_origin(kinds[0]) is list:
        item = _kinds(typing.get_args(kinds[0])[0])[0]
        if typing.get_origin(item) is typing.Literal:
            return ParamsError(f"params.yaml: {where} must list at least one of {', '.join(typing.get_args(item))}")
    if kind == "value_error":  # the field's own rule (fmnist.params_schema), worded after the key
        return ParamsError(f"params.yaml: {where} {ctx['error']}")
    if hint is None:
        return ParamsError(f"params.yaml: {where} must be a mapping, got {type(value).__name__}")
    wanted = " or ".join(dict.fromkeys(_words(k) for k in kinds))
    quote = ("; quote names YAML reads as numbers or booleans, e.g. ['0', '1']"
             if "a list of strings" in wanted and isinstance(value, list) else "")
    return ParamsError(f"params.yaml: {where} must be {wanted}, got {show(value)}{quote}")


def validated(cls, raw: Any, path: str, complete: bool = True):
    """`raw` (a params.yaml section) as the pydantic dataclass `cls`, or a ParamsError naming the key. A
    `complete` section holds every key of `cls` (those of PER_EXPERIMENT excepted): params.yaml declares
    every value, and it is the only file DVC's params see."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"params.yaml: {path} must be a mapping, got {type(raw).__name__}")
    try:
        value = pydantic.TypeAdapter(cls).validate_python(raw)
    except pydantic.ValidationError as exc:
        raise refusal(exc.errors(include_url=False)[0], path, cls, raw) from None
    if complete:
        _check_complete(cls, raw, path)
    return value


def _check_complete(cls, raw: dict, path: str) -> None:
    for f in dataclasses.fields(cls):
        if f.name in PER_EXPERIMENT:
            continue
        if f.name not in raw:
            raise ParamsError(f"params.yaml: {path}.{f.name} is missing; params.yaml declares every setting "
                              f"(the repository's params.yaml lists them all)")
        kind = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(kind):
            _check_complete(kind, raw[f.name], f"{path}.{f.name}")
