"""The rules params.yaml's values are checked against, and `setting()`, which declares one key of a params
dataclass (its default and its rule) in one place.

A rule is (kind, check). The kind is a type (int, float, bool, str, dict), "str-list", "section", "size", or a
tuple of those, any of which will do; the check, if any, is called as check(where, value) on a value of the
right kind and raises ParamsError naming the key. `check_section` checks one mapping of params.yaml against
the settings of its dataclass, nested sections included.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from typing import Any

from fmnist.data.classes import NAMED as NAMED_CLASSES
from fmnist.errors import ParamsError

NULL = type(None)
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
              dict: "a mapping", "str-list": "a list of strings", "section": "a mapping",
              "size": "[height, width] in pixels, each 1 to 512",
              NULL: "null"}


# --- declaring a key ------------------------------------------------------------------------------

def setting(default, kind, check=None, optional=False):
    """A dataclass field for one params.yaml key: its rule, and the default of code that builds settings
    itself (params.yaml must hold every key that is not `optional`; a list or mapping default is copied for
    each instance)."""
    metadata = {"rule": (kind, check), "optional": optional}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.copy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def section(cls):
    """A dataclass field for a nested section, whose keys are the settings of `cls`."""
    return dataclasses.field(default_factory=cls, metadata={"rule": ("section", None), "section": cls})


def rule_table(cls, path: str) -> dict[str, dict[str, tuple]]:
    """path -> {key: (kind, check)} for the settings of `cls`, then for each of its nested sections."""
    table, nested = {path: {}}, {}
    for f in dataclasses.fields(cls):
        table[path][f.name] = f.metadata["rule"]
        if "section" in f.metadata:
            nested.update(rule_table(f.metadata["section"], f"{path}.{f.name}"))
    return {**table, **nested}


# --- how messages show values and keys ------------------------------------------------------------

def show(value) -> str:
    """A value as a one-line message shows it: its repr (newlines escaped), cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def key_name(key) -> str:
    """A key as a message names it: plain when it is a plain name, else its repr."""
    return key if isinstance(key, str) and re.fullmatch(r"[\w.-]+", key) else show(key)


# --- checks ---------------------------------------------------------------------------------------

def in_range(ge=None, gt=None, le=None, lt=None):
    def check(key, value):
        if lt is not None and value >= lt:
            raise ParamsError(f"params.yaml: {key} must be < {lt}, got {value}")
        if ge is not None and value < ge:
            raise ParamsError(f"params.yaml: {key} must be >= {ge}, got {value}")
        if gt is not None and value <= gt:
            raise ParamsError(f"params.yaml: {key} must be > {gt}, got {value}")
        if le is not None and value > le:
            raise ParamsError(f"params.yaml: {key} must be <= {le}, got {value}")
    return check


def one_of(choices):
    def check(key, value):
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v not in choices:
                raise ParamsError(f"params.yaml: {key} must be one of {', '.join(choices)}; got {show(v)}")
        if isinstance(value, list) and not value:
            raise ParamsError(f"params.yaml: {key} must list at least one of {', '.join(choices)}")
    return check


SEED = in_range(ge=0, le=2**32 - 1)  # torch seeds derived from it must stay within 64 bits


def class_names(key, value):
    """A known list by name, or the names themselves: two at least, each present and told apart (they label
    every figure, table and prediction)."""
    if isinstance(value, str):
        if value not in NAMED_CLASSES:
            raise ParamsError(f"params.yaml: {key} must be a list of class names or one of "
                              f"{', '.join(NAMED_CLASSES)}; got {show(value)}")
        return
    if len(value) < 2:
        raise ParamsError(f"params.yaml: {key} must name two classes or more, got {show(value)}")
    for name in value:
        if not name.strip():
            raise ParamsError(f"params.yaml: {key} holds an empty name")
    twice = [name for name in dict.fromkeys(value) if value.count(name) > 1]
    if twice:
        raise ParamsError(f"params.yaml: {key} names {show(twice[0])} more than once")


def device_name(key, value):
    """auto, cpu, mps, cuda or cuda:N (the N-th GPU)."""
    if value not in ("auto", "cpu", "cuda", "mps") and re.fullmatch(r"cuda:\d+", value) is None:
        raise ParamsError(f"params.yaml: {key} must be one of {', '.join(DEVICES)}; got {show(value)}")


def progress_switch(key, value):
    if value not in ("auto", True, False):
        raise ParamsError(f"params.yaml: {key} must be auto, true or false; got {show(value)}")


# --- checking values against their rules ----------------------------------------------------------

def has_kind(value, kind) -> bool:
    if isinstance(kind, tuple):
        return any(has_kind(value, k) for k in kind)
    if kind == "str-list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "size":
        return (isinstance(value, list) and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 512 for v in value))
    if kind in ("section", dict):
        return isinstance(value, dict)
    if kind is float:  # an integer is a fine number; a bool is not
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def check_kind(where: str, value, kind) -> None:
    """Refuse a value not of its kind, and a non-finite number."""
    if not has_kind(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        wanted = " or ".join(TYPE_NAMES[k] for k in kinds)
        hint = ("; quote names YAML reads as numbers or booleans, e.g. ['0', '1']"
                if "str-list" in kinds and isinstance(value, list) else "")
        raise ParamsError(f"params.yaml: {where} must be {wanted}, got {show(value)}{hint}")
    if isinstance(value, float) and not math.isfinite(value):  # NaN passes every range check
        raise ParamsError(f"params.yaml: {where} must be a finite number, got {value}")


def check_section(path: str, cls, raw: Any, complete: bool = True) -> dict:
    """Check the keys of one mapping against the settings of the dataclass `cls`; return it with its
    nested sections checked too. A `complete` section holds every setting (optional ones excepted): params.yaml
    is where each value is declared, and the only file DVC's params see."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"params.yaml: {path} must be a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = {}
    for key, value in raw.items():
        where = f"{path}.{key_name(key)}"
        if key not in fields:
            raise ParamsError(f"params.yaml: unknown key {where}; allowed: {', '.join(fields)}")
        kind, check = fields[key].metadata["rule"]
        check_kind(where, value, kind)
        if kind == "section":
            value = check_section(where, fields[key].metadata["section"], value, complete)
        if check is not None and value is not None:
            check(where, value)
        out[key] = value
    if complete:
        for key, f in fields.items():
            if key not in raw and not f.metadata.get("optional"):
                raise ParamsError(f"params.yaml: {path}.{key} is missing; params.yaml declares every setting "
                                  f"(the repository's params.yaml lists them all)")
    return out


def build(cls, values: dict):
    """Make a dataclass from checked values, turning nested sections into their dataclasses."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        if "section" in f.metadata:
            value = build(f.metadata["section"], value)
        elif f.metadata["rule"][0] is float and value is not None:
            value = float(value)
        kwargs[f.name] = value
    return cls(**kwargs)
