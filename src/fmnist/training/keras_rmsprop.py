"""RMSprop as Keras computes it, for the port of the Keras notebook.

Keras (keras/src/optimizers/rmsprop.py, and TensorFlow's documented formula) steps
    v <- rho v + (1 - rho) g^2,    w <- w - lr g / sqrt(v + epsilon)
with epsilon under the square root, while torch.optim.RMSprop divides by sqrt(v) + epsilon. With
epsilon 1e-7 Keras' denominator never drops below 3.2e-4: where gradients are small (the first layer on
/255 inputs) its steps are smaller than torch's. Weight decay is Keras 3's: w <- w - lr wd w, before the step.
"""

from __future__ import annotations

import torch


class KerasRMSprop(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 1e-3, rho: float = 0.9, eps: float = 1e-7, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            velocities = [self.state[p].setdefault("velocity", torch.zeros_like(p)) for p in params]
            lr, rho = group["lr"], group["rho"]
            if group["weight_decay"]:
                torch._foreach_mul_(params, 1 - lr * group["weight_decay"])
            torch._foreach_mul_(velocities, rho)
            torch._foreach_addcmul_(velocities, grads, grads, value=1 - rho)
            denominators = torch._foreach_add(velocities, group["eps"])
            torch._foreach_sqrt_(denominators)
            torch._foreach_addcdiv_(params, grads, denominators, value=-lr)
        return loss
