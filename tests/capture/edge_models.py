"""Tiny torch modules with the ops of the edge architectures (MobileNetV3, EfficientNet,
ShuffleNetV2, RegNetY, GoogLeNet), shared by the capture, plan and lowering tests."""
from __future__ import annotations

import torch
import torch.nn as nn
import torchvision.ops
from torchvision.ops.misc import SqueezeExcitation


def seeded(module: nn.Module, seed: int = 0) -> nn.Module:
    """`module` with reproducible weights and non-trivial batch-norm statistics, in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
    return module.eval()


class MBV3Block(nn.Module):
    """Conv + hardswish, depthwise, squeeze-excitation with ReLU / Hardsigmoid, projection, residual."""

    def __init__(self, c: int = 8, expand: int = 16) -> None:
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(c, expand, 1, bias=False), nn.BatchNorm2d(expand), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(expand, expand, 3, padding=1, groups=expand), nn.Hardswish())
        self.se = SqueezeExcitation(expand, 4, activation=nn.ReLU, scale_activation=nn.Hardsigmoid)
        self.project = nn.Conv2d(expand, c, 1)

    def forward(self, x):
        return x + self.project(self.se(self.dw(self.expand(x))))


class TinyMBV3(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Hardswish())
        self.block = MBV3Block()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Linear(8, 12), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(12, 5))

    def forward(self, x):
        return self.head(torch.flatten(self.pool(self.block(self.stem(x))), 1))


class TinyEffNet(nn.Module):
    """SiLU everywhere, squeeze-excitation with SiLU / Sigmoid, stochastic depth on the residual."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.SiLU())
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.SiLU())
        self.se = SqueezeExcitation(8, 2, activation=nn.SiLU)
        self.project = nn.Conv2d(8, 8, 1)
        self.drop = torchvision.ops.StochasticDepth(0.2, "row")
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.drop(self.project(self.se(self.dw(x))))
        x = nn.functional.dropout(x, 0.1, training=False)
        return self.fc(x.mean((2, 3)))


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.size()
    x = x.view(n, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(n, c, h, w)


class TinyShuffle(nn.Module):
    """ShuffleNetV2 unit: chunk, branch on one half, concatenate, channel shuffle; ceil-mode pool."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
        self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.branch = nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1, groups=4),
                                    nn.Conv2d(4, 4, 1), nn.ReLU())
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.pool(self.stem(x))
        a, b = x.chunk(2, dim=1)
        x = channel_shuffle(torch.cat((a, self.branch(b)), dim=1), 2)
        first, rest = torch.split(x, [3, 5], dim=1)
        x = torch.cat((rest, first), 1)
        return self.fc(x.mean([2, 3]))


class TinyInception(nn.Module):
    """GoogLeNet-style: branches of different widths concatenated, a ceil-mode max-pool branch."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.b1 = nn.Sequential(nn.Conv2d(6, 4, 1), nn.ReLU())
        self.b2 = nn.Sequential(nn.Conv2d(6, 3, 3, padding=1), nn.ReLU())
        self.b3 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), nn.Conv2d(6, 2, 1), nn.ReLU())
        self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.fc = nn.Linear(15, 5)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([self.b1(x), self.b2(x), self.b3(x), x], 1)  # x itself: read by four nodes
        x = self.pool(x)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class TinyInceptionV3(nn.Module):
    """inception_v3-style pool branches: 3x3 / stride 1 / pad 1 average pools that count the padded
    zeros (count_include_pad=True, as a module and functionally), concatenated with a 1x1 branch."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.b1 = nn.Sequential(nn.Conv2d(6, 4, 1), nn.ReLU())
        self.pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), nn.Conv2d(6, 3, 1), nn.ReLU())
        self.fc = nn.Linear(13, 5)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([self.b1(x), self.pool(x), nn.functional.avg_pool2d(x, 3, stride=1, padding=1)], 1)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
