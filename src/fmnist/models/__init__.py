"""Model registry: every model maps float (N, 1, 28, 28) to logits (N, C)."""

from __future__ import annotations

import inspect

from torch import nn

from .asl import ASL
from .resnet import ResNet
from .tiny import Tiny

MODELS: dict[str, type[nn.Module]] = {"tiny": Tiny, "asl": ASL, "resnet": ResNet}

__all__ = ["MODELS", "ASL", "ResNet", "Tiny", "build_model", "count_parameters", "model_options"]


def model_options(name: str) -> dict:
    """The keyword options a model accepts (besides num_classes), with defaults."""
    cls = _lookup(name)
    params = inspect.signature(cls.__init__).parameters
    return {
        k: p.default
        for k, p in params.items()
        if k not in ("self", "num_classes") and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def _lookup(name: str) -> type[nn.Module]:
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}") from None


def build_model(name: str, num_classes: int = 10, **config) -> nn.Module:
    """Build a registered model.

    ``config`` holds the model's own keyword options (e.g. ``width`` for
    resnet). An unknown name raises ValueError listing the choices; an unknown
    option raises TypeError naming the options the model accepts.
    """
    cls = _lookup(name)
    accepted = model_options(name)
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        allowed = ", ".join(sorted(accepted)) or "none"
        raise TypeError(
            f"model {name!r} got unknown option(s): {', '.join(unknown)}; accepted options: {allowed}"
        )
    return cls(num_classes=num_classes, **config)


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
