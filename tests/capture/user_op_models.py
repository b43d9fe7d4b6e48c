"""Tiny torch modules with the ops of users' edge CNNs that TFLite has as stock int8 kernels
(issue 24 item 2): LeakyReLU / PReLU, Hardtanh and constant clamps, hard sigmoid / hard swish
written out, ResNet-D average-down shortcuts (ceil_mode, count_include_pad=False), TF-style SAME
padding (timm's Conv2dSame / MaxPool2dSame / AvgPool2dSame, padding='same'). Shared by the
capture, lowering and simulator tests; the timm modules only where timm is installed."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class TinyLeaky(nn.Module):
    """LeakyReLU (module, functional in place), PReLU with one and with per-channel slopes,
    Hardtanh(-1, 1), one-sided clamps, then a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.LeakyReLU(0.1))
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.prelu1 = nn.PReLU()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.prelu8 = nn.PReLU(8)
        self.tanh_clip = nn.Hardtanh()
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem(x)
        x = F.leaky_relu(self.conv(x), 0.2, inplace=True)
        x = self.prelu8(self.dw(self.prelu1(x)))
        x = self.tanh_clip(x).clamp(min=-0.5) + torch.clamp(x, max=1.5)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class ResNetDBlock(nn.Module):
    """A stride-2 residual block whose shortcut averages down first (timm resnet*d 'avg_down':
    AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) + 1x1 conv)."""

    def __init__(self, cin: int = 8, cout: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout))
        self.down = nn.Sequential(nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False),
                                  nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout))

    def forward(self, x):
        return F.relu(self.conv2(self.conv1(x)) + self.down(x))


class TinyResNetD(nn.Module):
    """ResNet-D block on a 15 x 15 map: the avg-down pool sees an odd map (ceil windows of 1 cell),
    plus padded ceil-mode average pools counting and not counting the padding."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = ResNetDBlock()
        self.pool_with_pad = nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=True)
        self.pool_without_pad = nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False)
        # on the 14 x 14 map the padded map is 16 wide: the last ceil window covers 2 of its cells
        self.side = nn.Sequential(nn.Conv2d(8, 16, 2), nn.AvgPool2d(3, 2, padding=1, ceil_mode=True))
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.stem(x)
        y = torch.cat([self.pool_with_pad(x), self.pool_without_pad(x)], 1)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.block(x) + y + self.side(x), 1), 1))


class TinyHardWrittenOut(nn.Module):
    """Hard swish and a squeeze-excitation hard-sigmoid gate written out with constants."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.reduce = nn.Conv2d(8, 4, 1)
        self.expand = nn.Conv2d(4, 8, 1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem(x)
        x = x * F.relu6(x + 3.0) / 6.0
        x = self.dw(x)
        s = self.expand(F.relu(self.reduce(F.adaptive_avg_pool2d(x, 1))))
        x = x * (F.relu6(s + 3.0) / 6.0)
        x = x * (torch.clamp(x + 3, 0, 6) * (1.0 / 6.0))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def timm_models() -> dict:
    """{name: module class} of the models built from timm layers (empty without timm)."""
    try:
        from timm.layers import Conv2dSame
        from timm.layers.activations import HardSigmoid, HardSwish, hard_sigmoid
        from timm.layers.pool2d_same import AvgPool2dSame, MaxPool2dSame
    except ImportError:
        return {}

    class TinyTfSame(nn.Module):
        """timm's tf_* layers: Conv2dSame with stride 2 on an even map (SAME pads 0 / 1),
        MaxPool2dSame, AvgPool2dSame (explicit zero padding), nn.Conv2d(padding='same') with an
        even kernel (torch puts the odd cell at the end, as TFLite), timm's HardSwish /
        HardSigmoid modules and the in-place hard_sigmoid."""

        def __init__(self) -> None:
            super().__init__()
            self.stem = Conv2dSame(3, 8, 3, stride=2)
            self.act = HardSwish()
            self.max_pool = MaxPool2dSame(3, 2)
            self.same = nn.Conv2d(8, 8, 4, padding="same")
            self.gate = HardSigmoid()
            self.avg_pool = AvgPool2dSame(3, 2)
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            x = self.max_pool(self.act(self.stem(x)))
            x = self.same(x)
            x = x * self.gate(x) + hard_sigmoid(x.clone(), inplace=True)
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.avg_pool(x), 1), 1))

    return {"tf_same": TinyTfSame}
