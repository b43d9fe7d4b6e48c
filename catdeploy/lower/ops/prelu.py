"""PRELU -> TFLite PRELU (activations.cc PreluPrepare + reference_ops::BroadcastPrelu4DSlow, the
int8 kernel of every resolver): x - z_in requantized by s_in / s_out where x >= z_in, and
(x - z_in) * alpha_q by s_in * s_alpha / s_out below. The slopes become int8 codes on one
symmetric grid (quant/prelu_alpha.py), a constant [1, 1, 1, C] (NHWC) or [1, C] tensor."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor
from catdeploy.quant.prelu_alpha import prelu_alpha_grid


def lower_prelu(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    codes, scale = prelu_alpha_grid(node.attrs["alpha"])
    rank = len(b.tensors[x].shape)
    alpha = b.const(f"{node.name}/alpha", codes.reshape((1,) * (rank - 1) + (-1,)), "int8",
                    scale=(scale,), zero_point=(0,), bits=8)
    b.emit_value(node, node.output, "PRELU", [x, alpha], {}, nonneg=b.nonnegative.get(node.inputs[0], False))
