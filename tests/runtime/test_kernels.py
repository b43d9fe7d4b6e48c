"""Integer kernels on tiny inputs with hand-computed expected values."""
from __future__ import annotations

import numpy as np
import pytest

from catrt import CatrtError
from catrt.kernels.add import add
from catrt.kernels.arg_max import arg_max
from catrt.kernels.average_pool_2d import average_pool_2d
from catrt.kernels.common import PADDING_SAME, PADDING_VALID, compute_padding
from catrt.kernels.concatenation import concatenation
from catrt.kernels.conv_2d import conv_2d, conv_2d_accumulate
from catrt.kernels.depthwise_conv_2d import depthwise_conv_2d_accumulate
from catrt.kernels.dequantize import dequantize
from catrt.kernels.fully_connected import fully_connected, fully_connected_accumulate
from catrt.kernels.gather import gather
from catrt.kernels.max_pool_2d import max_pool_2d
from catrt.kernels.mul import mul
from catrt.kernels.pad import pad
from catrt.kernels.quantize import quantize_float, requantize_int
from catrt.kernels.reshape import resolve_shape

ONE = (1 << 30, 1)      # multiplier 1.0
HALF = (1 << 30, 0)     # multiplier 0.5


def i8(values):
    return np.asarray(values, dtype=np.int8)


def test_padding_rules():
    assert compute_padding(PADDING_SAME, 1, 1, 5, 3) == (5, 1)
    assert compute_padding(PADDING_SAME, 2, 1, 5, 3) == (3, 1)
    assert compute_padding(PADDING_SAME, 2, 1, 6, 3) == (3, 0)     # total 1: extra cell at the end
    assert compute_padding(PADDING_VALID, 2, 1, 7, 3) == (3, 0)
    assert compute_padding(PADDING_VALID, 1, 2, 7, 3) == (3, 0)    # dilated: effective size 5
    assert compute_padding(PADDING_SAME, 1, 2, 7, 3) == (7, 2)
    with pytest.raises(CatrtError):
        compute_padding(PADDING_VALID, 1, 1, 2, 3)
    with pytest.raises(CatrtError):
        compute_padding(7, 1, 1, 5, 3)


def test_conv_1x1_hand_values():
    x = i8([[[[1, 2]]]])                                     # NHWC 1x1x1x2, z_in = 0
    w = i8([[[[1, 1]]], [[[2, -1]]]])                        # OC=2, 1x1, IC=2
    bias = np.array([0, 10], np.int32)
    y = conv_2d(x, w, bias, input_zero_point=0, stride=(1, 1), dilation=(1, 1),
                padding=PADDING_VALID, multiplier=np.array([HALF[0]] * 2),
                shift=np.array([HALF[1]] * 2), output_zero_point=-1,
                activation_min=-128, activation_max=127, rounding="dr_away")
    # acc = [3, 10]; * 0.5 = [1.5 -> 2 (SRDHM rounds half up), 5]; + z_out
    assert y.reshape(-1).tolist() == [1, 4]


def test_conv_same_padding_counts_only_image_taps():
    # x - z_in == 1 everywhere, 3x3 ones filter: acc = number of in-image taps.
    x = np.full((1, 3, 3, 1), 6, np.int8)
    w = np.ones((1, 3, 3, 1), np.int8)
    acc = conv_2d_accumulate(x, w, None, input_zero_point=5, stride=(1, 1), dilation=(1, 1),
                             padding=PADDING_SAME)
    assert acc[0, :, :, 0].tolist() == [[4, 6, 4], [6, 9, 6], [4, 6, 4]]


def test_conv_grouped_uses_own_input_channels():
    x = i8([[[[1, 10]]]])
    w = i8([[[[2]]], [[[3]]]])          # groups = 2: oc0 reads ic0, oc1 reads ic1
    acc = conv_2d_accumulate(x, w, np.array([1, 1]), input_zero_point=0, stride=(1, 1),
                             dilation=(1, 1), padding=PADDING_VALID)
    assert acc.reshape(-1).tolist() == [3, 31]


def test_conv_dilation_and_stride():
    x = np.arange(25, dtype=np.int8).reshape(1, 5, 5, 1)
    w = np.ones((1, 2, 2, 1), np.int8)
    acc = conv_2d_accumulate(x, w, None, input_zero_point=0, stride=(2, 2), dilation=(2, 2),
                             padding=PADDING_VALID)
    # taps at (0,0),(0,2),(2,0),(2,2) offsets from each output origin (0,0),(0,2),(2,0),(2,2)
    assert acc[0, :, :, 0].tolist() == [[0 + 2 + 10 + 12, 2 + 4 + 12 + 14],
                                        [10 + 12 + 20 + 22, 12 + 14 + 22 + 24]]


def test_conv_relu6_clamp():
    x = i8([[[[100]]]])
    w = i8([[[[1]]]])
    y = conv_2d(x, w, np.array([0]), input_zero_point=0, stride=(1, 1), dilation=(1, 1),
                padding=PADDING_VALID, multiplier=np.array([ONE[0]]), shift=np.array([ONE[1]]),
                output_zero_point=0, activation_min=0, activation_max=60, rounding="dr_away")
    assert y.item() == 60


def test_depthwise_multiplier_channel_order():
    x = i8([[[[1, 2]]]])                                    # IC = 2
    w = i8([[[[1, 10, 100, 3]]]])                           # OC = 4, dm = 2: oc = ic*2 + m
    acc = depthwise_conv_2d_accumulate(x, w, np.array([0, 0, 0, 1]), input_zero_point=0,
                                       stride=(1, 1), dilation=(1, 1), padding=PADDING_VALID)
    assert acc.reshape(-1).tolist() == [1, 10, 200, 7]


def test_fully_connected_hand_values():
    x = i8([[1, 2, 3]])
    w = i8([[1, 1, 1], [1, -1, 2]])
    acc = fully_connected_accumulate(x, w, np.array([1, -1]), input_zero_point=1)
    assert acc.tolist() == [[4, 2]]                          # (x - 1) = [0, 1, 2]
    acc = fully_connected_accumulate(x, w, None, input_zero_point=1, weights_offset=1)
    assert acc.tolist() == [[6, 6]]                          # weights + 1 = [[2,2,2],[2,0,3]]


def test_fully_connected_requant_variants_differ_on_double_rounding():
    x = i8([[7]])
    w = i8([[1]])
    common = dict(input_zero_point=0, weights_offset=0, output_zero_point=0,
                  activation_min=-128, activation_max=127)
    # acc = 7, scale 1/16: exact 0.4375. Double rounding: SRDHM -> 4 (3.5 up), 4/8 = 0.5 -> 1.
    y_dr = fully_connected(x, w, None, requant="dr_away", multiplier=np.array([1 << 30]),
                           shift=np.array([-3]), **common)
    y_f64 = fully_connected(x, w, None, requant="float64_rha",
                            effective_scale=np.array([1 / 16]), **common)
    assert y_dr.item() == 1 and y_f64.item() == 0


def test_add_hand_values():
    # s1 = s2 = 0.5, s_out = 1: M1 = M2 = (2^30, 0), Mo = (2^30, -19), left shift 20.
    kw = dict(input1_zero_point=0, input2_zero_point=0, left_shift=20,
              input1_multiplier=1 << 30, input1_shift=0, input2_multiplier=1 << 30, input2_shift=0,
              output_multiplier=1 << 30, output_shift=-19, output_zero_point=0,
              activation_min=-128, activation_max=127)
    a = i8([3, -3, 3, 1])
    b = i8([0, 0, 1, 0])
    # 1.5 -> 2, -1.5 -> -2 (away from zero), 2.0 -> 2, 0.5 -> 1
    assert add(a, b, **kw).tolist() == [2, -2, 2, 1]


def test_mul_hand_values():
    # s1 = s2 = 0.5, s_out = 1 -> m = 0.25 = (2^30, -1); 3 * 2 * 0.25 = 1.5 -> 2; -1.5 -> -2
    kw = dict(input1_zero_point=0, input2_zero_point=0, multiplier=1 << 30, shift=-1,
              output_zero_point=0, activation_min=-128, activation_max=127, rounding="dr_away")
    assert mul(i8([3, -3, 1]), i8([2, 2, 1]), **kw).tolist() == [2, -2, 1]


def test_average_pool_rounding_and_padding():
    x = i8([[1, 2], [3, 5]]).reshape(1, 2, 2, 1)
    kw = dict(filter_size=(2, 2), stride=(2, 2), padding=PADDING_VALID, activation_min=-128,
              activation_max=127)
    assert average_pool_2d(x, **kw).item() == 3                  # 11/4 = 2.75 -> 3
    assert average_pool_2d(-x, **kw).item() == -3                # (-11 - 2) / 4 -> -3
    assert average_pool_2d(i8([-1, -1, -1, -3]).reshape(1, 2, 2, 1), **kw).item() == -2  # -1.5
    assert average_pool_2d(i8([1, 1, 1, 3]).reshape(1, 2, 2, 1), **kw).item() == 2       # 1.5
    # SAME 3x3 on 2x2: every window sees the 4 real cells only (n = 4, not 9)
    same = average_pool_2d(x, filter_size=(3, 3), stride=(1, 1), padding=PADDING_SAME,
                           activation_min=-128, activation_max=127)
    assert same.reshape(-1).tolist() == [3, 3, 3, 3]


def test_max_pool_ignores_padding_and_clamps():
    x = np.full((1, 2, 2, 1), -100, np.int8)
    y = max_pool_2d(x, filter_size=(3, 3), stride=(1, 1), padding=PADDING_SAME,
                    activation_min=-128, activation_max=127)
    assert y.reshape(-1).tolist() == [-100] * 4
    x = i8([[1, 9], [3, 5]]).reshape(1, 2, 2, 1)
    y = max_pool_2d(x, filter_size=(2, 2), stride=(2, 2), padding=PADDING_VALID,
                    activation_min=0, activation_max=6)
    assert y.item() == 6


def test_quantize_float_reference_formula():
    x = np.array([0.125, -0.125, 0.375, 100.0, np.inf, -np.inf, np.nan], np.float32)
    y = quantize_float(x, scale=0.25, zero_point=0)
    # ties away from zero; +inf/NaN become INT32_MIN on x86 before adding z (-> -128)
    assert y.tolist() == [1, -1, 2, 127, -128, -128, -128]
    y = quantize_float(np.array([np.inf, np.nan], np.float32), scale=0.25, zero_point=-1)
    assert y.tolist() == [127, 127]                              # INT32_MIN - 1 wraps


def test_quantize_float_uses_float32_division():
    # -4.85f / 0.1f is exactly -48.5 in float32 (-> -49) but -48.4999983 in double (-> -48)
    x = np.array([-4.85], np.float32)
    assert float(x[0]) / float(np.float32(0.1)) > -48.5
    assert quantize_float(x, scale=0.1, zero_point=0).item() == -49


def test_requantize_int():
    y = requantize_int(i8([-2, 2, 5]), input_zero_point=0, multiplier=1 << 30, shift=-1,
                       output_zero_point=3, rounding="dr_away")
    # -0.5 -> -1, 0.5 -> 1; 1.25 -> 2 by double rounding (SRDHM gives 3, then 3/2 -> 2)
    assert y.tolist() == [3 - 1, 3 + 1, 3 + 2]


def test_dequantize_per_tensor_and_per_channel():
    y = dequantize(i8([3, -1]), scale=[0.1], zero_point=[1])
    assert y.dtype == np.float32 and y.tolist() == [np.float32(0.1) * 2, np.float32(0.1) * -2]
    y = dequantize(i8([[1, 1], [2, 2]]), scale=[0.5, 0.25], zero_point=[0, 1], axis=1)
    assert y.tolist() == [[0.5, 0.0], [1.0, 0.25]]


def test_data_movement():
    assert resolve_shape((-1, 4), 12) == (3, 4)
    for bad in ((-1, -1), (5,), (-1, 5)):
        with pytest.raises(CatrtError):
            resolve_shape(bad, 12)
    x = i8([[1, 2]])
    assert pad(x, np.array([[1, 0], [0, 2]]), -7).tolist() == [[-7, -7, -7, -7], [1, 2, -7, -7]]
    with pytest.raises(CatrtError):
        pad(x, np.array([[-1, 0], [0, 0]]), 0)
    assert concatenation([x, i8([[3]])], 1).tolist() == [[1, 2, 3]]
    table = i8([[1, 2], [3, 4], [5, 6]])
    assert gather(table, np.array([2, 0]), axis=0, batch_dims=0).tolist() == [[5, 6], [1, 2]]
    batched = np.arange(12, dtype=np.int8).reshape(2, 3, 2)
    got = gather(batched, np.array([[2], [0]]), axis=1, batch_dims=1)
    assert got.tolist() == [[[4, 5]], [[6, 7]]]
    with pytest.raises(CatrtError):
        gather(table, np.array([3]), axis=0, batch_dims=0)


def test_arg_max_first_index_on_ties():
    x = i8([[1, 5, 5, 2], [-3, -3, -3, -3]])
    assert arg_max(x, 1).tolist() == [1, 0]
    assert arg_max(x, 1, np.int64).dtype == np.int64
