"""Single-op golden vectors: build one IntProgram per case, write it with write_tflite, run it on
every installed TFLite interpreter under every resolver and store tests/golden/<case>.npz.

    python tests/golden/make_golden.py                 # regenerate every case
    python tests/golden/make_golden.py conv_ties add_pow2_relu
    python tests/golden/make_golden.py --check         # rebuild + rerun "ref", compare, write nothing

Everything is seeded (numpy default_rng seeded with crc32 of the case name), so regenerating gives
byte-identical models and identical reference outputs. See README.md for the npz keys.
"""
from __future__ import annotations

import argparse
import json
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from catdeploy.export.tflite import write_tflite
from catdeploy.check.interpreters import RESOLVERS, RunRequest, available_interpreters, run_requests
from catdeploy.ir.int_program import IntOp, IntProgram, IntTensor

GOLDEN_DIR = Path(__file__).resolve().parent
REFERENCE_RESOLVER = "ref"


@dataclass(frozen=True)
class Case:
    program: IntProgram
    inputs: tuple[np.ndarray, ...]
    description: str


# ----------------------------------------------------------------------------- tensor helpers

def f32(x: float) -> float:
    """The float32 value of x, as a Python float (TFLite stores scales as float32)."""
    return float(np.float32(x))


def act(name: str, shape, scale: float, zero_point: int) -> IntTensor:
    return IntTensor(name, tuple(int(d) for d in shape), "int8", (f32(scale),), (int(zero_point),))


def weights(name: str, values: np.ndarray, scales, axis: int, dtype: str = "int8") -> IntTensor:
    scales = tuple(f32(s) for s in np.atleast_1d(scales))
    return IntTensor(name, tuple(values.shape), dtype, scales, (0,) * len(scales),
                     axis if len(scales) > 1 else 0, values.astype(np.int8))


def bias(name: str, values: np.ndarray, s_in: float, s_w) -> IntTensor:
    scales = tuple(f32(f32(s_in) * f32(s)) for s in np.atleast_1d(s_w))
    return IntTensor(name, (len(values),), "int32", scales, (0,) * len(scales), 0,
                     np.asarray(values, dtype=np.int32))


def int32_const(name: str, values) -> IntTensor:
    data = np.asarray(values, dtype=np.int32)
    return IntTensor(name, tuple(data.shape), "int32", data=data)


def int8_inputs(rng: np.random.Generator, shape, lo: int = -128, hi: int = 127) -> np.ndarray:
    return rng.integers(lo, hi + 1, size=shape).astype(np.int8)


def program(tensors: list[IntTensor], ops: list[IntOp], inputs, outputs) -> IntProgram:
    return IntProgram({t.name: t for t in tensors}, tuple(ops), tuple(inputs), tuple(outputs))


def out_hw(size: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    effective = (kernel - 1) * dilation + 1
    return -(-size // stride) if padding == "SAME" else (size - effective + stride) // stride


def out_scale(s_in: float, s_w, k: int, x_std: float, w_rms: float, codes: float = 40.0) -> float:
    """An output scale that puts one standard deviation of the real output at about `codes`."""
    return f32(s_in * float(np.median(s_w)) * np.sqrt(k) * x_std * w_rms / codes)


# ----------------------------------------------------------------------------- op builders

def conv_case(rng, *, x_shape, oc, kernel, stride, padding, dilation=1, groups=1, activation="NONE",
              s_in=0.05, z_in=-3, s_w=None, s_out=None, z_out=4, w_range=(-20, 20), x_range=(-128, 127),
              bias_range=(-2000, 2000), filter_dtype="int8", description="") -> Case:
    n, h, w, ic = x_shape
    icf = ic // groups
    w_q = rng.integers(w_range[0], w_range[1] + 1, size=(oc, kernel, kernel, icf)).astype(np.int8)
    s_w = rng.uniform(0.002, 0.02, size=oc) if s_w is None else np.asarray(s_w, dtype=np.float64)
    if s_out is None:
        x_std = (x_range[1] - x_range[0]) / np.sqrt(12)
        s_out = out_scale(s_in, s_w, kernel * kernel * icf, x_std, float(np.sqrt(np.mean(w_q.astype(float) ** 2))))
    oh, ow = out_hw(h, kernel, stride, padding, dilation), out_hw(w, kernel, stride, padding, dilation)
    b = rng.integers(bias_range[0], bias_range[1] + 1, size=oc)
    tensors = [act("x", x_shape, s_in, z_in), weights("w", w_q, s_w, axis=0, dtype=filter_dtype),
               bias("b", b, s_in, s_w),
               act("y", (n, oh, ow, oc), s_out, z_out)]
    op = IntOp("CONV_2D", ("x", "w", "b"), ("y",), dict(
        padding=padding, stride_h=stride, stride_w=stride, dilation_h=dilation, dilation_w=dilation,
        fused_activation=activation), name="conv")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, x_shape, *x_range),), description)


def dw_case(rng, *, x_shape, dm, kernel, stride, padding, activation="NONE",
            s_in=0.05, z_in=2, s_w=None, s_out=None, z_out=-5, w_range=(-60, 60), x_range=(-128, 127),
            bias_range=(-3000, 3000), filter_dtype="int8", description="") -> Case:
    n, h, w, ic = x_shape
    oc = ic * dm
    w_q = rng.integers(w_range[0], w_range[1] + 1, size=(1, kernel, kernel, oc)).astype(np.int8)
    s_w = rng.uniform(0.002, 0.02, size=oc) if s_w is None else np.asarray(s_w, dtype=np.float64)
    if s_out is None:
        x_std = (x_range[1] - x_range[0]) / np.sqrt(12)
        s_out = out_scale(s_in, s_w, kernel * kernel, x_std, float(np.sqrt(np.mean(w_q.astype(float) ** 2))))
    oh, ow = out_hw(h, kernel, stride, padding), out_hw(w, kernel, stride, padding)
    tensors = [act("x", x_shape, s_in, z_in), weights("w", w_q, s_w, axis=3, dtype=filter_dtype),
               bias("b", rng.integers(bias_range[0], bias_range[1] + 1, size=oc), s_in, s_w),
               act("y", (n, oh, ow, oc), s_out, z_out)]
    op = IntOp("DEPTHWISE_CONV_2D", ("x", "w", "b"), ("y",), dict(
        padding=padding, stride_h=stride, stride_w=stride, depth_multiplier=dm,
        fused_activation=activation), name="dw")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, x_shape, *x_range),), description)


def fc_case(rng, *, x_shape, units, keep_num_dims=False, activation="NONE", s_in=0.04, z_in=-1,
            s_w=None, s_out=None, z_out=3, w_range=(-40, 40), x_range=(-128, 127), bias_range=(-3000, 3000),
            filter_dtype="int8", description="") -> Case:
    k = x_shape[-1]
    w_q = rng.integers(w_range[0], w_range[1] + 1, size=(units, k)).astype(np.int8)
    s_w = rng.uniform(0.002, 0.02, size=units) if s_w is None else np.asarray(s_w, dtype=np.float64)
    if s_out is None:
        x_std = (x_range[1] - x_range[0]) / np.sqrt(12)
        s_out = out_scale(s_in, s_w, k, x_std, float(np.sqrt(np.mean(w_q.astype(float) ** 2))))
    out_shape = tuple(x_shape[:-1]) + (units,) if keep_num_dims else (int(np.prod(x_shape[:-1])), units)
    tensors = [act("x", x_shape, s_in, z_in), weights("w", w_q, s_w, axis=0, dtype=filter_dtype),
               bias("b", rng.integers(bias_range[0], bias_range[1] + 1, size=units), s_in, s_w),
               act("y", out_shape, s_out, z_out)]
    op = IntOp("FULLY_CONNECTED", ("x", "w", "b"), ("y",),
               dict(fused_activation=activation, keep_num_dims=keep_num_dims), name="fc")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, x_shape, *x_range),), description)


def add_case(rng, *, shape, qa, qb, qy, activation="NONE", x_range=(-128, 127), description="") -> Case:
    tensors = [act("a", shape, *qa), act("b", shape, *qb), act("y", shape, *qy)]
    op = IntOp("ADD", ("a", "b"), ("y",), dict(fused_activation=activation), name="add")
    inputs = (int8_inputs(rng, shape, *x_range), int8_inputs(rng, shape, *x_range))
    return Case(program(tensors, [op], ["a", "b"], ["y"]), inputs, description)


def pool_case(rng, kind, *, x_shape, filt, stride, padding, activation="NONE", q=(0.07, -10),
              description="") -> Case:
    n, h, w, c = x_shape
    out = (n, out_hw(h, filt, stride, padding), out_hw(w, filt, stride, padding), c)
    tensors = [act("x", x_shape, *q), act("y", out, *q)]
    op = IntOp(kind, ("x",), ("y",), dict(padding=padding, stride_h=stride, stride_w=stride, filter_h=filt,
                                          filter_w=filt, fused_activation=activation), name="pool")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, x_shape),), description)


# ----------------------------------------------------------------------------- the cases

# Multipliers that are exact dyadic numbers: acc * m lands on .5 for a large share of accumulators,
# so every rounding rule (half away, half up, half even, double rounding) shows its colours.
TIE_MULTIPLIERS = (0.5, 0.25, 0.375, 0.75, 0.125, 1.5, 0.1875, 0.0625)


def dyadic_weight_scales(s_in: float, s_out: float, multipliers) -> np.ndarray:
    """s_w with s_in * s_w / s_out == m exactly (all three powers of two times small integers)."""
    return np.array([m * s_out / s_in for m in multipliers])


def case_conv_same_s2_relu(rng):
    return conv_case(rng, x_shape=(2, 9, 9, 8), oc=16, kernel=3, stride=2, padding="SAME",
                     activation="RELU", description="CONV_2D per-channel 3x3 stride 2 SAME, fused RELU")


def case_conv_valid_relu6(rng):
    return conv_case(rng, x_shape=(1, 8, 8, 3), oc=8, kernel=3, stride=1, padding="VALID", activation="RELU6",
                     z_in=-128, z_out=-128, s_out=0.03,
                     description="CONV_2D per-channel 3x3 stride 1 VALID, fused RELU6 (clamp at Q(6) = -128 + 200)")


def case_conv_dilation2(rng):
    return conv_case(rng, x_shape=(1, 10, 10, 4), oc=6, kernel=3, stride=1, padding="SAME", dilation=2,
                     description="CONV_2D per-channel 3x3 dilation 2 SAME")


def case_conv_grouped(rng):
    return conv_case(rng, x_shape=(1, 6, 6, 8), oc=8, kernel=3, stride=1, padding="SAME", groups=2,
                     description="grouped CONV_2D (2 groups, filter IC 4 of 8; op version 6)")


def case_conv_ties(rng):
    s_in, s_out = 2.0**-4, 2.0**-3
    return conv_case(rng, x_shape=(2, 6, 6, 4), oc=8, kernel=3, stride=1, padding="VALID",
                     s_in=s_in, z_in=3, s_out=s_out, z_out=-2, s_w=dyadic_weight_scales(s_in, s_out, TIE_MULTIPLIERS),
                     w_range=(-2, 2), x_range=(-12, 12), bias_range=(-40, 40),
                     description="CONV_2D with exact dyadic multipliers (0.5, 0.375, 1.5, ...) and small "
                                 "values: many accumulators land on rounding ties, half of them negative")


def case_conv_multiplier_edges(rng):
    s_in, s_out = f32(2.0**-4 * (1 + 2.0**-23)), 2.0**-3
    near_one = 1 - 2.0**-23                                     # float32 just below 1
    multipliers_scale = [
        near_one * 2.0**-0,    # m = 0.5 (1 - 2^-46): q rounds up to 2^31 -> M = 2^30, shift + 1
        near_one * 2.0**2,     # m = 2 (1 - 2^-46): round-up case with a left shift
        near_one * 2.0**-3,    # m = 2^-4 (1 - 2^-46): round-up with a right shift of 4
        3.0,                   # m = 1.5 (1 + 2^-23): left shift 1
        1e-10 / (s_in / s_out),          # m = 1e-10 < 2^-32: shift < -31 -> multiplier 0
        0.75 * 2.0**-31 / (s_in / s_out),  # m = 0.75 * 2^-31: shift -31, still kept
        0.4 * 2.0**-31 / (s_in / s_out),   # m = 0.8 * 2^-32: shift -32 -> flushed to 0
        0.3,                   # an ordinary multiplier for contrast
    ]
    return conv_case(rng, x_shape=(1, 5, 5, 4), oc=8, kernel=3, stride=1, padding="SAME",
                     s_in=s_in, z_in=0, s_w=[f32(s) for s in multipliers_scale], s_out=s_out, z_out=1,
                     w_range=(-1, 1), x_range=(-20, 20), bias_range=(-30, 30),
                     description="CONV_2D multiplier edge cases per channel: round-up to 2^31, "
                                 "shift < -31 flushed to 0, shift -31 kept, left shifts")


def case_conv_clamp_ties(rng):
    return conv_case(rng, x_shape=(1, 5, 5, 2), oc=4, kernel=3, stride=1, padding="SAME", activation="RELU6",
                     s_in=0.5, z_in=0, s_w=[1.0, 0.5, 0.25, 1.0], s_out=12.0, z_out=-120, w_range=(-3, 3),
                     x_range=(-6, 6), bias_range=(-10, 10),
                     description="CONV_2D RELU6 with s_out = 12: 6 / s_out = 0.5 exactly, so the upper clamp "
                                 "is a rounding tie (TFLite rounds half away: hi = z + 1)")


def case_dw_dm1_relu6(rng):
    return dw_case(rng, x_shape=(2, 7, 7, 8), dm=1, kernel=3, stride=1, padding="SAME", activation="RELU6",
                   description="DEPTHWISE_CONV_2D per-channel depth multiplier 1, 3x3 SAME, fused RELU6")


def case_dw_dm2_s2_valid(rng):
    return dw_case(rng, x_shape=(1, 8, 8, 4), dm=2, kernel=3, stride=2, padding="VALID",
                   description="DEPTHWISE_CONV_2D depth multiplier 2 (4 -> 8 channels), stride 2 VALID")


def case_dw_ties(rng):
    s_in, s_out = 2.0**-3, 2.0**-2
    return dw_case(rng, x_shape=(1, 6, 6, 8), dm=1, kernel=3, stride=1, padding="SAME", s_in=s_in, z_in=-1,
                   s_w=dyadic_weight_scales(s_in, s_out, TIE_MULTIPLIERS), s_out=s_out, z_out=0,
                   w_range=(-3, 3), x_range=(-15, 15), bias_range=(-40, 40),
                   description="DEPTHWISE_CONV_2D with exact dyadic multipliers: many rounding ties")


def case_conv_int4_ties(rng):
    s_in, s_out = 2.0**-4, 2.0**-3
    return conv_case(rng, x_shape=(2, 6, 6, 4), oc=8, kernel=3, stride=1, padding="VALID",
                     s_in=s_in, z_in=3, s_out=s_out, z_out=-2, s_w=dyadic_weight_scales(s_in, s_out, TIE_MULTIPLIERS),
                     w_range=(-8, 7), x_range=(-12, 12), bias_range=(-40, 40), filter_dtype="int4",
                     description="CONV_2D v7 with a packed INT4 filter and dyadic multipliers (rounding ties): "
                                 "XNNPACK leaves it to the built-in kernel, whose rounding differs from fp32 RNE")


def case_dw_int4_ties(rng):
    s_in, s_out = 2.0**-3, 2.0**-2
    return dw_case(rng, x_shape=(1, 6, 6, 8), dm=1, kernel=3, stride=1, padding="SAME", s_in=s_in, z_in=-1,
                   s_w=dyadic_weight_scales(s_in, s_out, TIE_MULTIPLIERS), s_out=s_out, z_out=0,
                   w_range=(-8, 7), x_range=(-15, 15), bias_range=(-40, 40), filter_dtype="int4",
                   description="DEPTHWISE_CONV_2D v7 with a packed INT4 filter and dyadic multipliers: "
                               "XNNPACK leaves it to the built-in kernel")


def case_fc_per_channel(rng):
    return fc_case(rng, x_shape=(3, 32), units=10,
                   description="FULLY_CONNECTED per-channel [3, 32] x [10, 32]^T, bias, op version 4")


def case_fc_keep_num_dims(rng):
    return fc_case(rng, x_shape=(1, 4, 16), units=8, keep_num_dims=True, activation="RELU",
                   description="FULLY_CONNECTED per-channel, keep_num_dims on a [1, 4, 16] input, fused RELU, "
                               "op version 5")


def case_fc_keep_num_dims_per_tensor(rng):
    return fc_case(rng, x_shape=(2, 3, 16), units=8, keep_num_dims=True, s_w=[0.01],
                   description="FULLY_CONNECTED keep_num_dims on a [2, 3, 16] input, per-tensor weights")


def case_fc_ties(rng):
    s_in, s_out = 2.0**-4, 2.0**-3
    multipliers = TIE_MULTIPLIERS[:6]
    return fc_case(rng, x_shape=(16, 24), units=len(multipliers), s_in=s_in, z_in=2,
                   s_w=dyadic_weight_scales(s_in, s_out, multipliers), s_out=s_out, z_out=-3,
                   w_range=(-2, 2), x_range=(-10, 10), bias_range=(-40, 40),
                   description="FULLY_CONNECTED with exact dyadic multipliers: double rounding (DR-away) "
                               "and LiteRT's float64 round-half-away differ here")


def case_fc_int2_ties(rng):
    s_in, s_out = 2.0**-4, 2.0**-3
    multipliers = TIE_MULTIPLIERS[:6]
    return fc_case(rng, x_shape=(16, 23), units=len(multipliers), s_in=s_in, z_in=2,
                   s_w=dyadic_weight_scales(s_in, s_out, multipliers), s_out=s_out, z_out=-3,
                   w_range=(-2, 1), x_range=(-10, 10), bias_range=(-40, 40), filter_dtype="int2",
                   description="FULLY_CONNECTED v14 with packed INT2 weights (depth 23: the last byte of "
                               "each row boundary is shared) and dyadic multipliers; only LiteRT registers "
                               "v14, and its XNNPACK leaves the node to the built-in kernel")


def case_fc_int4_per_channel(rng):
    s_in, s_out = 2.0**-4, 2.0**-3
    multipliers = TIE_MULTIPLIERS[:6]
    return fc_case(rng, x_shape=(16, 24), units=len(multipliers), s_in=s_in, z_in=2,
                   s_w=dyadic_weight_scales(s_in, s_out, multipliers), s_out=s_out, z_out=-3,
                   w_range=(-8, 7), x_range=(-10, 10), bias_range=(-40, 40), filter_dtype="int4",
                   description="FULLY_CONNECTED v10 with packed per-channel INT4 weights (even depth) and dyadic "
                               "multipliers: LiteRT 2.1's XNNPACK takes it (fp32 RNE), TF 2.19's leaves it to the "
                               "built-in kernel (ruy DR-up); tflite-runtime 2.14 refuses it in Prepare")


def case_add_scales(rng):
    return add_case(rng, shape=(2, 5, 5, 8), qa=(0.071, -4), qb=(0.023, 9), qy=(0.09, 2),
                    description="ADD with three different scales and zero points")


def case_add_pow2_relu(rng):
    return add_case(rng, shape=(1, 6, 6, 8), qa=(2.0**-3, 1), qb=(2.0**-4, -3), qy=(2.0**-2, -8),
                    activation="RELU",
                    description="ADD with power-of-two scale ratios (rounding ties) and fused RELU")


def case_avgpool_global(rng):
    return pool_case(rng, "AVERAGE_POOL_2D", x_shape=(2, 4, 4, 16), filt=4, stride=1, padding="VALID",
                     description="AVERAGE_POOL_2D global 4x4 (16 cells: sums land on .5 ties)")


def case_avgpool_2x2_same(rng):
    return pool_case(rng, "AVERAGE_POOL_2D", x_shape=(1, 7, 7, 8), filt=2, stride=2, padding="SAME",
                     activation="RELU",
                     description="AVERAGE_POOL_2D 2x2 stride 2 SAME on 7x7 (clipped windows of 2 and 1 cells), "
                                 "fused RELU")


def case_maxpool_3x3_s2(rng):
    return pool_case(rng, "MAX_POOL_2D", x_shape=(1, 9, 9, 8), filt=3, stride=2, padding="SAME",
                     description="MAX_POOL_2D 3x3 stride 2 SAME (ResNet stem)")


def case_reshape(rng):
    q = (0.05, 7)
    tensors = [act("x", (2, 2, 2, 4), *q), act("y", (2, 16), *q)]
    op = IntOp("RESHAPE", ("x",), ("y",), dict(new_shape=(-1, 16)), name="flatten")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, (2, 2, 2, 4)),),
                "RESHAPE [2, 2, 2, 4] -> new_shape (-1, 16)")


def case_pad(rng):
    q = (0.05, -7)
    tensors = [act("x", (1, 5, 5, 4), *q), int32_const("paddings", [[0, 0], [1, 2], [2, 1], [0, 0]]),
               act("y", (1, 8, 8, 4), *q)]
    op = IntOp("PAD", ("x", "paddings"), ("y",), name="pad")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, (1, 5, 5, 4)),),
                "PAD asymmetric [[0, 0], [1, 2], [2, 1], [0, 0]]; pad value = zero point -7")


def case_concat(rng):
    q = (0.04, 3)
    tensors = [act("a", (1, 4, 4, 3), *q), act("b", (1, 4, 4, 5), *q), act("c", (1, 4, 4, 2), *q),
               act("y", (1, 4, 4, 10), *q)]
    op = IntOp("CONCATENATION", ("a", "b", "c"), ("y",), dict(axis=3, fused_activation="NONE"), name="cat")
    inputs = tuple(int8_inputs(rng, s) for s in ((1, 4, 4, 3), (1, 4, 4, 5), (1, 4, 4, 2)))
    return Case(program(tensors, [op], ["a", "b", "c"], ["y"]), inputs,
                "CONCATENATION of three int8 tensors on axis 3, equal qparams")


def min_max_case(rng, kind, bound, description):
    q = (0.05, -20)
    tensors = [act("x", (1, 6, 6, 8), *q),
               IntTensor("bound", (), "int8", (f32(q[0]),), (q[1],), data=np.array(bound, dtype=np.int8)),
               act("y", (1, 6, 6, 8), *q)]
    op = IntOp(kind, ("x", "bound"), ("y",), name=kind.lower())
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, (1, 6, 6, 8)),), description)


def case_minimum(rng):
    return min_max_case(rng, "MINIMUM", 100, "MINIMUM with an int8 scalar constant (Q(6) = 100 at scale 0.05, zp -20)")


def case_maximum(rng):
    return min_max_case(rng, "MAXIMUM", -20, "MAXIMUM with an int8 scalar constant (the zero point: a RELU)")


def case_quantize_f32(rng):
    s, z = 2.0**-5, 3
    ties = (np.arange(-70, 70) + 0.5) * s                       # exact k + 0.5 after division
    rand = rng.uniform(-4.5, 4.5, size=100)
    edges = np.array([0.0, -0.0, 200.0, -200.0, 124.5 * s, -131.5 * s, 1e-9, -1e-9])
    x = np.concatenate([ties, rand, edges]).astype(np.float32)
    x = np.concatenate([x, np.zeros(256 - x.size, np.float32)]).reshape(2, 128)
    tensors = [IntTensor("x", (2, 128), "float32"), act("y", (2, 128), s, z)]
    op = IntOp("QUANTIZE", ("x",), ("y",), name="quantize")
    return Case(program(tensors, [op], ["x"], ["y"]), (x,),
                "QUANTIZE float32 -> int8 with exact .5 ties, saturation and signed zeros "
                "(REF rounds half away; the optimized/XNNPACK paths round half to even)")


def case_quantize_i8(rng):
    tensors = [act("x", (2, 64), 2.0**-4, 5), act("y", (2, 64), 2.0**-3, -7)]
    op = IntOp("QUANTIZE", ("x",), ("y",), name="requantize")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, (2, 64)),),
                "QUANTIZE int8 -> int8 with multiplier 0.5 (every odd difference is a tie)")


def case_dequantize(rng):
    tensors = [act("x", (2, 40), 0.0373, -9), IntTensor("y", (2, 40), "float32")]
    op = IntOp("DEQUANTIZE", ("x",), ("y",), name="dequantize")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, (2, 40)),),
                "DEQUANTIZE int8 -> float32")


def case_arg_max(rng):
    x = int8_inputs(rng, (6, 10), -5, 5)                        # few distinct values: many tied maxima
    x[0] = 7
    x[1, [2, 7]] = 9
    tensors = [act("x", (6, 10), 0.1, 0), int32_const("axis", [1]), IntTensor("y", (6,), "int32")]
    op = IntOp("ARG_MAX", ("x", "axis"), ("y",), dict(output_type="INT32"), name="argmax")
    return Case(program(tensors, [op], ["x"], ["y"]), (x,), "ARG_MAX over axis 1 with tied maxima (first index wins)")


def case_gather_channels(rng):
    q = (0.06, 1)
    tensors = [act("x", (1, 4, 4, 8), *q), int32_const("indices", [5, 0, 7, 0]), act("y", (1, 4, 4, 4), *q)]
    op = IntOp("GATHER", ("x", "indices"), ("y",), dict(axis=3, batch_dims=0), name="gather")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, (1, 4, 4, 8)),),
                "GATHER channels [5, 0, 7, 0] on axis 3 with constant indices")


def case_gather_table(rng):
    q = (0.02, -3)
    table = rng.integers(-128, 128, size=(5, 8)).astype(np.int8)
    tensors = [IntTensor("table", (5, 8), "int8", (f32(q[0]),), (q[1],), data=table),
               IntTensor("indices", (3,), "int32"), act("y", (3, 8), *q)]
    op = IntOp("GATHER", ("table", "indices"), ("y",), dict(axis=0), name="lookup")
    return Case(program(tensors, [op], ["indices"], ["y"]), (np.array([4, 0, 4], dtype=np.int32),),
                "GATHER rows of a constant int8 table with int32 indices given as the model input")


# ----------------------------------------------------------------------------- optimized-path choices
# Cases whose element counts or channel counts are not multiples of the NEON vector blocks (8 / 16),
# so the vector loop and the scalar leftovers of the USE_NEON kernels both run, and cases whose
# scales make the XNNPACK delegate refuse a node (it then falls back to the built-in kernel).

def case_dw_neon_tail_ties(rng):
    s_in, s_out = 2.0**-4, 2.0**-3
    multipliers = (TIE_MULTIPLIERS + TIE_MULTIPLIERS)[:12]
    return dw_case(rng, x_shape=(2, 5, 5, 12), dm=1, kernel=3, stride=1, padding="SAME", s_in=s_in, z_in=1,
                   s_w=dyadic_weight_scales(s_in, s_out, multipliers), s_out=s_out, z_out=2,
                   w_range=(-2, 2), x_range=(-10, 10), bias_range=(-30, 30),
                   description="DEPTHWISE_CONV_2D with 12 channels and dyadic multipliers: channels 0-7 take "
                               "the USE_NEON vector output stage (ties up), 8-11 the scalar one (ties away)")


def case_add_neon_tail(rng):
    return add_case(rng, shape=(1, 3, 3, 5), qa=(2.0**-3, 3), qb=(2.0**-4, -2), qy=(2.0**-1, 1),
                    description="ADD on 45 elements with power-of-two ratios: 32 take the USE_NEON fused-shift "
                                "loop, 13 the reference formula")


def case_add_outside_xnnpack(rng):
    case = add_case(rng, shape=(1, 4, 4, 4), qa=(0.01, 3), qb=(0.00001, -5), qy=(0.02, 1),
                    description="ADD with s_b / s_out = 1/2000 < 2^-10: XNNPACK refuses the node, the built-in "
                                "kernel runs under AUTO/BUILTIN (b = z_b on half the elements: exact a/2 ties, "
                                "which XNNPACK's formula would round up)")
    b = case.inputs[1].copy()
    b.reshape(-1)[::2] = -5
    return Case(case.program, (case.inputs[0], b), case.description)


def case_quantize_i8_ties_tail(rng):
    tensors = [act("x", (3, 15), 2.0**-4, 6), act("y", (3, 15), 2.0**-2, -3)]
    op = IntOp("QUANTIZE", ("x",), ("y",), name="requantize")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, (3, 15)),),
                "QUANTIZE int8 -> int8 with multiplier 0.25 on 45 elements (32 in the USE_NEON loop, ties up; "
                "13 scalar, ties away; XNNPACK's Q8 convert)")


def case_quantize_i8_scale_0p3(rng):
    tensors = [act("x", (2, 20), 0.03, -4), act("y", (2, 20), 0.1, 7)]
    op = IntOp("QUANTIZE", ("x",), ("y",), name="requantize")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, (2, 20)),),
                "QUANTIZE int8 -> int8 with multiplier 0.3 (XNNPACK's 8-bit multiplier round(0.3 * 256) / 256 "
                "differs from TFLite's 31-bit one)")


def case_quantize_i8_outside_xnnpack(rng):
    tensors = [act("x", (2, 20), 0.001, 2), act("y", (2, 20), 0.4, -1)]
    op = IntOp("QUANTIZE", ("x",), ("y",), name="requantize")
    x = int8_inputs(rng, (2, 20))
    x[:, :6] = -128                  # XNNPACK's Q8 multiplier (1) would give -1 + z_out here
    return Case(program(tensors, [op], ["x"], ["y"]), (x,),
                "QUANTIZE int8 -> int8 with s_in / s_out = 1/400 < 1/256: XNNPACK refuses the node")


def case_quantize_f32_tail(rng):
    s, z = 2.0**-4, -2
    ties = (np.arange(-10, 10) + 0.5) * s
    x = np.concatenate([ties, rng.uniform(-6, 6, size=17)]).astype(np.float32).reshape(1, 37)
    tensors = [IntTensor("x", (1, 37), "float32"), act("y", (1, 37), s, z)]
    op = IntOp("QUANTIZE", ("x",), ("y",), name="quantize")
    return Case(program(tensors, [op], ["x"], ["y"]), (x,),
                "QUANTIZE float32 -> int8 on 37 elements with ties: 32 in the USE_NEON loop (half to even), "
                "5 scalar (half away)")


def case_dequantize_tail(rng):
    tensors = [act("x", (3, 13), 0.0173, 11), IntTensor("y", (3, 13), "float32")]
    op = IntOp("DEQUANTIZE", ("x",), ("y",), name="dequantize")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, (3, 13)),),
                "DEQUANTIZE on 39 elements: 32 in the USE_NEON loop (q * s + (-z * s)), 7 scalar")


def case_conv_grouped_ties(rng):
    s_in, s_out = 2.0**-4, 2.0**-3
    return conv_case(rng, x_shape=(1, 5, 5, 8), oc=8, kernel=3, stride=1, padding="SAME", groups=2,
                     s_in=s_in, z_in=1, s_out=s_out, z_out=0,
                     s_w=dyadic_weight_scales(s_in, s_out, TIE_MULTIPLIERS), w_range=(-2, 2),
                     x_range=(-10, 10), bias_range=(-30, 30),
                     description="grouped CONV_2D with dyadic multipliers: the optimized resolvers run the "
                                 "reference kernel for groups != 1, XNNPACK takes it")


def case_fc_batch1_ties(rng):
    s_in, s_out = 2.0**-4, 2.0**-3
    multipliers = TIE_MULTIPLIERS
    return fc_case(rng, x_shape=(1, 24), units=len(multipliers), s_in=s_in, z_in=2,
                   s_w=dyadic_weight_scales(s_in, s_out, multipliers), s_out=s_out, z_out=-3,
                   w_range=(-2, 2), x_range=(-10, 10), bias_range=(-40, 40),
                   description="FULLY_CONNECTED batch 1 with dyadic multipliers (the USE_NEON custom GEMV path)")


# ----------------------------------------------------------------------------- 16-bit CAT score path
# CAST int8 -> int16, FULLY_CONNECTED 16x8 (int64 bias), CAST int16 -> int32, ARG_MAX int32: the ops
# of the CAT cluster assignment (catdeploy/lower/ops/cat_head.py).

def int16_act(name: str, shape, scale: float) -> IntTensor:
    return IntTensor(name, tuple(int(d) for d in shape), "int16", (f32(scale),), (0,))


def fc_16x8_tensors(rng, x_name: str, n: int, depth: int, multipliers, s_in: float, s_out: float,
                    w_range=(-127, 127), bias_range=(-4000, 4000)):
    """(weights, int64 bias, int16 output) of a 16x8 FC with s_in s_w[k] / s_out == multipliers[k]."""
    units = len(multipliers)
    w_q = rng.integers(w_range[0], w_range[1] + 1, size=(units, depth)).astype(np.int8)
    s_w = np.array([m * s_out / s_in for m in multipliers])
    scales = tuple(f32(s) for s in s_w)
    w = IntTensor("w", (units, depth), "int8", scales, (0,) * units, 0, w_q)
    b = IntTensor("b", (units,), "int64", tuple(f32(f32(s_in) * s) for s in scales), (0,) * units, 0,
                  rng.integers(bias_range[0], bias_range[1] + 1, size=units).astype(np.int64))
    return w, b, int16_act("y", (n, units), s_out)


# dyadic ties (negative ties split the int64 MultiplyByQuantizedMultiplier, half up, from LiteRT's
# float64 half away), arbitrary multipliers (its 15-bit reduced multiplier differs from double), a
# left shift, and a multiplier near 127 (the largest shift, 7, the int64 overload allows)
FC_16X8_MULTIPLIERS = (0.5, 0.25, 0.375, 0.0625, 0.013, 0.37171, 3.0, 0.00071, 96.5)


def case_fc_16x8_ties(rng):
    s_in, s_out = 2.0**-4, 2.0**-3
    x = rng.integers(-300, 301, size=(24, 12)).astype(np.int16)
    x[0] = 32767
    x[1] = -32768
    w, b, y = fc_16x8_tensors(rng, "x", 24, 12, FC_16X8_MULTIPLIERS, s_in, s_out, w_range=(-3, 3),
                              bias_range=(-40, 40))
    op = IntOp("FULLY_CONNECTED", ("x", "w", "b"), ("y",), dict(fused_activation="NONE"), name="fc16x8")
    return Case(program([int16_act("x", (24, 12), s_in), w, b, y], [op], ["x"], ["y"]), (x,),
                "FULLY_CONNECTED 16x8 (int16 x int8 per-channel, int64 bias, op version 7): dyadic ties, "
                "arbitrary multipliers, a left shift, saturation at the int16 limits")


def case_cast_int8_int16(rng):
    x = np.arange(-128, 128, dtype=np.int8).reshape(4, 64)
    tensors = [act("x", (4, 64), 0.05, -3), IntTensor("y", (4, 64), "int16", (f32(0.05),), (0,))]
    op = IntOp("CAST", ("x",), ("y",), dict(in_data_type="int8", out_data_type="int16"), name="cast")
    return Case(program(tensors, [op], ["x"], ["y"]), (x,),
                "CAST int8 -> int16 on every int8 code (raw values copied, qparams ignored)")


def case_cast_int16_int32(rng):
    x = rng.integers(-32768, 32768, size=(3, 20)).astype(np.int16)
    x[0, :2] = (-32768, 32767)
    tensors = [int16_act("x", (3, 20), 0.001), IntTensor("y", (3, 20), "int32")]
    op = IntOp("CAST", ("x",), ("y",), dict(in_data_type="int16", out_data_type="int32"), name="cast")
    return Case(program(tensors, [op], ["x"], ["y"]), (x,), "CAST int16 -> int32, the int16 limits included")


def case_arg_max_int32(rng):
    x = rng.integers(-3, 4, size=(6, 9)).astype(np.int32) * 40000
    x[0] = 2**31 - 1
    tensors = [IntTensor("x", (6, 9), "int32"), int32_const("axis", [1]), IntTensor("y", (6,), "int32")]
    op = IntOp("ARG_MAX", ("x", "axis"), ("y",), dict(output_type="INT32"), name="argmax")
    return Case(program(tensors, [op], ["x"], ["y"]), (x,), "ARG_MAX over int32 with tied maxima (version 1)")


def case_cat_scores_16x8(rng):
    s_z, z_z, n, c = 0.0731, -7, 64, 10
    multipliers = rng.uniform(0.02, 3.0, size=6)
    w, b, y = fc_16x8_tensors(rng, "z16", n, c, multipliers, s_z, 2.0**-5)
    tensors = [act("z", (n, c), s_z, z_z), int16_act("z16", (n, c), s_z), w, b, y,
               IntTensor("y32", (n, 6), "int32"), int32_const("axis", [1]), IntTensor("k", (n,), "int32")]
    ops = [IntOp("CAST", ("z",), ("z16",), dict(in_data_type="int8", out_data_type="int16"), name="cat"),
           IntOp("FULLY_CONNECTED", ("z16", "w", "b"), ("y",), dict(fused_activation="NONE"), name="cat"),
           IntOp("CAST", ("y",), ("y32",), dict(in_data_type="int16", out_data_type="int32"), name="cat"),
           IntOp("ARG_MAX", ("y32", "axis"), ("k",), dict(output_type="INT32"), name="cat")]
    return Case(program(tensors, ops, ["z"], ["y", "k"]), (int8_inputs(rng, (n, c)),),
                "the CAT cluster assignment: CAST int8 -> int16, FULLY_CONNECTED 16x8, CAST -> int32, ARG_MAX")


# Interpreter runs whose output is not a golden: (case, interpreter, resolver) -> why.
KNOWN_BROKEN = {
    ("fc_keep_num_dims", "tflite-runtime", "ref"):
        "tflite-runtime 2.14 BUILTIN_REF: per-channel FULLY_CONNECTED with keep_num_dims and a rank-3 "
        "output returns garbage that changes from run to run (the reference per-channel kernel reads "
        "batches and depth from output dims 0 and 1); TF 2.19 and LiteRT 2.1.0 ref are correct",
}

CASES: dict[str, Callable[[np.random.Generator], Case]] = {
    name[len("case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")
}


def build_case(name: str) -> Case:
    """The case's program and inputs, from a generator seeded with crc32(name)."""
    return CASES[name](np.random.default_rng(zlib.crc32(name.encode())))


# ----------------------------------------------------------------------------- running and storing

def run_cases(names, interpreters, resolvers) -> dict[str, dict[tuple[str, str], dict]]:
    """{case: {(interpreter, resolver): result}}; one worker process per interpreter."""
    built = {name: build_case(name) for name in names}
    models = {name: write_tflite(case.program) for name, case in built.items()}
    results: dict[str, dict] = {name: {} for name in names}
    for interpreter in interpreters:
        requests = [RunRequest(models[name], built[name].inputs, resolver, keep_all=False,
                               model_name=f"{name}.tflite", extra={"case": name})
                    for name in names for resolver in resolvers]
        for request, result in zip(requests, run_requests(interpreter, requests)):
            results[request.extra["case"]][(interpreter, request.resolver)] = result
    return results


def npz_arrays(name: str, runs: dict[tuple[str, str], dict]) -> dict[str, np.ndarray]:
    case = build_case(name)
    model = write_tflite(case.program)
    arrays: dict[str, np.ndarray] = {"model": np.frombuffer(model, dtype=np.uint8)}
    for i, x in enumerate(case.inputs):
        arrays[f"input_{i}"] = x
    versions, differs = {}, {}
    for (interpreter, resolver), result in sorted(runs.items()):
        versions[interpreter] = result["version"]
        if (name, interpreter, resolver) in KNOWN_BROKEN:
            arrays[f"broken__{interpreter}__{resolver}"] = np.array(KNOWN_BROKEN[name, interpreter, resolver])
            continue
        if result["error"]:
            arrays[f"error__{interpreter}__{resolver}"] = np.array(result["error"])
            continue
        for i, y in enumerate(result["outputs"]):
            arrays[f"output__{interpreter}__{resolver}__{i}"] = y
    for (interpreter, resolver), result in sorted(runs.items()):
        ref = runs.get((interpreter, REFERENCE_RESOLVER))
        broken = {(name, interpreter, resolver), (name, interpreter, REFERENCE_RESOLVER)} & KNOWN_BROKEN.keys()
        if resolver == REFERENCE_RESOLVER or result["error"] or ref is None or ref["error"] or broken:
            continue
        differs[f"{interpreter}/{resolver}"] = int(sum(
            np.count_nonzero(a != b) for a, b in zip(result["outputs"], ref["outputs"])))
    meta = {
        "case": name,
        "description": case.description,
        "ops": [op.kind for op in case.program.ops],
        "inputs": list(case.program.inputs),
        "outputs": list(case.program.outputs),
        "versions": versions,
        "runs": sorted(f"{i}/{r}" for i, r in runs),
        "elements_differing_from_ref": differs,
    }
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return arrays


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed without timestamps, so unchanged goldens stay byte-identical."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)


def store_or_check(name: str, path: Path, arrays: dict[str, np.ndarray], check: bool) -> bool:
    """Write one case's arrays to `path` and print its size and differences, or with `check`
    compare them (all but meta) with the stored file; False when a checked file differs."""
    if check:
        stored = load_golden(path)
        same = all(key in stored and np.array_equal(stored[key], value)
                   for key, value in arrays.items() if key != "meta")
        print(f"{name}: {'ok' if same else 'DIFFERS'}")
        return same
    save_npz(path, arrays)
    meta = json.loads(str(arrays["meta"]))
    errors = sorted(k[len("error__"):] for k in arrays if k.startswith("error__"))
    print(f"{name}: {path.stat().st_size} bytes, differs from ref: {meta['elements_differing_from_ref']}"
          + (f", does not load: {errors}" if errors else ""))
    return True


def load_golden(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help=f"case names (default: all): {', '.join(CASES)}")
    parser.add_argument("--check", action="store_true", help="rerun 'ref' and compare with the stored files")
    parser.add_argument("--out", type=Path, default=GOLDEN_DIR)
    args = parser.parse_args(argv)
    names = args.cases or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    interpreters = available_interpreters()
    resolvers = [REFERENCE_RESOLVER] if args.check else list(RESOLVERS)
    results = run_cases(names, interpreters, resolvers)
    failures = 0
    for name in names:
        failures += not store_or_check(name, args.out / f"{name}.npz", npz_arrays(name, results[name]), args.check)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
