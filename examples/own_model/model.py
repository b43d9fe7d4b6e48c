"""A user's own model (not torchvision) for examples/own_model/run.sh: a small depthwise-separable
CNN for 64x64 RGB images."""
import torch
import torch.nn as nn


class TinyNet(nn.Module):
    def __init__(self, classes: int = 4):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 12, 3, stride=2, padding=1), nn.BatchNorm2d(12), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(12, 12, 3, padding=1, groups=12), nn.BatchNorm2d(12), nn.ReLU(),
                                   nn.Conv2d(12, 24, 1), nn.BatchNorm2d(24), nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(24, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.down(self.block(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def build():
    return TinyNet(4)
