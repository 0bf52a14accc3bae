"""Model registry: every model maps float (N, 1, H, W) to logits (N, C).

The input size (H, W) is given when the model is built (its flatten sizes follow from it); 28x28 by default.
"""

from __future__ import annotations

import torch
from torch import nn

from fmnist import model_specs
from fmnist.errors import ParamsError

from .asl import ASL
from .resnet import ResNet
from .tiny import Tiny

MODELS: dict[str, type[nn.Module]] = {"tiny": Tiny, "asl": ASL, "resnet": ResNet}

__all__ = ["MODELS", "ASL", "ResNet", "Tiny", "build_model", "check_config", "count_parameters", "min_side", "model_options"]


def model_options(name: str) -> dict:
    """The keyword options a model accepts (besides num_classes and input_size), with defaults."""
    _lookup(name)
    return model_specs.defaults(name)


def _lookup(name: str) -> type[nn.Module]:
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}") from None


def min_side(name: str) -> int:
    """The smallest image height and width the model takes."""
    _lookup(name)
    return model_specs.SPECS[name].min_side


def build_model(name: str, num_classes: int = 10, input_size: tuple[int, int] = (28, 28), **config) -> nn.Module:
    """Build a registered model for images of ``input_size`` (H, W).

    ``config`` holds the model's own keyword options (e.g. ``width`` for
    resnet). An unknown name raises ValueError listing the choices; an unknown
    option raises TypeError naming the options the model accepts; a size the model cannot take raises
    ValueError.
    """
    cls = _lookup(name)
    accepted = model_options(name)
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        allowed = ", ".join(sorted(accepted)) or "none"
        raise TypeError(
            f"model {name!r} got unknown option(s): {', '.join(unknown)}; accepted options: {allowed}"
        )
    return cls(num_classes=num_classes, input_size=tuple(input_size), **config)  # defaults: model_specs, in the signature


def count_parameters(model: nn.Module) -> dict:
    """{"trainable": int, "total": int}.

    ``total`` counts every parameter plus buffers such as BatchNorm running
    mean/var (Keras counts these as non-trainable parameters), but not the
    ``num_batches_tracked`` counters, which Keras has no counterpart for.
    """
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(
        b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")
    )
    return {"trainable": trainable, "total": params + buffers}


def check_config(name: str, config: dict, where: str, num_classes: int = 10,
                 input_size: tuple[int, int] = (28, 28)) -> None:
    """Refuse, in one line naming `where` (the params path of the model_config section), what the model's
    declaration refuses (fmnist.model_specs), then what the model itself does at this size: it is built on
    the meta device, shapes only, no memory, whatever the width."""
    model_specs.check_config(name, config, where)
    try:
        with torch.device("meta"):
            build_model(name, num_classes=num_classes, input_size=input_size, **config)
    except (ValueError, RuntimeError) as exc:  # the model's own checks of sizes
        raise ParamsError(f"params.yaml: {where}: {str(exc).strip().splitlines()[0][:160]}") from None
