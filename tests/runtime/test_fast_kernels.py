"""The fast exact paths of the weighted kernels (float32 / int16 sums, float64 + int32
requantization, cache-sized blocks) against the plain int64 formulas, on random shapes and on the
cases that decide exactness: rounding ties, large shifts, wide and narrow input ranges."""
from __future__ import annotations

import numpy as np
import pytest

from catrt.errors import CatrtError
from catrt.fixed_point import quantize_multiplier
from catrt.kernels import common
from catrt.kernels.average_pool_2d import average_pool_2d
from catrt.kernels.common import (PADDING_SAME, compute_padding, float_requantizer, requantize,
                                  requantize_int64)
from catrt.kernels.conv_2d import conv_2d, conv_2d_accumulate
from catrt.kernels.depthwise_conv_2d import depthwise_conv_2d, depthwise_conv_2d_accumulate
from catrt.kernels.fully_connected import fully_connected

ROUNDINGS = ("dr_away", "dr_up", "sr_up")


def multipliers(rng, channels, low=1e-7, high=4.0):
    pairs = [quantize_multiplier(v) for v in np.exp(rng.uniform(np.log(low), np.log(high), channels))]
    return np.array([m for m, _ in pairs], np.int64), np.array([s for _, s in pairs], np.int64)


def offset_padded(x, zero_point, pad):
    """x - z as int64 with `pad` zero cells on every side of H and W."""
    return np.pad(x.astype(np.int64) - zero_point, [(0, 0), (pad, pad), (pad, pad), (0, 0)])


def naive_conv(x, filters, bias, z_in, stride, dilation, padding):
    """acc[n, y, x, oc] straight from the definition (reference conv.h), one tap at a time."""
    n, h, w, c = x.shape
    oc, kh, kw, icf = filters.shape
    groups = c // icf
    out_h, pad_top = compute_padding(padding, stride[0], dilation[0], h, kh)
    out_w, pad_left = compute_padding(padding, stride[1], dilation[1], w, kw)
    margin = max(kh, kw) * max(dilation) + max(h, w) * max(stride)
    xp = offset_padded(x, z_in, margin)
    acc = np.zeros((n, out_h, out_w, oc), np.int64)
    for o in range(oc):
        g = o // (oc // groups)
        for ky in range(kh):
            for kx in range(kw):
                r0 = margin - pad_top + ky * dilation[0]
                c0 = margin - pad_left + kx * dilation[1]
                tap = xp[:, r0:r0 + (out_h - 1) * stride[0] + 1:stride[0],
                         c0:c0 + (out_w - 1) * stride[1] + 1:stride[1], g * icf:(g + 1) * icf]
                acc[..., o] += tap @ filters[o, ky, kx].astype(np.int64)
    return acc + (0 if bias is None else np.asarray(bias, np.int64))


def naive_depthwise(x, filters, bias, z_in, stride, dilation, padding):
    n, h, w, c = x.shape
    _, kh, kw, oc = filters.shape
    dm = oc // c
    out_h, pad_top = compute_padding(padding, stride[0], dilation[0], h, kh)
    out_w, pad_left = compute_padding(padding, stride[1], dilation[1], w, kw)
    margin = max(kh, kw) * max(dilation) + max(h, w) * max(stride)
    xp = np.repeat(offset_padded(x, z_in, margin), dm, axis=3)
    acc = np.zeros((n, out_h, out_w, oc), np.int64)
    for ky in range(kh):
        for kx in range(kw):
            r0 = margin - pad_top + ky * dilation[0]
            c0 = margin - pad_left + kx * dilation[1]
            acc += xp[:, r0:r0 + (out_h - 1) * stride[0] + 1:stride[0],
                      c0:c0 + (out_w - 1) * stride[1] + 1:stride[1]] * filters[0, ky, kx].astype(np.int64)
    return acc + (0 if bias is None else np.asarray(bias, np.int64))


def random_input(rng, shape, zero_point, narrow):
    """int8 values over the whole range, or 16 codes around the zero point (4-bit activations)."""
    if narrow:
        low = int(np.clip(zero_point - int(rng.integers(0, 16)), -128, 112))
        return rng.integers(low, low + 16, shape).astype(np.int8)
    return rng.integers(-128, 128, shape).astype(np.int8)


# -- requantization -------------------------------------------------------------------------------

@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_float_requantizer_equals_int64_formula(rounding):
    rng = np.random.default_rng(0)
    used = 0
    for _ in range(400):
        channels = int(rng.integers(1, 9))
        if rng.random() < 0.4:   # exact powers of two and halves: many rounding ties
            scales = 2.0 ** rng.integers(-24, 3, channels) * rng.choice([1.0, 1.5, 0.75], channels)
            pairs = [quantize_multiplier(v) for v in scales]
            m = np.array([p[0] for p in pairs]); s = np.array([p[1] for p in pairs])
        else:
            m, s = multipliers(rng, channels, 1e-9, 8.0)
        bound = float(2 ** int(rng.integers(0, 31)))
        acc = rng.integers(-int(bound), int(bound) + 1, (int(rng.integers(1, 200)), channels))
        z = int(rng.integers(-128, 128))
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        want = requantize_int64(acc, m, s, z, lo, hi, rounding)
        used += float_requantizer(m, s, rounding, z, lo, hi, bound) is not None
        assert np.array_equal(requantize(acc.astype(np.float64), m, s, z, lo, hi, rounding, bound=bound), want)
        assert np.array_equal(requantize(acc, m, s, z, lo, hi, rounding), want)
    assert used > 100   # the fast path is the common case


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("exponent", [-2, 0, 1, 7, 15, 23])
def test_float_requantizer_every_accumulator_near_ties(rounding, exponent):
    acc = np.arange(-70000, 70001, dtype=np.int64).reshape(-1, 1)
    for fraction in (1.0, 1.5, 0.75, 1.25):
        m, s = quantize_multiplier(fraction * 2.0 ** -exponent)
        for z in (-128, 0, 37, 127):
            want = requantize_int64(acc, m, s, z, -128, 127, rounding)
            assert np.array_equal(requantize(acc.astype(np.float64), m, s, z, -128, 127, rounding,
                                             bound=70000), want)


def test_float_requantizer_refuses_what_it_cannot_prove():
    m, s = quantize_multiplier(0.01)
    assert float_requantizer(m, s, "dr_away", 0, -128, 127, 1e6) is not None
    assert float_requantizer(m, s, "dr_away", 0, -128, 127, 2.0 ** 31) is None   # int32 wrap
    assert float_requantizer(m, 3, "dr_away", 0, -128, 127, 2.0 ** 29) is None   # left shift wraps
    assert float_requantizer(m, -40, "dr_away", 0, -128, 127, 10) is None        # invalid shift
    assert float_requantizer(m, -25, "sr_up", 0, -128, 127, 10) is None          # 31 - shift > 51
    assert float_requantizer(m, s, "float64_rha", 0, -128, 127, 10) is None
    with pytest.raises(CatrtError):   # the int64 formula still raises on an invalid shift
        requantize(np.ones((2, 1)), m, -40, 0, -128, 127, "dr_away")


def test_requantize_mixed_zero_and_positive_right_shifts():
    """dr_away's sign term applies only to channels that shift right."""
    m = np.array([quantize_multiplier(0.75)[0], quantize_multiplier(0.01)[0]])
    s = np.array([quantize_multiplier(0.75)[1], quantize_multiplier(0.01)[1]])
    assert s[0] == 0 and s[1] < 0
    acc = np.arange(-5000, 5000).reshape(-1, 2)
    for rounding in ("dr_away", "dr_up"):
        want = requantize_int64(acc, m, s, 3, -128, 127, rounding)
        assert np.array_equal(requantize(acc, m, s, 3, -128, 127, rounding), want)


# -- conv, depthwise, fully connected ------------------------------------------------------------

def conv_case(rng, narrow):
    groups = int(rng.choice([1, 1, 1, 2, 3]))
    icf = int(rng.integers(1, 6))
    c, oc = icf * groups, groups * int(rng.integers(1, 6))
    n, h, w = int(rng.integers(1, 4)), int(rng.integers(1, 11)), int(rng.integers(1, 11))
    kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    padding = int(rng.integers(0, 2))
    z_in = int(rng.integers(-128, 128))
    wmax = 2 ** (int(rng.choice([2, 4, 8])) - 1)
    x = random_input(rng, (n, h, w, c), z_in, narrow)
    filters = rng.integers(-wmax, wmax, (oc, kh, kw, icf)).astype(np.int8)
    bias = rng.integers(-2 ** 20, 2 ** 20, oc).astype(np.int32)
    return x, filters, bias, z_in, stride, dilation, padding


@pytest.mark.parametrize("narrow", [False, True])
def test_conv_2d_fast_path_equals_definition(narrow):
    rng = np.random.default_rng(1 + narrow)
    checked = 0
    for _ in range(150):
        x, filters, bias, z_in, stride, dilation, padding = conv_case(rng, narrow)
        try:
            want_acc = naive_conv(x, filters, bias, z_in, stride, dilation, padding)
        except CatrtError:
            continue
        acc = conv_2d_accumulate(x, filters, bias, input_zero_point=z_in, stride=stride,
                                 dilation=dilation, padding=padding)
        assert np.array_equal(acc, want_acc)
        m, s = multipliers(rng, filters.shape[0])
        rounding = str(rng.choice(ROUNDINGS))
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        got = conv_2d(x, filters, bias, input_zero_point=z_in, stride=stride, dilation=dilation,
                      padding=padding, multiplier=m, shift=s, output_zero_point=-3,
                      activation_min=lo, activation_max=hi, rounding=rounding)
        assert np.array_equal(got, requantize_int64(want_acc, m, s, -3, lo, hi, rounding))
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("narrow", [False, True])
def test_depthwise_fast_path_equals_definition(narrow):
    rng = np.random.default_rng(3 + narrow)
    checked = 0
    for _ in range(150):
        n, h, w, c = (int(v) for v in (rng.integers(1, 4), rng.integers(1, 11), rng.integers(1, 11),
                                       rng.integers(1, 9)))
        dm = int(rng.choice([1, 1, 2]))
        kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        padding = int(rng.integers(0, 2))
        z_in = int(rng.integers(-128, 128))
        wmax = 2 ** (int(rng.choice([2, 4, 8])) - 1)
        x = random_input(rng, (n, h, w, c), z_in, narrow)
        filters = rng.integers(-wmax, wmax, (1, kh, kw, c * dm)).astype(np.int8)
        bias = None if rng.random() < 0.2 else rng.integers(-2 ** 20, 2 ** 20, c * dm).astype(np.int32)
        try:
            want_acc = naive_depthwise(x, filters, bias, z_in, stride, dilation, padding)
        except CatrtError:
            continue
        acc = depthwise_conv_2d_accumulate(x, filters, bias, input_zero_point=z_in, stride=stride,
                                           dilation=dilation, padding=padding)
        assert np.array_equal(acc, want_acc)
        m, s = multipliers(rng, c * dm)
        rounding = str(rng.choice(ROUNDINGS))
        got = depthwise_conv_2d(x, filters, bias, input_zero_point=z_in, stride=stride,
                                dilation=dilation, padding=padding, multiplier=m, shift=s,
                                output_zero_point=5, activation_min=-128, activation_max=127,
                                rounding=rounding)
        assert np.array_equal(got, requantize_int64(want_acc, m, s, 5, -128, 127, rounding))
        checked += 1
    assert checked > 100


def test_depthwise_sums_in_int16_only_when_they_fit():
    from catrt.kernels.depthwise_conv_2d import _sum_dtype

    filters = np.full((1, 3, 3, 4), -30, np.int8)
    narrow = np.full((1, 4, 4, 4), 20, np.int8)
    narrow[0, 0, 0, 0] = 5                                  # |x - z| <= 15
    assert _sum_dtype(narrow, filters, 20) is np.int16      # 9 * 30 * 15 <= 32767
    wide = narrow.copy()
    wide[0, 1, 1, 1] = -128                                 # |x - z| = 148: 9 * 30 * 148 > 32767
    assert _sum_dtype(wide, filters, 20) is np.float32
    rng = np.random.default_rng(5)
    m, s = multipliers(rng, 4)
    for x in (narrow, wide):
        got = depthwise_conv_2d(x, filters, None, input_zero_point=20, stride=(1, 1),
                                dilation=(1, 1), padding=PADDING_SAME, multiplier=m, shift=s,
                                output_zero_point=0, activation_min=-128, activation_max=127,
                                rounding="dr_away")
        want = naive_depthwise(x, filters, None, 20, (1, 1), (1, 1), PADDING_SAME)
        assert np.array_equal(got, requantize_int64(want, m, s, 0, -128, 127, "dr_away"))


def test_fully_connected_fast_path_equals_definition():
    rng = np.random.default_rng(7)
    for _ in range(60):
        depth, units, batch = int(rng.integers(1, 1500)), int(rng.integers(1, 20)), int(rng.integers(1, 9))
        wmax = 2 ** (int(rng.choice([2, 4, 8])) - 1)
        z_in = int(rng.integers(-128, 128))
        x = rng.integers(-128, 128, (batch, depth)).astype(np.int8)
        weights = rng.integers(-wmax, wmax, (units, depth)).astype(np.int8)
        bias = rng.integers(-2 ** 20, 2 ** 20, units).astype(np.int32)
        want_acc = (x.astype(np.int64) - z_in) @ weights.astype(np.int64).T + bias
        m, s = multipliers(rng, units)
        rounding = str(rng.choice(ROUNDINGS))
        got = fully_connected(x, weights, bias, input_zero_point=z_in, weights_offset=0,
                              output_zero_point=1, activation_min=-128, activation_max=127,
                              requant=rounding, multiplier=m, shift=s)
        assert np.array_equal(got, requantize_int64(want_acc, m, s, 1, -128, 127, rounding))


def test_blocks_split_large_images_into_row_ranges(monkeypatch):
    """A block smaller than one image (224x224 layers) cuts it into row ranges: same values."""
    monkeypatch.setattr(common.output_blocks, "__defaults__", (64,))
    rng = np.random.default_rng(9)
    x = rng.integers(-128, 128, (2, 9, 7, 3)).astype(np.int8)
    filters = rng.integers(-8, 8, (4, 3, 3, 3)).astype(np.int8)
    bias = rng.integers(-1000, 1000, 4).astype(np.int32)
    assert np.array_equal(conv_2d_accumulate(x, filters, bias, input_zero_point=4, stride=(2, 1),
                                             dilation=(1, 1), padding=PADDING_SAME),
                          naive_conv(x, filters, bias, 4, (2, 1), (1, 1), PADDING_SAME))
    dw = rng.integers(-8, 8, (1, 3, 3, 3)).astype(np.int8)
    assert np.array_equal(depthwise_conv_2d_accumulate(x, dw, None, input_zero_point=4, stride=(1, 2),
                                                       dilation=(1, 1), padding=PADDING_SAME),
                          naive_depthwise(x, dw, None, 4, (1, 2), (1, 1), PADDING_SAME))


# -- average pool ---------------------------------------------------------------------------------

def naive_average_pool(x, filter_size, stride, padding, lo, hi):
    n, h, w, c = x.shape
    out_h, pad_top = compute_padding(padding, stride[0], 1, h, filter_size[0])
    out_w, pad_left = compute_padding(padding, stride[1], 1, w, filter_size[1])
    out = np.empty((n, out_h, out_w, c), np.int8)
    for oy in range(out_h):
        for ox in range(out_w):
            y0, x0 = oy * stride[0] - pad_top, ox * stride[1] - pad_left
            ys = slice(max(y0, 0), min(y0 + filter_size[0], h))
            xs = slice(max(x0, 0), min(x0 + filter_size[1], w))
            total = x[:, ys, xs, :].astype(np.int64).sum(axis=(1, 2))
            count = max(ys.stop - ys.start, 0) * max(xs.stop - xs.start, 0)
            if count == 0:
                raise CatrtError("a window lies entirely in the padding")
            q = np.where(total > 0, (total + count // 2) // count, -((count // 2 - total) // count))
            out[:, oy, ox] = np.clip(q, lo, hi)
    return out


def test_average_pool_equals_definition():
    rng = np.random.default_rng(11)
    for _ in range(300):
        n, h, w, c = (int(v) for v in (rng.integers(1, 4), rng.integers(1, 10), rng.integers(1, 10),
                                       rng.integers(1, 5)))
        filter_size = (int(rng.integers(1, 11)), int(rng.integers(1, 11)))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        padding = int(rng.integers(0, 2))
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        x = rng.integers(-128, 128, (n, h, w, c)).astype(np.int8)
        try:
            want = naive_average_pool(x, filter_size, stride, padding, lo, hi)
        except CatrtError:
            with pytest.raises(CatrtError):
                average_pool_2d(x, filter_size=filter_size, stride=stride, padding=padding,
                                activation_min=lo, activation_max=hi)
            continue
        got = average_pool_2d(x, filter_size=filter_size, stride=stride, padding=padding,
                              activation_min=lo, activation_max=hi)
        assert np.array_equal(got, want)


# -- interpreter memory ---------------------------------------------------------------------------

def test_run_drops_dead_tensors_and_keeps_named_ones():
    import catrt

    from ._runtime_cases import build_chain

    chain = build_chain(5)
    interp = catrt.Interpreter(chain.model)
    x = chain.inputs[0]
    every = interp.run([x], keep_all=True)
    released = {i for op_release in interp._release for i in op_release}
    assert interp.tensor_index("conv/out") in released
    assert not released & set(interp.model.outputs)
    assert not any(interp.model.tensors[i].is_constant for i in released)
    plain = interp.run([x])
    assert list(plain) == ["logits", "class"]
    kept = interp.run([x], keep=("conv/out", "input"))
    assert list(kept) == ["logits", "class", "input", "conv/out"]
    for name, value in kept.items():
        assert np.array_equal(value, every[name])
    with pytest.raises(CatrtError, match="no tensor named"):
        interp.run([x], keep=("nope",))
