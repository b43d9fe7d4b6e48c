"""HARDSIGMOID (relu6(x + 3) / 6 = clamp(x / 6 + 1/2, 0, 1)) -> two stock int8 ops:

1. MUL(x, c) with c the int8 constant 1 at scale f32(1/6) and an output scale s_t = f32(s_x * s_c):
   MUL's multiplier f32(s_x * s_c) / s_t is exactly 1 (M = 2^30, shift 1), so the codes are copied
   unchanged onto a grid reading x / 6 (reference/integer_ops/mul.h, no rounding);
2. ADD(t, 0.5) with a fused RELU into the planned output grid, the grid of [0, 1]
   (QuantPlan.fixed_grids "unit_interval"): RELU is the lower clip at real 0, int8 saturation at
   the grid's top the upper clip at 1 (reference/integer_ops/add.h, one rounding).
"""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node
from catdeploy.ir.int_program import IntTensor
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor

SIXTH_SCALE = float(np.float32(1.0 / 6.0))
HALF_CODE, HALF_SCALE = 64, 2.0 ** -7   # 64 * 2^-7 = 0.5 exactly


def lower_hardsigmoid(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    src = b.tensors[x]
    rank = len(src.shape)
    ones = (1,) * rank
    sixth = b.const(f"{node.name}/one_sixth", np.ones(ones, np.int8), "int8", scale=(SIXTH_SCALE,),
                    zero_point=(0,), bits=8)
    scaled_scale = float(np.float32(np.float32(src.scale[0]) * np.float32(SIXTH_SCALE)))
    scaled = f"{node.output}/x_sixth"
    b.add_tensor(IntTensor(name=scaled, shape=src.shape, dtype="int8", scale=(scaled_scale,),
                           zero_point=src.zero_point, bits=src.bits))
    b.op("MUL", [x, sixth], [scaled], {"fused_activation": "NONE"}, name=node.name)
    half = b.const(f"{node.name}/half", np.full(ones, HALF_CODE, np.int8), "int8", scale=(HALF_SCALE,),
                   zero_point=(0,), bits=8)
    b.emit_value(node, node.output, "ADD", [scaled, half], {"fused_activation": "RELU"}, nonneg=True)
