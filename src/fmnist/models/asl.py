"""The seed003 Keras CNN ported to PyTorch with Keras defaults."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fmnist.model_specs import SPECS

# Keras BatchNormalization defaults. Keras updates moving stats as
# m = 0.99 * m + 0.01 * batch, PyTorch as m = (1 - momentum) * m + momentum * batch,
# so Keras momentum 0.99 is PyTorch momentum 0.01.
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def _pool() -> nn.MaxPool2d:
    # Keras MaxPool2D(2, strides=2, padding="same") gives ceil(n / 2): 7 -> 4.
    # Keras pads only at the bottom/right, so the last window covers the final
    # row/column alone; ceil_mode=True with padding=0 does exactly that
    # (plain PyTorch pooling would floor 7 -> 3 and drop the last row/column).
    return nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)


class _BatchNormOnStats(torch.autograd.Function):
    """Training-mode batch norm on given batch statistics, with ATen's fused kernels both ways: the output is
    the inference kernel's (x - mean) / sqrt(var + eps) * weight + bias, the gradient the training backward's,
    which counts the statistics' own dependence on x."""

    @staticmethod
    def forward(ctx, x, weight, bias, mean, var, eps):
        invstd = torch.rsqrt(var + eps)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.eps = eps
        return F.batch_norm(x, mean, var, weight, bias, False, 0.0, eps)

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, invstd = ctx.saved_tensors
        dx, dw, db = torch.ops.aten.native_batch_norm_backward(
            grad, x, weight, None, None, mean, invstd, True, ctx.eps, list(ctx.needs_input_grad[:3]))
        return dx, dw, db, None, None, None


class KerasBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d with Keras' arithmetic in training: the batch's mean, then its biased variance as the mean of
    squared differences from it (tf.nn.moments, two passes), normalising with exactly those and moving the
    moving variance towards that biased variance (PyTorch's moves towards the unbiased one).

    PyTorch's own CPU training kernel gets the variance in one pass: on channels_last tensors (the CPU training
    layout) whose mean is large against their spread it loses up to 1e-2 of each normalised value, and the
    first layers' gradients with it (2 % of this network's second convolution's, against float64). The
    two-pass statistics keep both within float32's rounding, at the fused kernels' speed."""

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and self.track_running_stats):
            return super().forward(x)
        exact = x.dtype in (torch.float32, torch.float64)
        with torch.no_grad():
            var, mean = torch.var_mean(x if exact else x.float(), dim=(0, 2, 3), correction=0)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)
            self.num_batches_tracked.add_(1)
        if not exact:  # a model cast to half precision by hand, not Keras' arithmetic anyway: PyTorch's kernel
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return _BatchNormOnStats.apply(x, self.weight, self.bias, mean, var, self.eps)


def _bn(channels: int) -> nn.BatchNorm2d:
    return KerasBatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class ASL(nn.Module):
    """Seed003 notebook network (256,867 parameters incl. BN moving stats).

    Three conv(3x3, same, relu) -> BN -> maxpool(2, same) blocks with
    75/50/25 channels (28 -> 14 -> 7 -> 4 for 28x28 inputs; any H x W works), Dense(512, relu), Dropout(0.3),
    Dense(C). Returns logits; softmax is applied by the loss.

    Keras defaults are reproduced: Glorot-uniform kernels, zero biases, BN eps 1e-3 and momentum 0.99
    (PyTorch 0.01) with the moving variance Keras keeps. Flatten runs over NCHW here rather than Keras'
    NHWC, which only permutes the Dense(512) input rows. The softmax is the loss's: Keras' categorical
    losses also take the logits the softmax layer keeps (no clipping at 1e-7; backend/tensorflow/nn.py).
    """

    min_side = SPECS["asl"].min_side

    def __init__(self, num_classes: int = 10, input_size: tuple[int, int] = (28, 28)) -> None:
        super().__init__()
        # Each "same" pool halves a side, rounding up: 28 -> 14 -> 7 -> 4.
        h, w = input_size
        for _ in range(3):
            h, w = -(-h // 2), -(-w // 2)
        self.features = nn.Sequential(
            nn.Conv2d(1, 75, 3, padding=1),
            nn.ReLU(),
            _bn(75),
            _pool(),
            nn.Conv2d(75, 50, 3, padding=1),
            nn.ReLU(),
            # Keras Dropout drops single activations, not whole channels.
            nn.Dropout(0.2),
            _bn(50),
            _pool(),
            nn.Conv2d(50, 25, 3, padding=1),
            nn.ReLU(),
            _bn(25),
            _pool(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(h * w * 25, 512),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(512, num_classes),
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        # Keras' default dtype policy is float32: the port computes in its own dtype (float32 unless cast by
        # hand, e.g. to float64 for a reference) under any autocast (bf16 on a GPU), so its arithmetic, the batch
        # norm's two-pass statistics included, is the same on every device.
        if not torch.amp.is_autocast_available(x.device.type):  # e.g. the meta device of FLOP counting
            return self.classifier(self.features(x))
        with torch.autocast(x.device.type, enabled=False):
            return self.classifier(self.features(x.to(self.features[0].weight.dtype)))
