"""What an experiment trains with, built from its settings: the checked model, the loss, the optimiser and the
learning-rate schedule."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fmnist.errors import ParamsError
from fmnist.params import ExperimentSettings
from fmnist.training.keras_rmsprop import KerasRMSprop


def build_checked(name: str, cfg: ExperimentSettings, num_classes: int, input_size=(28, 28)) -> torch.nn.Module:
    """The experiment's model. `model_config` is free-form in params.yaml: loading params checks it where
    its path is known; this checks it again for callers that build ExperimentSettings themselves, and for the sizes
    that only the data tells."""
    from fmnist.models import build_model, check_config

    check_config(cfg.model, cfg.model_config, f"experiments.{name}.model_config", num_classes, input_size)
    try:
        return build_model(cfg.model, num_classes=num_classes, input_size=input_size, **cfg.model_config)
    except RuntimeError as exc:  # a size that cannot be allocated
        raise ParamsError(f"params.yaml: experiments.{name}.model_config: "
                          f"{str(exc).strip().splitlines()[0][:160]}") from None


def loss_fn(kind: str, label_smoothing: float = 0.0):
    """loss(logits, y). `mse` is the seed's Softmax + MSELoss against one-hot rows; `cross_entropy`
    takes one-hot rows (as probabilities) or class numbers, as Keras' categorical and sparse losses do."""
    if kind == "mse":
        return lambda logits, y: F.mse_loss(torch.softmax(logits.float(), dim=1), y)
    if kind == "cross_entropy":
        return lambda logits, y: F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
    raise ValueError(f"unknown loss '{kind}'")


def make_optimizer(cfg: ExperimentSettings, params, foreach: bool = True) -> torch.optim.Optimizer:
    """The experiment's optimiser. `foreach` (torch's default on CUDA only) updates all tensors per operation
    instead of one tensor at a time: fewer dispatches on CPU, the same arithmetic bit for bit. Keras' RMSprop
    is always written that way."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, foreach=foreach, lr=cfg.lr, eps=1e-8, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "keras_rmsprop":  # the Keras notebook's: rho 0.9, epsilon 1e-7 under the square root
        return KerasRMSprop(params, lr=cfg.lr, rho=0.9, eps=1e-7, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":  # torch's, with Keras' rho and epsilon (epsilon added after the square root)
        return torch.optim.RMSprop(params, foreach=foreach, lr=cfg.lr, alpha=0.9, eps=1e-7,
                                   weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, foreach=foreach, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, foreach=foreach, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
                               weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer '{cfg.optimizer}'")


def make_schedule(cfg: ExperimentSettings, optimizer, steps_per_epoch: int):
    """Stepped once per batch; `constant` keeps the learning rate as set. One-cycle also cycles the momentum of
    optimisers that have one."""
    if cfg.schedule == "onecycle":
        cycle_momentum = "momentum" in optimizer.defaults or "betas" in optimizer.defaults
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=cfg.effective_epochs * steps_per_epoch,
            cycle_momentum=cycle_momentum)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
