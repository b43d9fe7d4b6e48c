"""catrt's 16-bit CAT score path: CAST (int8 -> int16, int16 -> int32), FULLY_CONNECTED 16x8 with an
int64 bias, ARG_MAX on int32. Kernel formulas, and refusals: what TFLite refuses at Prepare, and
what catrt does not model (the golden vectors in tests/golden check the accepted cases)."""
from __future__ import annotations

import numpy as np
import pytest

import catrt
from catrt import CatrtError
from catrt.fixed_point import multiply_by_quantized_multiplier_int64, quantize_multiplier
from catrt.kernels.fully_connected_16x8 import fully_connected_16x8

from ._tiny_models import TinyModel, argmax_options, fc_options
from ai_edge_litert import schema_py_generated as fb


def _mbqm_int64_python(x: int, m: int, shift: int) -> int:
    reduced = (m + (1 << 15)) >> 16 if m < 0x7FFF0000 else 0x7FFF
    total = 15 - shift
    r = (x * reduced + (1 << (total - 1))) >> total
    return ((r + (1 << 31)) % (1 << 32)) - (1 << 31)


def test_int64_multiply_by_quantized_multiplier_matches_the_c_formula():
    rng = np.random.default_rng(0)
    x = rng.integers(-(1 << 40), 1 << 40, size=400)
    x[:4] = (-(1 << 15), -3, 0, 5)
    for real in (0.5, 0.37171, 1e-6, 3.0, 96.5, 1 - 2**-33):
        m, shift = quantize_multiplier(real)
        got = multiply_by_quantized_multiplier_int64(x, m, shift)
        assert [int(v) for v in got] == [_mbqm_int64_python(int(v), m, shift) for v in x], real
    m = 0x7FFF8000   # at or above 0x7FFF0000 the reduced multiplier saturates at 0x7FFF
    assert int(multiply_by_quantized_multiplier_int64(1 << 20, m, 0)) == _mbqm_int64_python(1 << 20, m, 0)


def test_int64_multiply_refuses_what_tflite_only_asserts():
    with pytest.raises(CatrtError):
        multiply_by_quantized_multiplier_int64(1, 1 << 30, 8)
    with pytest.raises(CatrtError):
        multiply_by_quantized_multiplier_int64(1 << 47, 1 << 30, 0)


def test_fc_16x8_kernel_rounds_negative_ties_by_build():
    x = np.array([[-3, 3]], np.int16)
    w = np.array([[1, 0], [0, 1]], np.int8)
    bias = np.zeros(2, np.int64)
    m, shift = quantize_multiplier(0.5)
    kw = dict(multiplier=np.array([m, m]), shift=np.array([shift, shift]),
              effective_scale=np.array([0.5, 0.5]), activation_min=-32768, activation_max=32767)
    mbqm = fully_connected_16x8(x, w, bias, requant="int64_mbqm", **kw)
    rha = fully_connected_16x8(x, w, bias, requant="float64_rha", **kw)
    assert mbqm.tolist() == [[-1, 2]] and rha.tolist() == [[-2, 2]]
    assert mbqm.dtype == np.int16


def _fc16(*, bias_dtype="int64", bias=True, z_in=0, z_out=0, out_dtype="int16", per_channel=True,
          act="NONE", bias_type_option=None, argmax_input="int32"):
    """z int8 -> CAST int16 -> FC 16x8 -> CAST int32 -> ARG_MAX, with one thing changed."""
    m = TinyModel()
    z = m.tensor("z", [4, 3], "int8", [0.05], [-2])
    z16 = m.tensor("z16", [4, 3], "int16", [0.05], [z_in])
    scales = [0.01, 0.02] if per_channel else [0.01]
    w = m.tensor("w", [2, 3], "int8", scales, [0] * len(scales),
                 data=np.array([[1, -2, 3], [4, 5, -6]], np.int8))
    inputs = [z16, w]
    if bias:
        inputs.append(m.tensor("b", [2], bias_dtype, [0.0005, 0.001], [0, 0],
                               data=np.array([7, -9])))
    y = m.tensor("y", [4, 2], out_dtype, [0.001], [z_out])
    m.inputs, m.outputs = [z], [y]
    cast = fb.CastOptionsT()
    m.op("CAST", [z], [z16], (fb.BuiltinOptions.CastOptions, cast))
    kind, options = fc_options(act)
    if bias_type_option is not None:
        options.quantizedBiasType = bias_type_option
    m.op("FULLY_CONNECTED", inputs, [y], (kind, options), version=7)
    if out_dtype == "int16":
        y32 = m.tensor("y32", [4, 2], argmax_input)
        axis = m.tensor("axis", [1], "int32", data=np.array([1]))
        k = m.tensor("k", [4], "int32")
        if argmax_input == "int32":
            m.op("CAST", [y], [y32], (fb.BuiltinOptions.CastOptions, fb.CastOptionsT()), version=1)
            m.op("ARG_MAX", [y32, axis], [k], argmax_options(), version=1)
        else:
            m.op("ARG_MAX", [y, axis], [k], argmax_options(), version=1)
        m.outputs = [k]
    return m.build()


def test_the_score_chain_runs_in_every_profile():
    x = np.array([[3, -4, 100], [-128, 127, 0], [5, 5, 5], [-2, -2, -2]], np.int8)
    outs = {name: catrt.Interpreter(_fc16(), name).run([x])["k"].tolist() for name in catrt.PROFILES}
    assert len({tuple(v) for v in outs.values()}) == 1, outs


@pytest.mark.parametrize("change,fragment", [
    (dict(bias_dtype="int32"), "int64"),                 # ruy / read as int64 depending on the build
    (dict(bias=False), "without bias"),
    (dict(z_in=3), "zero point 0"),                       # TFLite Prepare: int16 zero points must be 0
    (dict(z_out=1), "zero point 0"),
    (dict(out_dtype="int8"), "int16"),                   # int16 input with int8 output: not modelled
    (dict(per_channel=False), "per-channel"),
    (dict(act="RELU"), "fused activation"),
    (dict(bias_type_option=fb.TensorType.INT32), "quantized_bias_type"),
    (dict(argmax_input="int16"), "ARG_MAX"),             # arg_min_max.cc takes no int16
])
def test_refusals(change, fragment):
    with pytest.raises(CatrtError, match=fragment):
        catrt.Interpreter(_fc16(**change), "ref-tflite214")


def test_cast_refuses_other_type_pairs():
    m = TinyModel()
    x = m.tensor("x", [2], "int8", [0.1], [0])
    y = m.tensor("y", [2], "int32")
    m.inputs, m.outputs = [x], [y]
    m.op("CAST", [x], [y], (fb.BuiltinOptions.CastOptions, fb.CastOptionsT()))
    with pytest.raises(CatrtError, match="CAST int8 -> int32"):
        catrt.Interpreter(m.build())


def _quantize_int8_to_int16() -> bytes:
    m = TinyModel()
    x = m.tensor("x", [4, 3], "int8", [0.05], [-2])
    y = m.tensor("y", [4, 3], "int16", [0.05 / 256], [0])
    m.inputs, m.outputs = [x], [y]
    m.op("QUANTIZE", [x], [y])
    return m.build()


def test_quantize_int8_to_int16_is_refused():
    with pytest.raises(CatrtError, match="int16"):
        catrt.Interpreter(_quantize_int8_to_int16())


def test_arg_max_refuses_int64_input():
    m = TinyModel()
    x = m.tensor("x", [2, 3], "int64")
    axis = m.tensor("axis", [1], "int32", data=np.array([1]))
    k = m.tensor("k", [2], "int32")
    m.inputs, m.outputs = [x], [k]
    m.op("ARG_MAX", [x, axis], [k], argmax_options(), version=1)
    with pytest.raises(CatrtError, match="int64"):
        catrt.Interpreter(m.build())


def test_tflite_refuses_the_same_prepare_failures():
    """The refusals marked as TFLite's above: every installed wheel fails to load them too."""
    from catdeploy.check.interpreters import RunRequest, available_interpreters, run_requests

    models = [_fc16(z_in=3), _fc16(argmax_input="int16"), _quantize_int8_to_int16()]
    x = np.zeros((4, 3), np.int8)
    for interpreter in available_interpreters():
        results = run_requests(interpreter, [RunRequest(m, (x,), "ref", keep_all=False) for m in models])
        assert all(r["error"] for r in results), interpreter
