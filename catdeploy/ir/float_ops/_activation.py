"""The fused activation that CONV2D, DEPTHWISE_CONV2D, LINEAR and ADD carry in attrs["activation"]."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def apply_activation(x: torch.Tensor, activation: str) -> torch.Tensor:
    """Mirrors TFLite's fused activation (kTfLiteActRelu / kTfLiteActRelu6) in float."""
    if activation == "none":
        return x
    if activation == "relu":
        return F.relu(x)
    if activation == "relu6":
        return F.hardtanh(x, 0.0, 6.0)
    raise ValueError(f"unknown activation {activation!r}")


def torch_pads(top: int, left: int, bottom: int, right: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) -> the (left, right, top, bottom) order F.pad takes."""
    return (left, right, top, bottom)
