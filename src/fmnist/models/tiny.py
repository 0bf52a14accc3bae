"""The seed network: a deliberately tiny two-conv CNN (20,372 parameters)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from fmnist.model_specs import SPECS


class Tiny(nn.Module):
    """Seed000 notebook network, layer for layer, with PyTorch default init.

    Conv2d(1,1,7) -> ReLU -> MaxPool2d(5, stride=1) -> Conv2d(1,1,5) -> ReLU
    -> Flatten -> Linear(196,98) -> Dropout(0.1) -> ReLU -> Linear(98,C).

    Input is float (N, 1, H, W), H and W at least 15 (``input_size``, 28x28 as the seed's); output is
    LOGITS (N, C). The seed ended in
    Softmax and trained with MSELoss; here softmax is left to the loss and to
    prediction, so that every model in the registry has the same contract. The
    ``mse`` loss applies softmax and then MSE against one-hot targets, which is
    exactly the seed's Softmax + MSELoss.
    """

    min_side = SPECS["tiny"].min_side

    def __init__(self, num_classes: int = 10, dropout: float = SPECS["tiny"].options["dropout"].default,
                 input_size: tuple[int, int] = (28, 28)) -> None:
        super().__init__()
        h, w = input_size
        if min(h, w) < self.min_side:
            raise ValueError(f"model tiny needs images of at least {self.min_side}x{self.min_side} pixels, got {h}x{w}")
        # Spatial sizes: 28 -conv7-> 22 -pool5/s1-> 18 -conv5-> 14, so 14*14 = 196 at 28x28.
        self.features = nn.Sequential(
            nn.Conv2d(1, 1, kernel_size=7),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=5, stride=1),
            nn.Conv2d(1, 1, kernel_size=5),
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear((h - 14) * (w - 14), 98),
            nn.Dropout(dropout),
            nn.ReLU(),
            nn.Linear(98, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type != "cpu":
            return self.classifier(self.features(x))
        # On CPU, oneDNN runs N single-channel convolutions far below its speed; the same convolutions
        # as ONE grouped convolution over an N-channel image (a channel per input image, the kernel
        # shared) train about 1.5x faster. Same parameters, same function.
        conv1, relu, pool, conv2, _ = self.features
        x = pool(relu(per_image_conv(x, conv1)))
        return self.classifier(relu(per_image_conv(x, conv2)))


def per_image_conv(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """`conv` (1 input and 1 output channel) applied to x (N, 1, H, W) as a grouped convolution."""
    n, _, h, w = x.shape
    out = F.conv2d(x.reshape(1, n, h, w), conv.weight.expand(n, -1, -1, -1), conv.bias.expand(n), groups=n)
    return out.reshape(n, 1, *out.shape[2:])
