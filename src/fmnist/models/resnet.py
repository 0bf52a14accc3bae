"""A small, fast residual CNN for greyscale images of any size, 28x28 foremost (ResNet-9 layout)."""

from __future__ import annotations

from torch import Tensor, nn

from fmnist.model_specs import SPECS


def _conv_bn(c_in: int, c_out: int, pool: bool = False) -> nn.Sequential:
    """conv3x3 -> [maxpool 2] -> BN -> ReLU.

    Pooling before BN/ReLU (as in ResNet-9) normalises the smaller map; the
    convolution itself runs at the input resolution. ceil_mode makes 7 -> 4,
    keeping the last row/column of a 7x7 map.
    """
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)]
    if pool:
        layers.append(nn.MaxPool2d(2, ceil_mode=True))
    layers += [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class Residual(nn.Module):
    """x + f(f(x)) with f = conv3x3-BN-ReLU (post-activation basic block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResNet(nn.Module):
    """ResNet-9-style network adapted to 28x28 inputs (any H x W works: the head pools globally); returns logits.

    Layout with w = ``width`` (default 32, about 1.6 M parameters):

        stem    conv(1 -> w)                     28x28
        stage1  conv(w -> 2w) + pool, Residual   28 -> 14
        stage2  conv(2w -> 4w) + pool            14 -> 7
        stage3  conv(4w -> 8w) + pool, Residual  7 -> 4
        head    global average pool, dropout, linear(8w -> C)

    Heavy channels only appear at small resolutions, which keeps the cost
    around 70 M multiply-adds per image, so it trains on a laptop CPU and is
    fast on a GPU (channels_last and bf16 autocast work). The training recipe
    (augmentation, label smoothing, one-cycle) lives in the training loop.

    Args:
        num_classes: number of output logits.
        width: base channel count w; parameters grow about as w**2.
        dropout: dropout probability before the final linear layer.
        input_size: (H, W) of the images; accepted for the registry's sake, the layers do not depend on it.
    """

    min_side = SPECS["resnet"].min_side

    def __init__(self, num_classes: int = 10, width: int = SPECS["resnet"].options["width"].default,
                 dropout: float = SPECS["resnet"].options["dropout"].default,
                 input_size: tuple[int, int] = (28, 28)) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        w = width
        self.stem = _conv_bn(1, w)
        self.stage1 = nn.Sequential(_conv_bn(w, 2 * w, pool=True), Residual(2 * w))
        self.stage2 = _conv_bn(2 * w, 4 * w, pool=True)
        self.stage3 = nn.Sequential(_conv_bn(4 * w, 8 * w, pool=True), Residual(8 * w))
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(8 * w, num_classes),
        )
        for m in self.modules():
            # A model built on the meta device (params checks its shapes) holds no values to initialise, and
            # normal_ on meta tensors alone would cost seconds of imports.
            if isinstance(m, nn.Conv2d) and not m.weight.is_meta:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        x = self.stage1(x)
        x = self.stage2(x)
        x = self.stage3(x)
        return self.head(x)
