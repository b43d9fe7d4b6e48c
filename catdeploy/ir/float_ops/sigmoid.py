"""SIGMOID in float: 1 / (1 + exp(-x)) (TFLite activations.cc SigmoidEval, float path)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from catdeploy.ir.graph import Node


def run(node: Node, inputs: Sequence[torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return torch.sigmoid(inputs[0])
