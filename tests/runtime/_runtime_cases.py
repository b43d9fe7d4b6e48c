"""Single-op and small multi-op test models (deterministic), run by catrt and the real interpreters.

Each builder returns Case(model bytes, inputs). Many cases use power-of-two scales so that the
requantization hits exact ties, where the rounding variants (dr_away / dr_up / float64 rha)
disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._tiny_models import (TinyModel, add_options, argmax_options, concat_options,
                           conv_options, depthwise_options, dequantize_options, fc_options,
                           gather_options, minmax_options, mul_options, pad_options,
                           pool_options, quantize_options, reshape_options)

from catrt.fixed_point import multiply_by_quantized_multiplier, quantize_multiplier


@dataclass(frozen=True)
class Case:
    model: bytes
    inputs: tuple
    notes: dict = field(default_factory=dict)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _i8(rng, shape, lo=-128, hi=127):
    return rng.integers(lo, hi + 1, size=shape).astype(np.int8)


def _conv(seed, in_shape, w_shape, *, s_in, z_in, s_w, s_out, z_out, padding="SAME",
          stride=(1, 1), dilation=(1, 1), act="NONE", w_range=127, x_range=(-128, 127),
          bias_range=2000, batch=None, filter_dtype="int8", version=None, filter_zp=None,
          with_bias=True):
    rng = _rng(seed)
    m = TinyModel()
    x = m.tensor("x", in_shape, "int8", [s_in], [z_in])
    w = rng.integers(-w_range, w_range + 1, size=w_shape)
    oc = w_shape[0]
    wt = m.tensor("w", w_shape, filter_dtype, s_w, filter_zp or [0] * len(s_w), 0, w)
    inputs = [x, wt]
    if with_bias:
        bias = rng.integers(-bias_range, bias_range + 1, size=oc)
        b_scale = [s_in * s for s in s_w]
        inputs.append(m.tensor("b", [oc], "int32", b_scale, [0] * len(s_w), 0, bias))
    y = m.tensor("y", [in_shape[0], 1, 1, oc], "int8", [s_out], [z_out])
    m.op("CONV_2D", inputs, [y], conv_options(padding, stride, dilation, act), version=version)
    m.inputs, m.outputs = [x], [y]
    return Case(m.build(), (_i8(rng, in_shape, *x_range),))


def _depthwise(seed, in_shape, w_shape, *, s_in, z_in, s_w, s_out, z_out, padding="SAME",
               stride=(1, 1), dilation=(1, 1), act="NONE", w_range=127, x_range=(-128, 127),
               with_bias=True, filter_dtype="int8", version=None):
    rng = _rng(seed)
    m = TinyModel()
    x = m.tensor("x", in_shape, "int8", [s_in], [z_in])
    w = rng.integers(-w_range, w_range + 1, size=w_shape)
    oc = w_shape[3]
    wt = m.tensor("w", w_shape, filter_dtype, s_w, [0] * len(s_w), 3, w)
    inputs = [x, wt]
    if with_bias:
        bias = rng.integers(-1500, 1501, size=oc)
        inputs.append(m.tensor("b", [oc], "int32", [s_in * s for s in s_w], [0] * len(s_w), 0,
                               bias))
    y = m.tensor("y", [in_shape[0], 1, 1, oc], "int8", [s_out], [z_out])
    m.op("DEPTHWISE_CONV_2D", inputs, [y],
         depthwise_options(padding, stride, dilation, act, oc // in_shape[3]), version=version)
    m.inputs, m.outputs = [x], [y]
    return Case(m.build(), (_i8(rng, in_shape, *x_range),))


def _fc(seed, in_shape, units, *, s_in, z_in, s_w, s_out, z_out, act="NONE", keep_num_dims=False,
        with_bias=True, w_range=127, x_range=(-128, 127), bias_range=3000, version=None,
        filter_dtype="int8", w_zp=None, weights=None, bias=None, inputs=None, bias_scale=None):
    rng = _rng(seed)
    depth = in_shape[-1]
    m = TinyModel()
    x = m.tensor("x", in_shape, "int8", [s_in], [z_in])
    w = weights if weights is not None else rng.integers(-w_range, w_range + 1, size=(units, depth))
    wt = m.tensor("w", [units, depth], filter_dtype, s_w, w_zp or [0] * len(s_w), 0, w)
    ins = [x, wt]
    if with_bias:
        b = bias if bias is not None else rng.integers(-bias_range, bias_range + 1, size=units)
        scales = bias_scale or [s_in * s for s in s_w]
        ins.append(m.tensor("b", [units], "int32", scales, [0] * len(scales), 0, b))
    if keep_num_dims:
        out_shape = list(in_shape[:-1]) + [units]
    else:
        out_shape = [int(np.prod(in_shape[:-1])), units]
    y = m.tensor("y", out_shape, "int8", [s_out], [z_out])
    if version is None:
        version = 5 if keep_num_dims else 4
    m.op("FULLY_CONNECTED", ins, [y], fc_options(act, keep_num_dims), version=version)
    m.inputs, m.outputs = [x], [y]
    data = inputs if inputs is not None else _i8(rng, in_shape, *x_range)
    return Case(m.build(), (data,))


def _binary(kind, seed, a_shape, b_shape, out_shape, *, sa, za, sb, zb, so, zo, act="NONE",
            a_range=(-128, 127), b_range=(-128, 127)):
    rng = _rng(seed)
    m = TinyModel()
    a = m.tensor("a", a_shape, "int8", [sa], [za])
    b = m.tensor("b", b_shape, "int8", [sb], [zb])
    y = m.tensor("y", out_shape, "int8", [so], [zo])
    opts = add_options(act) if kind == "ADD" else mul_options(act)
    m.op(kind, [a, b], [y], opts)
    m.inputs, m.outputs = [a, b], [y]
    return Case(m.build(), (_i8(rng, a_shape, *a_range), _i8(rng, b_shape, *b_range)))


def _pool(kind, seed, in_shape, filter_size, stride, padding, act="NONE", scale=0.05, zp=-3,
          x_range=(-128, 127)):
    rng = _rng(seed)
    m = TinyModel()
    x = m.tensor("x", in_shape, "int8", [scale], [zp])
    y = m.tensor("y", [in_shape[0], 1, 1, in_shape[3]], "int8", [scale], [zp])
    m.op(kind, [x], [y], pool_options(filter_size, stride, padding, act))
    m.inputs, m.outputs = [x], [y]
    return Case(m.build(), (_i8(rng, in_shape, *x_range),))


def _multiplier_probe_biases(real_a: float, real_b: float, count: int, seed: int) -> np.ndarray:
    """Accumulator values whose requantized result differs between two real multipliers, within
    the range where the int8 output does not clamp."""
    span = int(120 / real_a)
    ma, sa = quantize_multiplier(real_a)
    mb, sb = quantize_multiplier(real_b)
    acc = np.arange(-span, span, dtype=np.int64)
    diff = acc[np.asarray(multiply_by_quantized_multiplier(acc, ma, sa))
               != np.asarray(multiply_by_quantized_multiplier(acc, mb, sb))]
    if diff.size < 8:
        raise AssertionError(f"multipliers {real_a!r} and {real_b!r} differ on {diff.size} "
                             "values only")
    return _rng(seed).choice(diff, size=count, replace=diff.size < count)


def _probe_scales() -> tuple[float, float, float]:
    """float32 scales (s_in, s_w, s_out) for which double(s_in)*double(s_w)/double(s_out) gives
    the multiplier (3 * 2^29, 0), i.e. exactly 0.75, while float32(s_in*s_w)/s_out gives a smaller
    one: outputs then differ on every accumulator 2 (mod 4), where acc * 0.75 is an exact tie."""
    rng = _rng(2024)
    target = (3 << 29, 0)
    while True:
        s_in = np.float32(rng.uniform(0.01, 0.1))
        s_w = np.float32(rng.uniform(0.001, 0.01))
        s_out = np.float32(float(s_in) * float(s_w) / 0.75)
        double_m = float(s_in) * float(s_w) / float(s_out)
        f32_m = float(s_in * s_w) / float(s_out)
        f32_multiplier, f32_shift = quantize_multiplier(f32_m)
        smaller = f32_shift == 0 and f32_multiplier < target[0]
        if quantize_multiplier(double_m) == target and smaller:
            return float(s_in), float(s_w), float(s_out)


PROBE_S_IN, PROBE_S_W, PROBE_S_OUT = _probe_scales()


def _probe_multipliers() -> tuple[float, float]:
    s_in, s_w, s_out = (np.float32(v) for v in (PROBE_S_IN, PROBE_S_W, PROBE_S_OUT))
    double_m = float(s_in) * float(s_w) / float(s_out)
    f32_m = float(s_in * s_w) / float(s_out)
    return double_m, f32_m


def build_cases() -> dict:
    cases = {}
    pc4 = [0.011, 0.0237, 0.0031, 0.041]
    rng = _rng(1)

    # ---- CONV_2D --------------------------------------------------------------------------------
    cases["conv_per_channel_relu"] = _conv(1, [1, 6, 6, 3], (4, 3, 3, 3), s_in=0.05, z_in=3,
                                           s_w=pc4, s_out=0.1, z_out=-5, act="RELU")
    pow2_w = [2.0 ** -k for k in (4, 5, 6, 7, 3, 5)]
    cases["conv_ties_pow2"] = _conv(2, [2, 5, 5, 8], (6, 3, 3, 8), s_in=2 ** -4, z_in=1,
                                    s_w=pow2_w, s_out=2 ** -2, z_out=-1, w_range=3,
                                    x_range=(-20, 20), bias_range=40)
    cases["conv_grouped_dilated_valid"] = _conv(3, [1, 9, 7, 6], (6, 3, 2, 2), s_in=0.07,
                                                z_in=-2, s_w=[0.013], s_out=0.09, z_out=4,
                                                padding="VALID", stride=(2, 1), dilation=(2, 1))
    cases["conv_stride2_same_relu6"] = _conv(4, [1, 5, 7, 3], (5, 3, 2, 3), s_in=0.031,
                                             z_in=-7, s_w=[0.02, 0.011, 0.007, 0.03, 0.015],
                                             s_out=0.023, z_out=-10, stride=(2, 2), act="RELU6")
    cases["conv_1x1_batch2"] = _conv(5, [2, 4, 4, 16], (8, 1, 1, 16), s_in=0.02, z_in=0,
                                     s_w=[0.004 + 0.001 * i for i in range(8)], s_out=0.05,
                                     z_out=2)
    # Per-tensor conv whose multiplier depends on double(s_in)*double(s_w)/double(s_out).
    double_m, f32_m = _probe_multipliers()
    probe = _multiplier_probe_biases(double_m, f32_m, 64, 6)
    m = TinyModel()
    x = m.tensor("x", [1, 1, 1, 1], "int8", [PROBE_S_IN], [0])
    wt = m.tensor("w", [64, 1, 1, 1], "int8", [PROBE_S_W], [0], 0, np.ones((64, 1, 1, 1)))
    b = m.tensor("b", [64], "int32", [PROBE_S_IN * PROBE_S_W], [0], 0, probe)
    y = m.tensor("y", [1, 1, 1, 64], "int8", [PROBE_S_OUT], [0])
    m.op("CONV_2D", [x, wt, b], [y], conv_options("VALID"))
    m.inputs, m.outputs = [x], [y]
    cases["conv_multiplier_double_product"] = Case(m.build(), (np.zeros((1, 1, 1, 1), np.int8),))

    # ---- DEPTHWISE_CONV_2D ----------------------------------------------------------------------
    cases["dw_per_channel_s2_relu6"] = _depthwise(11, [1, 7, 7, 4], (1, 3, 3, 4), s_in=0.04, z_in=5,
                                                  s_w=pc4, s_out=0.06, z_out=-3, stride=(2, 2),
                                                  act="RELU6")
    cases["dw_dm2_per_tensor_nobias_dilated"] = _depthwise(12, [2, 8, 6, 3], (1, 2, 3, 6),
                                                           s_in=0.03, z_in=-4, s_w=[0.015],
                                                           s_out=0.05, z_out=1, padding="VALID",
                                                           dilation=(2, 2), with_bias=False)
    m = TinyModel()
    x = m.tensor("x", [1, 5, 5, 2], "int8", [0.1], [0])
    w = m.tensor("w", [1, 3, 3, 2], "int8", [0.1, 0.2], [5, -3], 3,
                 _rng(14).integers(-100, 100, (1, 3, 3, 2)))
    y = m.tensor("y", [1, 5, 5, 2], "int8", [0.3], [1])
    m.op("DEPTHWISE_CONV_2D", [x, w], [y], depthwise_options())
    m.inputs, m.outputs = [x], [y]
    cases["dw_filter_zero_point_ignored"] = Case(m.build(), (_i8(_rng(14), (1, 5, 5, 2)),))
    cases["dw_ties_pow2"] = _depthwise(13, [2, 6, 6, 6], (1, 3, 3, 6), s_in=2 ** -3, z_in=-1,
                                       s_w=[2.0 ** -k for k in (3, 4, 5, 6, 5, 4)], s_out=2 ** -1,
                                       z_out=0, w_range=4, x_range=(-16, 16))

    # ---- FULLY_CONNECTED ------------------------------------------------------------------------
    cases["fc_per_tensor_relu"] = _fc(21, [3, 16], 5, s_in=0.04, z_in=-6, s_w=[0.0123],
                                      s_out=0.21, z_out=7, act="RELU")
    cases["fc_per_channel_keep_num_dims"] = _fc(22, [2, 3, 8], 4, s_in=0.05, z_in=2, s_w=pc4,
                                                s_out=0.08, z_out=-9, keep_num_dims=True)
    cases["fc_per_tensor_keep_num_dims_3d"] = _fc(27, [2, 3, 8], 4, s_in=0.05, z_in=2, s_w=[0.01],
                                                  s_out=0.08, z_out=-9, keep_num_dims=True)
    cases["fc_weights_zero_point_per_tensor"] = _fc(28, [3, 8], 4, s_in=0.05, z_in=2, s_w=[0.011],
                                                    s_out=0.08, z_out=-9, w_zp=[3], w_range=100)
    cases["fc_no_bias"] = _fc(23, [2, 12], 6, s_in=0.03, z_in=1, s_w=[0.02], s_out=0.1, z_out=0,
                              with_bias=False, version=6)
    cases["fc_ties_pow2_per_tensor"] = _fc(24, [64, 16], 8, s_in=2 ** -3, z_in=0, s_w=[2 ** -3],
                                           s_out=2 ** -1, z_out=0, w_range=3, x_range=(-12, 12),
                                           bias_range=20)
    cases["fc_ties_pow2_per_channel"] = _fc(25, [64, 16], 4, s_in=2 ** -3, z_in=1,
                                            s_w=[2 ** -3, 2 ** -4, 2 ** -5, 2 ** -2], s_out=2 ** -1,
                                            z_out=0, w_range=3, x_range=(-12, 12), bias_range=20)
    # Per-tensor FC: TFLite forms the multiplier from the float32 product s_in*s_w.
    probe = _multiplier_probe_biases(*_probe_multipliers(), 64, 26)
    cases["fc_multiplier_float32_product"] = _fc(
        26, [1, 1], 64, s_in=PROBE_S_IN, z_in=0, s_w=[PROBE_S_W], s_out=PROBE_S_OUT, z_out=0,
        weights=np.zeros((64, 1), np.int64), bias=probe, inputs=np.zeros((1, 1), np.int8))

    # ---- ADD / MUL ------------------------------------------------------------------------------
    cases["add_relu"] = _binary("ADD", 31, [1, 5, 5, 3], [1, 5, 5, 3], [1, 5, 5, 3], sa=0.05, za=3,
                                sb=0.031, zb=-7, so=0.07, zo=-2, act="RELU")
    cases["add_broadcast"] = _binary("ADD", 32, [2, 3, 3, 4], [1, 1, 1, 4], [2, 3, 3, 4], sa=0.02,
                                     za=0, sb=0.09, zb=10, so=0.1, zo=5)
    cases["add_ties_equal_scales"] = _binary("ADD", 33, [4, 64], [4, 64], [4, 64], sa=0.25, za=0,
                                             sb=0.25, zb=1, so=0.5, zo=0)
    cases["mul"] = _binary("MUL", 34, [1, 4, 4, 3], [1, 4, 4, 3], [1, 4, 4, 3], sa=0.05, za=3,
                           sb=0.02, zb=-1, so=0.04, zo=-5, act="RELU6")
    cases["mul_broadcast_ties"] = _binary("MUL", 35, [2, 8, 8], [1, 1, 8], [2, 8, 8], sa=0.5, za=0,
                                          sb=0.5, zb=0, so=2.0, zo=0, a_range=(-16, 16),
                                          b_range=(-16, 16))

    # ---- pooling --------------------------------------------------------------------------------
    cases["avgpool_valid_2x2"] = _pool("AVERAGE_POOL_2D", 41, [2, 6, 6, 3], (2, 2), (2, 2), "VALID")
    cases["avgpool_same_3x3_relu"] = _pool("AVERAGE_POOL_2D", 42, [1, 5, 7, 4], (3, 3), (1, 1),
                                           "SAME", act="RELU")
    cases["avgpool_global"] = _pool("AVERAGE_POOL_2D", 43, [3, 4, 4, 8], (4, 4), (4, 4), "VALID",
                                    x_range=(-9, 9))
    cases["maxpool_same_3x3_s2_relu6"] = _pool("MAX_POOL_2D", 44, [2, 7, 6, 3], (3, 3), (2, 2),
                                               "SAME", act="RELU6", scale=0.03, zp=-20)

    # ---- data movement --------------------------------------------------------------------------
    m = TinyModel()
    x = m.tensor("x", [2, 3, 4], "int8", [0.1], [1])
    y = m.tensor("y", [2, 12], "int8", [0.1], [1])
    z = m.tensor("shape", [2], "int32", data=np.array([-1, 4], np.int32))
    y2 = m.tensor("y2", [6, 4], "int8", [0.1], [1])
    m.op("RESHAPE", [x], [y], reshape_options([2, 12]))
    m.op("RESHAPE", [y, z], [y2], reshape_options([-1, 4]))
    m.inputs, m.outputs = [x], [y2]
    cases["reshape_options_and_tensor"] = Case(m.build(), (_i8(rng, (2, 3, 4)),))

    m = TinyModel()
    x = m.tensor("x", [1, 3, 3, 2], "int8", [0.1], [-7])
    p = m.tensor("paddings", [4, 2], "int32",
                 data=np.array([[0, 0], [1, 2], [2, 0], [0, 1]], np.int32))
    y = m.tensor("y", [1, 6, 5, 3], "int8", [0.1], [-7])
    m.op("PAD", [x, p], [y], pad_options())
    m.inputs, m.outputs = [x], [y]
    cases["pad"] = Case(m.build(), (_i8(rng, (1, 3, 3, 2)),))

    m = TinyModel()
    a = m.tensor("a", [1, 2, 3, 2], "int8", [0.1], [3])
    b = m.tensor("b", [1, 2, 3, 5], "int8", [0.1], [3])
    c_ = m.tensor("c", [1, 2, 3, 7], "int8", [0.1], [3])
    d = m.tensor("d", [1, 1, 3, 7], "int8", [0.1], [3])
    e = m.tensor("e", [1, 3, 3, 7], "int8", [0.1], [3])
    m.op("CONCATENATION", [a, b], [c_], concat_options(-1))
    m.op("CONCATENATION", [c_, d], [e], concat_options(1))
    m.inputs, m.outputs = [a, b, d], [e]
    cases["concatenation"] = Case(m.build(), (_i8(rng, (1, 2, 3, 2)), _i8(rng, (1, 2, 3, 5)),
                                              _i8(rng, (1, 1, 3, 7))))

    m = TinyModel()
    x = m.tensor("x", [2, 4, 4, 3], "int8", [0.05], [-4])
    lo = m.tensor("six", [], "int8", [0.05], [-4], data=np.array(116, np.int8))
    zero = m.tensor("zero", [], "int8", [0.05], [-4], data=np.array(-4, np.int8))
    y1 = m.tensor("y1", [2, 4, 4, 3], "int8", [0.05], [-4])
    y2 = m.tensor("y2", [2, 4, 4, 3], "int8", [0.05], [-4])
    m.op("MINIMUM", [x, lo], [y1], minmax_options())
    m.op("MAXIMUM", [y1, zero], [y2], minmax_options())
    m.inputs, m.outputs = [x], [y2]
    cases["minimum_maximum"] = Case(m.build(), (_i8(rng, (2, 4, 4, 3)),))

    m = TinyModel()
    x = m.tensor("x", [3, 5, 4], "int8", [0.1], [0])
    axis = m.tensor("axis", [1], "int32", data=np.array([-1], np.int32))
    y = m.tensor("y", [3, 5], "int32")
    m.op("ARG_MAX", [x, axis], [y], argmax_options("int32"))
    m.inputs, m.outputs = [x], [y]
    cases["arg_max_ties"] = Case(m.build(), (_i8(rng, (3, 5, 4), -2, 1),))

    m = TinyModel()
    params = m.tensor("table", [6, 3], "int8", [0.1], [2], data=_i8(rng, (6, 3)))
    idx = m.tensor("idx", [2, 4], "int32")
    y = m.tensor("y", [2, 4, 3], "int8", [0.1], [2])
    m.op("GATHER", [params, idx], [y], gather_options(0, 0))
    m.inputs, m.outputs = [idx], [y]
    cases["gather"] = Case(m.build(), (rng.integers(0, 6, size=(2, 4)).astype(np.int32),))

    # ---- QUANTIZE / DEQUANTIZE ------------------------------------------------------------------
    scale = 0.0625
    special = np.array([np.inf, -np.inf, np.nan, 1e10, -1e10, 0.0, -0.0], np.float32)
    ties = (np.arange(-40, 40, dtype=np.float32) + np.float32(0.5)) * np.float32(scale)
    rand = rng.normal(0, 3, size=57).astype(np.float32)
    xq = np.concatenate([special, ties, rand]).reshape(1, -1)
    m = TinyModel()
    x = m.tensor("x", list(xq.shape), "float32")
    y = m.tensor("y", list(xq.shape), "int8", [scale], [-3])
    y2 = m.tensor("y2", list(xq.shape), "int8", [0.1], [5])
    y3 = m.tensor("y3", list(xq.shape), "float32")
    m.op("QUANTIZE", [x], [y], quantize_options())
    m.op("QUANTIZE", [y], [y2], quantize_options())
    m.op("DEQUANTIZE", [y2], [y3], dequantize_options())
    m.inputs, m.outputs = [x], [y3]
    cases["quantize_requantize_dequantize"] = Case(m.build(), (xq,))

    m = TinyModel()
    x = m.tensor("x", [2, 3], "int8", [0.1, 0.2, 0.3], [1, 2, 3], 1)
    y = m.tensor("y", [2, 3], "float32")
    m.op("DEQUANTIZE", [x], [y], dequantize_options())
    m.inputs, m.outputs = [x], [y]
    cases["dequantize_per_channel"] = Case(m.build(), (_i8(rng, (2, 3)),))

    m = TinyModel()
    x = m.tensor("x", [4, 64], "int8", [0.25], [0])
    y = m.tensor("y", [4, 64], "int8", [1.0], [0])
    m.op("QUANTIZE", [x], [y], quantize_options())
    m.inputs, m.outputs = [x], [y]
    cases["requantize_ties"] = Case(m.build(), (_i8(rng, (4, 64)),))

    # ---- a small network, every intermediate compared -------------------------------------------
    cases["chain"] = build_chain(7)

    # ---- INT4 weights ---------------------------------------------------------------------------
    # With the int8 op versions every reference resolver loads them ...
    cases["int4_conv"] = _conv(51, [1, 5, 5, 4], (3, 3, 3, 4), s_in=0.05, z_in=2,
                               s_w=[0.1, 0.2, 0.15], s_out=0.3, z_out=0, w_range=8,
                               filter_dtype="int4")
    cases["int4_depthwise"] = _depthwise(53, [1, 5, 5, 3], (1, 3, 3, 3), s_in=0.05, z_in=2,
                                         s_w=[0.1], s_out=0.3, z_out=0, w_range=8,
                                         filter_dtype="int4")
    cases["int4_fc_per_tensor"] = _fc(54, [2, 9], 3, s_in=0.05, z_in=2, s_w=[0.1], s_out=0.3,
                                      z_out=0, w_range=8, filter_dtype="int4")
    # ... except per-channel FULLY_CONNECTED on tflite-runtime 2.14 (Prepare refuses it).
    cases["int4_fc_per_channel"] = _fc(52, [3, 7], 3, s_in=0.05, z_in=2, s_w=[0.1, 0.2, 0.15],
                                       s_out=0.3, z_out=0, w_range=8, filter_dtype="int4")
    # The int4 op versions are not registered in tflite-runtime 2.14's reference resolver.
    cases["int4_conv_v7"] = _conv(55, [1, 5, 5, 4], (3, 3, 3, 4), s_in=0.05, z_in=2,
                                  s_w=[0.1, 0.2, 0.15], s_out=0.3, z_out=0, w_range=7,
                                  filter_dtype="int4", version=7)
    cases["int4_fc_v10"] = _fc(56, [2, 9], 3, s_in=0.05, z_in=2, s_w=[0.1, 0.2, 0.15], s_out=0.3,
                               z_out=0, w_range=7, filter_dtype="int4", version=10)

    # ---- Prepare failures -----------------------------------------------------------------------
    cases["error_conv_without_bias"] = _conv(61, [1, 4, 4, 2], (2, 3, 3, 2), s_in=0.1, z_in=0,
                                             s_w=[0.1, 0.1], s_out=0.2, z_out=0, with_bias=False)
    cases["error_conv_filter_zero_point"] = _conv(62, [1, 4, 4, 2], (2, 3, 3, 2), s_in=0.1,
                                                  z_in=0, s_w=[0.1, 0.1], s_out=0.2, z_out=0,
                                                  filter_zp=[0, 3])
    m = TinyModel()
    a = m.tensor("a", [1, 2, 2, 2], "int8", [0.1], [0])
    b = m.tensor("b", [1, 2, 2, 2], "int8", [0.2], [0])
    y = m.tensor("y", [1, 2, 2, 4], "int8", [0.1], [0])
    m.op("CONCATENATION", [a, b], [y], concat_options(3))
    m.inputs, m.outputs = [a, b], [y]
    cases["error_concat_qparams"] = Case(m.build(),
                                         (_i8(rng, (1, 2, 2, 2)), _i8(rng, (1, 2, 2, 2))))
    cases["error_fc_bias_scale"] = _fc(63, [1, 4], 2, s_in=0.5, z_in=0, s_w=[0.5], s_out=0.01,
                                       z_out=0, bias_scale=[0.3])
    return cases


def build_chain(seed: int) -> Case:
    """QUANTIZE -> CONV -> DW -> ADD (residual) -> MAX_POOL -> AVG_POOL -> RESHAPE -> FC ->
    DEQUANTIZE and ARG_MAX, float input of batch 2."""
    rng = _rng(seed)
    m = TinyModel()
    xf = m.tensor("input", [2, 8, 8, 3], "float32")
    xq = m.tensor("input_q", [2, 8, 8, 3], "int8", [0.02], [-1])
    m.op("QUANTIZE", [xf], [xq], quantize_options())
    s1 = [0.004, 0.006, 0.005, 0.007, 0.003, 0.008]
    w1 = m.tensor("conv/w", [6, 3, 3, 3], "int8", s1, [0] * 6, 0,
                  rng.integers(-127, 128, (6, 3, 3, 3)))
    b1 = m.tensor("conv/b", [6], "int32", [0.02 * s for s in s1], [0] * 6, 0,
                  rng.integers(-400, 400, 6))
    h1 = m.tensor("conv/out", [2, 8, 8, 6], "int8", [0.05], [-128])
    m.op("CONV_2D", [xq, w1, b1], [h1], conv_options("SAME", act="RELU"))
    s2 = [0.01, 0.02, 0.015, 0.012, 0.018, 0.011]
    w2 = m.tensor("dw/w", [1, 3, 3, 6], "int8", s2, [0] * 6, 3,
                  rng.integers(-127, 128, (1, 3, 3, 6)))
    b2 = m.tensor("dw/b", [6], "int32", [0.05 * s for s in s2], [0] * 6, 0,
                  rng.integers(-300, 300, 6))
    h2 = m.tensor("dw/out", [2, 8, 8, 6], "int8", [0.06], [-5])
    m.op("DEPTHWISE_CONV_2D", [h1, w2, b2], [h2], depthwise_options("SAME", act="NONE"))
    h3 = m.tensor("add/out", [2, 8, 8, 6], "int8", [0.08], [-20])
    m.op("ADD", [h1, h2], [h3], add_options("RELU"))
    h4 = m.tensor("maxpool/out", [2, 4, 4, 6], "int8", [0.08], [-20])
    m.op("MAX_POOL_2D", [h3], [h4], pool_options((2, 2), (2, 2), "VALID"))
    h5 = m.tensor("avgpool/out", [2, 1, 1, 6], "int8", [0.08], [-20])
    m.op("AVERAGE_POOL_2D", [h4], [h5], pool_options((4, 4), (4, 4), "VALID"))
    h6 = m.tensor("flatten", [2, 6], "int8", [0.08], [-20])
    m.op("RESHAPE", [h5], [h6], reshape_options([2, 6]))
    s3 = [0.01, 0.013, 0.009, 0.02, 0.011]
    w3 = m.tensor("fc/w", [5, 6], "int8", s3, [0] * 5, 0, rng.integers(-127, 128, (5, 6)))
    b3 = m.tensor("fc/b", [5], "int32", [0.08 * s for s in s3], [0] * 5, 0,
                  rng.integers(-300, 300, 5))
    h7 = m.tensor("logits_q", [2, 5], "int8", [0.1], [3])
    m.op("FULLY_CONNECTED", [h6, w3, b3], [h7], fc_options())
    out_f = m.tensor("logits", [2, 5], "float32")
    m.op("DEQUANTIZE", [h7], [out_f], dequantize_options())
    axis = m.tensor("argmax/axis", [1], "int32", data=np.array([1], np.int32))
    cls = m.tensor("class", [2], "int32")
    m.op("ARG_MAX", [h7, axis], [cls], argmax_options())
    m.inputs, m.outputs = [xf], [out_f, cls]
    m.add_metadata("min_runtime_version", b"2.3.0".ljust(16, b"\0"))
    x = rng.normal(0, 1, size=(2, 8, 8, 3)).astype(np.float32)
    return Case(m.build(), (x,))
