"""The table lookups of LOGISTIC, HARD_SWISH, MUL and ADD (kernels.lookup: tables ordered by the int8
code's bit pattern, indexed by a uint8 / uint16 view) against the straightforward formulas, on
every int8 input (every pair for MUL), several scale settings and the profiles that change the
arithmetic (reference, XNNPACK x86 / Arm, the aarch64 HARD_SWISH vector loop): exact equality."""
from __future__ import annotations

import numpy as np
import pytest

from catrt import xnnpack
from catrt.fixed_point import round_half_away
from catrt.kernels.add import add
from catrt.kernels.add_optimized import add_xnnpack
from catrt.kernels.hard_swish import hard_swish
from catrt.kernels.logistic import expf
from catrt.kernels.lookup import INT8_CODES, lookup, lookup_pairs, pairs_of_codes
from catrt.kernels.mul import mul
from catrt.ops import add as add_op
from catrt.ops import hard_swish as hard_swish_op
from catrt.ops import logistic as logistic_op
from catrt.ops import mul as mul_op
from catrt.profiles import get_profile
from catrt.reader import read_model

from ._tiny_models import TinyModel, add_options, mul_options

EVERY = np.arange(-128, 128, dtype=np.int64).astype(np.int8)


def shuffled_codes(shape, seed=0):
    """Every int8 value at least once, in random order, reshaped to `shape`."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    x = np.concatenate([EVERY, rng.integers(-128, 128, max(0, size - 256), dtype=np.int8)])[:size]
    return rng.permutation(x).reshape(shape)


def one_op(kind, inputs, out, options=None):
    """(operator, tensors) of a one-op model: inputs [(shape, scale, zero point)], out likewise."""
    m = TinyModel()
    ids = [m.tensor(f"x{i}", shape, scale=[s], zero_point=[z]) for i, (shape, s, z) in enumerate(inputs)]
    shape, s, z = out
    y = m.tensor("y", shape, scale=[s], zero_point=[z])
    m.op(kind, ids, [y], options)
    m.inputs, m.outputs = ids, [y]
    model = read_model(m.build())
    return model.operators[0], model.tensors


def test_codes_are_in_bit_pattern_order():
    assert np.array_equal(INT8_CODES.view(np.uint8), np.arange(256))
    x = shuffled_codes((5, 7, 11))
    assert np.array_equal(lookup(INT8_CODES, x), x)
    a, b = pairs_of_codes()
    pair_index = (a.view(np.uint8).astype(np.int64) << 8) | b.view(np.uint8)
    assert np.array_equal(pair_index, np.arange(65536))
    table = np.arange(65536).astype(np.int16)  # the pair's own index, to check lookup_pairs
    y = shuffled_codes((5, 1, 11), seed=1)
    want = (x.view(np.uint8).astype(np.int64) << 8) | y.view(np.uint8)
    assert np.array_equal(lookup_pairs(table, x, y), want.astype(np.int16))
    assert np.array_equal(lookup_pairs(table, y, x), ((y.view(np.uint8).astype(np.int64) << 8)
                                                      | x.view(np.uint8)).astype(np.int16))


# ---- LOGISTIC ----------------------------------------------------------------------------------

def logistic_in_tflite_order(s_in, z_in, s_out, z_out):
    """LUTPopulateInt8's table as TFLite lays it out (index x + 128), float32 as there."""
    codes = np.arange(-128, 128, dtype=np.int64)
    inverse = np.float32(np.float32(1.0) / np.float32(s_out))
    with np.errstate(over="ignore"):
        v = np.float32(s_in) * (codes - int(z_in)).astype(np.float32)
        sigma = np.float32(1.0) / (np.float32(1.0) + expf(-v))
        rescaled = round_half_away(sigma * inverse)
    return np.clip(rescaled + float(np.float32(z_out)), -128, 127).astype(np.int8)


def xnnpack_logistic_in_order(s_in, z_in, s_out, z_out):
    """XNNPACK's reference sigmoid table (index x + 128)."""
    codes = np.arange(-128, 128, dtype=np.float32)
    inverse = np.float32(np.float32(1.0) / np.float32(s_out))
    v = (codes - np.float32(z_in)) * np.float32(s_in)
    with np.errstate(over="ignore"):
        e = np.exp(v.astype(np.float64))
        sigma = (e / (1.0 + e)).astype(np.float32)
    sigma = np.where(v > 100, np.float32(1), np.where(v < -100, np.float32(0), sigma)).astype(np.float32)
    shifted = (sigma * inverse).astype(np.float32) + np.float32(z_out)
    return np.clip(round_half_away(shifted.astype(np.float32)), -128, 127).astype(np.int8)


@pytest.mark.parametrize("s_in, z_in", [(0.05, 0), (0.0123, -17), (0.31, 90), (1e-4, -128)])
@pytest.mark.parametrize("profile", ["ref-tflite214", "builtin-tf219-x86", "builtin-litert21-arm64"])
def test_logistic_lookup_equals_formula(s_in, z_in, profile):
    shape = (3, 9, 10, 4)
    op, tensors = one_op("LOGISTIC", [(shape, s_in, z_in)], (shape, 1.0 / 256.0, -128))
    params = logistic_op.prepare(op, tensors, get_profile(profile))
    build = xnnpack_logistic_in_order if get_profile(profile).xnnpack else logistic_in_tflite_order
    table = build(s_in, z_in, 1.0 / 256.0, -128)
    x = shuffled_codes(shape)
    assert np.array_equal(logistic_op.evaluate(params, [x]), table[x.astype(np.int64) + 128])
    strided = x[:, ::2, 1:]   # a view that is not contiguous
    assert np.array_equal(logistic_op.evaluate(params, [strided]), table[strided.astype(np.int64) + 128])


# ---- HARD_SWISH --------------------------------------------------------------------------------

HARD_SWISH_SCALES = [(0.02, 0, 0.02, 0), (0.1, -20, 0.05, -100), (0.0371, 77, 0.5, 3),
                     (0.25, -128, 0.9, 127), (0.003, 5, 0.0041, -9)]


@pytest.mark.parametrize("s_in, z_in, s_out, z_out", HARD_SWISH_SCALES)
@pytest.mark.parametrize("profile", ["ref-tflite214", "nodelegate-tflite214-arm64"])
@pytest.mark.parametrize("shape", [(2, 7, 5, 13), (1, 1, 1, 259)])
def test_hard_swish_lookup_equals_kernel(s_in, z_in, s_out, z_out, profile, shape):
    op, tensors = one_op("HARD_SWISH", [(shape, s_in, z_in)], (shape, s_out, z_out))
    params = hard_swish_op.prepare(op, tensors, get_profile(profile))
    x = shuffled_codes(shape)
    steps = dict(input_zero_point=params.input_zero_point, output_zero_point=params.output_zero_point,
                 output_multiplier=params.output_multiplier, output_exponent=params.output_exponent,
                 reluish_multiplier=params.reluish_multiplier, reluish_exponent=params.reluish_exponent)
    want = hard_swish(x, **steps).reshape(-1)
    block = get_profile(profile).hard_swish_neon_block
    if block:  # the vector loop takes the leading multiple of `block` elements
        vector = x.size // block * block
        want[:vector] = hard_swish(x.reshape(-1)[:vector], neon=True, **steps)
    assert np.array_equal(hard_swish_op.evaluate(params, [x]), want.reshape(shape))


# ---- MUL ---------------------------------------------------------------------------------------

MUL_SCALES = [((0.05, 3), (0.05, 3), (0.01, -5), "NONE"), ((0.5, -128), (1 / 256, -128), (0.3, 10), "NONE"),
              ((0.013, 40), (0.2, -7), (0.9, -128), "RELU6"), ((2.0, 0), (3.0, 0), (0.001, 0), "RELU")]
MUL_PROFILES = ["ref-tflite214", "ref-tf219", "builtin-tf219-x86", "builtin-litert21-arm64",
                "nodelegate-tflite214-arm64"]


def mul_formula(params, a, b):
    """The element-by-element arithmetic of the profile (reference_integer_ops::Mul or XNNPACK's
    qs8 vmul requantization), in int64."""
    if params.algorithm == "ref":
        return mul(a, b, input1_zero_point=params.input1_zero_point,
                   input2_zero_point=params.input2_zero_point, multiplier=params.multiplier,
                   shift=params.shift, output_zero_point=params.output_zero_point,
                   activation_min=params.activation_min, activation_max=params.activation_max,
                   rounding=params.rounding)
    product = ((a.astype(np.int64) - params.input1_zero_point)
               * (b.astype(np.int64) - params.input2_zero_point))
    kernel = xnnpack.requantize_fp32 if params.algorithm == "xnnpack_fp32" else xnnpack.requantize_rndnu
    return kernel(product, params.xnnpack_scale, params.output_zero_point, params.activation_min,
                  params.activation_max)


@pytest.mark.parametrize("qa, qb, qout, act", MUL_SCALES)
@pytest.mark.parametrize("profile", MUL_PROFILES)
def test_mul_lookup_equals_formula_on_every_pair(qa, qb, qout, act, profile):
    shape = (65536,)
    op, tensors = one_op("MUL", [(shape, *qa), (shape, *qb)], (shape, *qout), mul_options(act))
    params = mul_op.prepare(op, tensors, get_profile(profile))
    a = np.repeat(EVERY, 256)
    b = np.tile(EVERY, 256)
    order = np.random.default_rng(3).permutation(65536)
    a, b = a[order], b[order]
    assert np.array_equal(mul_op.evaluate(params, [a, b]), mul_formula(params, a, b))


@pytest.mark.parametrize("shapes", [((4, 6, 6, 16), (4, 1, 1, 16)), ((4, 1, 1, 16), (4, 6, 6, 16)),
                                    ((2, 5, 7, 3), (3,)), ((1,), (2, 3, 4, 5)), ((2, 3, 4, 5), (2, 3, 4, 5))])
@pytest.mark.parametrize("profile", ["ref-tflite214", "builtin-tf219-x86"])
def test_mul_lookup_broadcasts_as_numpy(shapes, profile):
    out_shape = np.broadcast_shapes(*shapes)
    (qa, qb, qout, act) = MUL_SCALES[2]
    op, tensors = one_op("MUL", [(shapes[0], *qa), (shapes[1], *qb)], (out_shape, *qout), mul_options(act))
    params = mul_op.prepare(op, tensors, get_profile(profile))
    a, b = shuffled_codes(shapes[0], seed=4), shuffled_codes(shapes[1], seed=5)
    got = mul_op.evaluate(params, [a, b])
    assert got.shape == out_shape and got.dtype == np.int8
    assert np.array_equal(got, mul_formula(params, a, b))


# ---- ADD ---------------------------------------------------------------------------------------

ADD_SCALES = [((0.05, 3), (0.05, 3), (0.1, -5), "NONE"), ((0.5, -128), (0.0123, 17), (0.3, 10), "NONE"),
              ((0.013, 40), (0.2, -7), (0.09, -128), "RELU6"), ((0.02, 0), (0.03, 0), (0.001, 0), "RELU")]


def add_formula(params, a, b):
    """reference_integer_ops::Add or XNNPACK's qs8 vadd, element by element in int64."""
    if params.algorithm == "xnnpack":
        a_mult, b_mult, bias, shift, lo, hi = params.xnnpack_params
        return add_xnnpack(a, b, a_multiplier=a_mult, b_multiplier=b_mult, bias=bias, shift=shift,
                           output_zero_point=params.output_zero_point, activation_min=lo, activation_max=hi)
    return add(a, b, input1_zero_point=params.input1_zero_point, input2_zero_point=params.input2_zero_point,
               left_shift=params.left_shift, input1_multiplier=params.input1_multiplier,
               input1_shift=params.input1_shift, input2_multiplier=params.input2_multiplier,
               input2_shift=params.input2_shift, output_multiplier=params.output_multiplier,
               output_shift=params.output_shift, output_zero_point=params.output_zero_point,
               activation_min=params.activation_min, activation_max=params.activation_max)


@pytest.mark.parametrize("qa, qb, qout, act", ADD_SCALES)
@pytest.mark.parametrize("profile", ["ref-tflite214", "ref-litert21", "builtin-tf219-x86",
                                     "builtin-litert21-arm64"])
def test_add_lookup_equals_formula_on_every_pair(qa, qb, qout, act, profile):
    shape = (65536,)
    op, tensors = one_op("ADD", [(shape, *qa), (shape, *qb)], (shape, *qout), add_options(act))
    params = add_op.prepare(op, tensors, get_profile(profile))
    assert params.table is not None
    order = np.random.default_rng(6).permutation(65536)
    a, b = np.repeat(EVERY, 256)[order], np.tile(EVERY, 256)[order]
    assert np.array_equal(add_op.evaluate(params, [a, b]), add_formula(params, a, b))


@pytest.mark.parametrize("shapes", [((4, 6, 6, 16), (4, 1, 1, 16)), ((1, 1, 1, 16), (4, 6, 6, 16)),
                                    ((2, 3, 4, 5), (2, 3, 4, 5))])
def test_add_lookup_broadcasts_as_numpy(shapes):
    out_shape = np.broadcast_shapes(*shapes)
    qa, qb, qout, act = ADD_SCALES[1]
    op, tensors = one_op("ADD", [(shapes[0], *qa), (shapes[1], *qb)], (out_shape, *qout), add_options(act))
    params = add_op.prepare(op, tensors, get_profile("ref-tflite214"))
    a, b = shuffled_codes(shapes[0], seed=7), shuffled_codes(shapes[1], seed=8)
    got = add_op.evaluate(params, [a, b])
    assert got.shape == out_shape and np.array_equal(got, add_formula(params, a, b))


def test_add_neon_keeps_its_own_path():
    shape = (2, 3, 4, 5)
    qa, qb, qout, act = ADD_SCALES[0]
    op, tensors = one_op("ADD", [(shape, *qa), (shape, *qb)], (shape, *qout), add_options(act))
    assert add_op.prepare(op, tensors, get_profile("nodelegate-tf219-x86")).table is None
