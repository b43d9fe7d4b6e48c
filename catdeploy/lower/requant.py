"""Per-channel requantization multipliers and shifts of an IntProgram, computed with catrt's own
fixed-point functions (the same code catrt's prepare uses), for the manifest and `inspect`.

Mirrors PopulateConvolutionQuantizationParams (kernels/kernel_util.cc): m = double(s_in) *
double(s_w[c]) / double(s_out), then QuantizeMultiplier.
"""
from __future__ import annotations

import numpy as np
from catrt.fixed_point import quantize_multiplier

from catdeploy.ir.int_program import IntProgram

WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def requant_table(program: IntProgram) -> dict[str, dict]:
    """{output tensor: {"op", "layer", "multiplier": [...], "shift": [...], "flushed_to_zero": n}}."""
    table = {}
    for op in program.ops:
        if op.kind not in WEIGHTED:
            continue
        x, w = program.tensors[op.inputs[0]], program.tensors[op.inputs[1]]
        y = program.tensors[op.outputs[0]]
        s_in, s_out = np.float64(x.scale[0]), np.float64(y.scale[0])
        mults, shifts = [], []
        for s_w in w.scale:
            m0, shift = quantize_multiplier(float(s_in * np.float64(s_w) / s_out))
            mults.append(int(m0))
            shifts.append(int(shift))
        table[op.outputs[0]] = {
            "op": op.kind, "layer": op.name, "multiplier": mults, "shift": shifts,
            "flushed_to_zero": int(sum(1 for m in mults if m == 0)),
        }
    return table
