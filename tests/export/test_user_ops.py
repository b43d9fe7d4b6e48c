"""Writer checks of LEAKY_RELU and PRELU (issue 24 item 2): options, op versions, and what TFLite's
Prepare would refuse is refused before a model is written."""
from __future__ import annotations

import numpy as np
import pytest

from catdeploy.errors import UserError
from catdeploy.export.tflite import write_tflite
from catdeploy.export.tflite.writer import min_runtime_version
from catdeploy.ir.int_program import IntOp, IntTensor
from catrt.reader import read_model
from tests.golden.make_golden import act, program


def _leaky(alpha, shape_out=(1, 8)):
    return program([act("x", (1, 8), 0.1, 0), act("y", shape_out, 0.05, -3)],
                   [IntOp("LEAKY_RELU", ("x",), ("y",), dict(alpha=alpha), name="leaky")], ["x"], ["y"])


def _prelu(alpha_shape, x_shape=(1, 2, 2, 4), scales=(0.01,)):
    alpha = IntTensor("alpha", alpha_shape, "int8", scales, (0,) * len(scales),
                      data=np.ones(alpha_shape, np.int8), quantized_dimension=len(alpha_shape) - 1)
    return program([act("x", x_shape, 0.1, 0), alpha, act("y", x_shape, 0.05, -3)],
                   [IntOp("PRELU", ("x", "alpha"), ("y",), name="prelu")], ["x"], ["y"])


def test_leaky_relu_alpha_option_and_version():
    model = read_model(write_tflite(_leaky(float(np.float32(0.1)))))
    (code,) = model.operator_codes
    assert (code.builtin_code, code.version) == (98, 1)
    assert model.operators[0].options["alpha"] == float(np.float32(0.1))
    assert min_runtime_version([("LEAKY_RELU", 1)]) == "1.13.1"


@pytest.mark.parametrize("alpha", [float("nan"), float("inf"), "0.1"])
def test_leaky_relu_needs_a_finite_alpha(alpha):
    with pytest.raises(UserError, match="alpha"):
        write_tflite(_leaky(alpha))


def test_leaky_relu_output_shape_must_match():
    with pytest.raises(UserError, match="shape"):
        write_tflite(_leaky(0.1, shape_out=(1, 4)))


def test_prelu_alpha_broadcasts_onto_the_input():
    model = read_model(write_tflite(_prelu((1, 1, 1, 4))))
    (code,) = model.operator_codes
    assert (code.builtin_code, code.version) == (54, 1)
    with pytest.raises(UserError, match="does not broadcast"):
        write_tflite(_prelu((1, 1, 1, 3)))
    with pytest.raises(UserError, match="would broadcast"):
        write_tflite(_prelu((2, 1, 1, 4)))
    with pytest.raises(UserError, match="per tensor"):
        write_tflite(_prelu((1, 1, 1, 4), scales=(0.01, 0.02, 0.03, 0.04)))
