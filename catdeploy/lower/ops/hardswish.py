"""HARDSWISH -> TFLite HARD_SWISH (reference/hard_swish.h: int16 fixed-point pipeline).

The output is observed like any activation; below real -3/8 nothing is produced, but a b-bit
grid whose observed minimum is above that still gets its explicit lower clip (emit_value)."""
from __future__ import annotations

import numpy as np
from catrt.fixed_point import quantize_multiplier

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor


def lower_hardswish(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    s_in, s_out = b.tensors[x].scale[0], b.qg.act_qparams[node.output].scale
    hires = np.float32(np.float32(1.0 / 128.0) * np.float32(s_in))
    if quantize_multiplier(float(np.float32(hires / np.float32(s_out))))[1] > 0:
        raise UserError(f"layer {node.name}: hardswish input scale {s_in} is >= 128 x its output scale "
                        f"{s_out}; TFLite's HARD_SWISH kernel refuses such grids")
    b.emit_value(node, node.output, "HARD_SWISH", [x], {}, nonneg=False)
