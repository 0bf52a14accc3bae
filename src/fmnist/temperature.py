"""Temperature scaling (Guo et al. 2017): one scalar T that divides every logit, fitted by LBFGS to minimise the
negative log-likelihood of held-out labels. It leaves the top class of a single view unchanged and makes the
probabilities honest: T > 1 softens an over-confident model, T < 1 sharpens an under-confident one."""

from __future__ import annotations

import math

import numpy as np
import torch

# T is fitted within [0.01, 100]: a model no better than chance has its NLL minimum at T -> infinity (uniform
# probabilities), and beyond these bounds the probabilities no longer change to float precision anyway.
LOG_LOW, LOG_HIGH = math.log(0.01), math.log(100.0)


def fit_temperature(views: np.ndarray, y_true: np.ndarray) -> float:
    """The T minimising the NLL of `y_true` under the served probabilities: the softmax of logits / T, averaged
    over the views (V, N, C) as TTA averages them. Fitted on log T (so T stays positive) within [0.01, 100],
    in float64, on CPU."""
    with torch.inference_mode(False), torch.enable_grad():  # callers may run under inference_mode
        logits = torch.as_tensor(np.asarray(views), dtype=torch.float64)
        if logits.ndim == 2:
            logits = logits[None]
        labels = torch.as_tensor(np.asarray(y_true), dtype=torch.int64)
        log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=200, tolerance_grad=1e-12,
                                      tolerance_change=1e-15, line_search_fn="strong_wolfe")

        def nll():
            optimizer.zero_grad()
            # the log of the views' mean softmax(z / T), in log space
            log_probs = torch.log_softmax(logits / log_t.clamp(LOG_LOW, LOG_HIGH).exp(), dim=2)
            loss = torch.nn.functional.nll_loss(torch.logsumexp(log_probs, dim=0) - np.log(len(logits)), labels)
            loss.backward()
            return loss

        optimizer.step(nll)
    return float(log_t.detach().clamp(LOG_LOW, LOG_HIGH).exp())


def validation_temperature(model: torch.nn.Module, x_val, y_val, tta: bool, batch_size: int) -> float:
    """The temperature of a trained model, fitted on its validation images (prepared inputs, class numbers)."""
    from fmnist.served import predict_views

    views = predict_views(model, x_val, tta, batch_size)
    labels = y_val.cpu().numpy() if isinstance(y_val, torch.Tensor) else np.asarray(y_val)
    return fit_temperature(views, labels)
