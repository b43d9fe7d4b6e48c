"""catrt's LEAKY_RELU and PRELU (issue 24 item 2): hand-worked kernel values (the reference
kernels' double rounding, XNNPACK's Q8 round-half-up), the reader's float alpha, the per-node
XNNPACK choice, and the aarch64 profiles refusing the ops by name (no golden vectors there)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import catrt
from catrt import CatrtError
from catrt.kernels.leaky_relu import leaky_relu, leaky_relu_xnnpack
from catrt.kernels.prelu import prelu
from catrt.profiles import PROFILES
from catrt.xnnpack import leaky_relu_multipliers, leaky_relu_supported

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def test_leaky_relu_reference_rounds_ties_away_and_xnnpack_up():
    # s_in 2^-4, s_out 2^-3, alpha 0.25: identity multiplier 0.5 (2^30, 0), alpha 0.125 (2^30, -2)
    x = np.array([3, 1, 0, -1, -4, -12, -127], np.int8)
    ref = leaky_relu(x, input_zero_point=0, output_zero_point=-10, identity_multiplier=1 << 30,
                     identity_shift=0, alpha_multiplier=1 << 30, alpha_shift=-2)
    #           1.5->2  0.5->1  0  -0.125->0  -0.5->-1  -1.5->-2  -15.875->-16
    assert ref.tolist() == [-8, -9, -10, -10, -11, -12, -26]
    positive, negative = leaky_relu_multipliers(0.25, 2.0 ** -4, 2.0 ** -3)
    assert (positive, negative) == (128, 32)
    xnn = leaky_relu_xnnpack(x, input_zero_point=0, output_zero_point=-10, positive_multiplier=positive,
                             negative_multiplier=negative)
    #                      ties half up: -0.5 -> 0, -1.5 -> -1
    assert xnn.tolist() == [-8, -9, -10, -10, -10, -11, -26]


def test_leaky_relu_saturates_and_takes_negative_slopes():
    x = np.array([127, -128], np.int8)
    out = leaky_relu(x, input_zero_point=0, output_zero_point=0, identity_multiplier=1 << 30, identity_shift=2,
                     alpha_multiplier=-(1 << 30), alpha_shift=0)           # x * 2 above, x * -0.5 below
    assert out.tolist() == [127, 64]


def test_xnnpack_leaky_relu_checks():
    assert leaky_relu_supported(0.1, 0.05, 0.04)
    assert not leaky_relu_supported(0.0, 0.05, 0.04)                 # alpha 0
    assert not leaky_relu_supported(1e-40, 0.05, 0.04)               # subnormal alpha
    assert not leaky_relu_supported(0.001, 0.05, 0.05)               # |negative scale| < 1/256
    assert not leaky_relu_supported(0.5, 0.001, 0.3)                 # s_in / s_out < 1/256
    assert not leaky_relu_supported(0.1, 2.0, 0.01)                  # s_in / s_out > 128
    assert leaky_relu_supported(-0.25, 0.02, 0.05)


def test_prelu_reference():
    # s_in 2^-3, s_alpha 2^-7, s_out 2^-4: multipliers 2 (x >= 0) and 2^-6 (below)
    x = np.array([[1, 0, -2, -3], [5, -1, -64, 127]], np.int8)
    alpha = np.array([[16, 48, 16, 16]], np.int8)
    out = prelu(x, alpha, input_zero_point=0, alpha_zero_point=0, output_zero_point=0,
                multiplier_1=1 << 30, shift_1=2, multiplier_2=1 << 30, shift_2=-5)
    #          -0.5 -> -1 (away), -0.75 -> -1, 48 * -1 / 64 = -0.75 -> -1, -16 * 64 / 64 = -16
    assert out.tolist() == [[2, 0, -1, -1], [10, -1, -16, 127]]


def _model(name: str) -> bytes:
    return np.load(GOLDEN / f"{name}.npz", allow_pickle=False)["model"].tobytes()


def test_reader_takes_alpha_and_profiles_choose_per_node():
    interp = catrt.Interpreter(_model("edge_leaky_relu_scales"), "builtin-litert21-x86")
    assert interp.model.operators[0].options["alpha"] == float(np.float32(0.1))
    algorithms = {params.algorithm for _, _, params in interp._prepared}
    assert algorithms == {"xnnpack"}
    outside = catrt.Interpreter(_model("edge_leaky_relu_outside_xnnpack"), "builtin-litert21-x86")
    assert {params.algorithm for _, _, params in outside._prepared} == {"ref"}


@pytest.mark.parametrize("case", ["edge_leaky_relu_scales", "edge_prelu_channels"])
def test_every_profile_takes_the_ops_and_aarch64_xnnpack_chooses_per_node(case):
    """Every profile, aarch64 included (measured under qemu, tests/golden/arm64), prepares them;
    LiteRT's aarch64 BUILTIN sends the LEAKY_RELU nodes XNNPACK accepts to XNNPACK, as on x86."""
    for name in PROFILES:
        catrt.Interpreter(_model(case), name)
    if "leaky" in case:
        arm = catrt.Interpreter(_model(case), "builtin-litert21-arm64")
        assert {params.algorithm for _, _, params in arm._prepared} == {"xnnpack"}
