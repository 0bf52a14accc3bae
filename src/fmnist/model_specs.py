"""What each model of the registry takes, declared without torch: the smallest image side and its
`model_config` options (default and range). Checking params.yaml reads this; fmnist.models builds from it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fmnist.errors import ParamsError


@dataclass(frozen=True)
class Option:
    default: int | float | bool
    ge: float | None = None  # the value must be >= ge
    lt: float | None = None  # and < lt
    le: float | None = None  # and <= le


@dataclass(frozen=True)
class ModelSpec:
    min_side: int  # the smallest image height and width it takes
    options: dict[str, Option] = field(default_factory=dict)


SPECS = {
    # the 7x7 conv, 5x5 pool and 5x5 conv take 14 pixels off each side
    "tiny": ModelSpec(min_side=15, options={"dropout": Option(0.1, ge=0, le=1)}),
    "asl": ModelSpec(min_side=1),
    "resnet": ModelSpec(min_side=1, options={"width": Option(32, ge=1), "dropout": Option(0.0, ge=0, lt=1)}),
}


def defaults(model: str) -> dict:
    return {name: option.default for name, option in SPECS[model].options.items()}


def check_config(model: str, config: dict, where: str) -> None:
    """Refuse, in one line naming `where` (the params path of the model_config section), an option the
    model does not take, of another type than its default, or out of its range."""
    options = SPECS[model].options
    for key, value in config.items():
        at = f"params.yaml: {where}.{key}"
        if key not in options:
            raise ParamsError(f"{at}: model {model} takes no such option; it takes: {', '.join(options) or 'none'}")
        option = options[key]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(option.default, bool):
            if not isinstance(value, bool):
                raise ParamsError(f"{at} must be true or false, got {value!r}"[:200])
            continue
        if isinstance(option.default, int) and not (number and isinstance(value, int)):
            raise ParamsError(f"{at} must be an integer, got {value!r}"[:200])
        if isinstance(option.default, float) and not (number and math.isfinite(value)):
            raise ParamsError(f"{at} must be a finite number, got {value!r}"[:200])
        for bound, fails, text in ((option.ge, lambda b: value < b, ">="), (option.lt, lambda b: value >= b, "<"),
                                   (option.le, lambda b: value > b, "<=")):
            if bound is not None and fails(bound):
                raise ParamsError(f"{at} must be {text} {bound:g}, got {value!r}"[:200])
