"""Kernel-level checks of the optimized / XNNPACK / aarch64 variants, with values worked out by
hand from the C sources named in each kernel's docstring (the golden and emulation tests check
them against the real wheels)."""
from __future__ import annotations

import numpy as np

from catrt import xnnpack
from catrt.kernels.depthwise_conv_2d_arm3x3 import fast_3x3_supported, requantize_3x3
from catrt.kernels.quantize_optimized import convert_xnnpack, quantize_float_neon, requantize_neon
from catrt.kernels.requantize_optimized import requantize_channel_split


def test_arm_3x3_depthwise_shifts_left_after_the_multiply():
    # sqrshl(sqrdmulh(1, 0.624 * 2^31), +1) = 1 << 1 = 2, where the other kernels give
    # SRDHM(1 << 1, M) = round(1.248) = 1 (found under qemu on an MBV2 W2A2 export).
    m = np.array([1340701601, 1340701601], np.int64)
    shift = np.array([1, -1], np.int64)
    y = requantize_3x3(np.array([[1, 3]], np.int64), m, shift, 124, -128, 127)
    assert y.tolist() == [[126, 125]]       # [1 -> 2 + 124, round_half_up(SRDHM(3, M) = 2 / 2) = 1 + 124]
    assert requantize_3x3(np.array([[1 << 30]]), np.array([1 << 30]), np.array([3]), 0, -128, 127)[0, 0] == 127


def test_arm_3x3_kernel_choice():
    assert fast_3x3_supported((1, 16, 16, 32), (1, 3, 3, 32), (1, 16, 16, 32), (1, 1), (1, 1), 0)
    assert fast_3x3_supported((1, 17, 17, 32), (1, 3, 3, 32), (1, 8, 8, 32), (2, 2), (1, 1), 1)   # VALID
    # stride 2 SAME on an even size pads only after (pad_before 0): the last window overhangs
    assert not fast_3x3_supported((1, 16, 16, 32), (1, 3, 3, 32), (1, 8, 8, 32), (2, 2), (1, 1), 0)
    assert not fast_3x3_supported((1, 16, 16, 12), (1, 3, 3, 12), (1, 16, 16, 12), (1, 1), (1, 1), 0)
    assert not fast_3x3_supported((1, 16, 16, 32), (1, 5, 5, 32), (1, 16, 16, 32), (1, 1), (1, 1), 0)
    assert not fast_3x3_supported((1, 16, 16, 16), (1, 3, 3, 32), (1, 16, 16, 32), (1, 1), (1, 1), 0)
    assert not fast_3x3_supported((1, 16, 16, 32), (1, 3, 3, 32), (1, 16, 16, 32), (1, 1), (2, 2), 0)


def test_neon_channel_split_rounds_vector_channels_up():
    m = np.full(10, 1 << 30, np.int64)                   # M = 2^30 (0.5), shift -1: m = 0.25
    shift = np.full(10, -1, np.int64)
    acc = np.full((1, 10), -3, np.int64)                 # SRDHM(-3, 2^30) = -1, then -1 / 2 = -0.5
    y = requantize_channel_split(acc, m, shift, 0, -128, 127, "dr_away", 8)
    assert y[0, :8].tolist() == [0] * 8 and y[0, 8:].tolist() == [-1, -1]   # ties up / away
    acc = np.full((1, 10), -5, np.int64)                 # SRDHM = -2, then -1 exactly
    y = requantize_channel_split(acc, m, shift, 0, -128, 127, "dr_away", 8)
    assert y.tolist() == [[-1] * 10]


def test_neon_flat_splits():
    x = np.full((1, 20), -2, np.int8)                   # (x - 0) * 0.25 = -0.5: ties
    y = requantize_neon(x, input_zero_point=0, multiplier=1 << 30, shift=-1, output_zero_point=0,
                        rounding="dr_away")
    assert y[0, :16].tolist() == [0] * 16 and y[0, 16:].tolist() == [-1] * 4
    f = np.full((1, 10), 2.5, np.float32)
    q = quantize_float_neon(f, scale=1.0, zero_point=0)
    assert q[0, :8].tolist() == [2] * 8 and q[0, 8:].tolist() == [3, 3]   # half even / half away


def test_xnnpack_convert_and_add_parameters():
    assert xnnpack.convert_multiplier(0.03, 0.1) == 77                   # lrintf(256 * 0.3)
    y = convert_xnnpack(np.array([10, -10], np.int8), input_zero_point=0, multiplier=77, output_zero_point=0)
    assert y.tolist() == [3, -3]                                          # floor((+-770 + 128) / 256)
    assert xnnpack.convert_supported(1.0, 128.0) and not xnnpack.convert_supported(1.0, 300.0)
    a_mult, b_mult, bias, shift = xnnpack.add_parameters(0.5, 0, 0.25, 0, 1.0)
    assert (a_mult, b_mult, shift) == (1 << 20, 1 << 19, 21) and bias == 1 << 20
    assert xnnpack.activation_range(3, 12.0, 0) == (0, 0)                 # lrintf(0.5) = 0 (TFLite: 1)


def test_five_fold_shape_follows_process_broadcast_shapes():
    from catrt.kernels.add_optimized import five_fold_shape

    # the header's own example: ..., 1, 3, 1, 7, 9, 5 against ..., 2, 3, 1, 7, 1, 1
    assert five_fold_shape((1, 3, 1, 7, 9, 5), (2, 3, 1, 7, 1, 1)) == ("five-fold", (1, 2, 21, 45, 1))
    assert five_fold_shape((2, 4, 4, 24), (2, 1, 1, 24)) == ("five-fold", (1, 1, 2, 16, 24))   # SE gate
    assert five_fold_shape((1, 1, 1, 40), (1,)) == ("five-fold", (1, 1, 1, 40, 1))           # constant
    assert five_fold_shape((2, 3, 4, 1), (2, 1, 4, 12)) == ("five-fold", (2, 3, 4, 12, 1))
    assert five_fold_shape((1, 8), (8,)) == ("elementwise", None)
    assert five_fold_shape((2, 1, 3, 1), (1, 2, 1, 3)) == ("generic", None)


def test_broadcast_add_routes_vector_lanes_to_the_scalar_broadcast_formula():
    """With a left shift of 0 the NEON scalar-broadcast rescale (SRDHM, then a floor shift) and
    the reference one (SRDHM, then RoundingDivideByPOT) differ on ordinary values: the differences
    fall exactly in the 8-lane blocks of each y3 run, never in its tail."""
    from catrt.kernels.add import add
    from catrt.kernels.add_optimized import add_neon_broadcast

    params = dict(input1_zero_point=0, input2_zero_point=0, left_shift=0, input1_multiplier=1 << 30,
                  input1_shift=-1, input2_multiplier=1 << 30, input2_shift=-1, output_multiplier=1 << 30,
                  output_shift=0, output_zero_point=0, activation_min=-128, activation_max=127)
    a = np.arange(-60, 60, dtype=np.int8).reshape(2, 1, 1, 60)      # y3 = 60 per run of b's element
    b = np.full((2, 1, 1, 1), 3, dtype=np.int8)
    differs = (add_neon_broadcast(a, b, **params) != add(a, b, **params)).reshape(2, 60)
    assert differs[:, :56].any() and not differs[:, 56:].any()
