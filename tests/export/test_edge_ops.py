"""Writer and catrt checks of the edge-architecture ops (MUL, LOGISTIC, HARD_SWISH): what TFLite's
Prepare refuses is refused by the writer and by catrt's prepare alike; the golden models of
make_golden_edge_ops.py are reproducible; the int16 fixed-point helpers of HARD_SWISH follow C."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import catrt
from catdeploy.errors import UserError
from catdeploy.export.tflite import write_tflite
from catdeploy.export.tflite import writer as writer_module
from catdeploy.ir.int_program import IntOp
from catrt import CatrtError
from catrt.kernels.hard_swish import (
    rounding_divide_by_pot_int16, saturating_doubling_high_mul_int16, srdhm_int16,
)
from catrt.ops.hard_swish import downscale_multiplier_to_int16
from tests.golden.make_golden import act, program
from tests.golden.make_golden_edge_ops import CASES, PREFIX, build_case

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _unary(kind, q_in, q_out, shape=(1, 8)):
    return program([act("x", shape, *q_in), act("y", shape, *q_out)],
                   [IntOp(kind, ("x",), ("y",), name=kind.lower())], ["x"], ["y"])


def _write_unchecked(prog, monkeypatch) -> bytes:
    monkeypatch.setattr(writer_module, "validate_program", lambda p: None)
    return write_tflite(prog)


def test_logistic_needs_output_scale_1_over_256(monkeypatch):
    bad = _unary("LOGISTIC", (0.1, 0), (1 / 255, -128))
    with pytest.raises(UserError, match="scale 1/256"):
        write_tflite(bad)
    with pytest.raises(CatrtError, match="scale 1/256"):
        catrt.Interpreter(_write_unchecked(bad, monkeypatch))


def test_hard_swish_refuses_an_output_multiplier_with_a_left_shift(monkeypatch):
    bad = _unary("HARD_SWISH", (1.0, 0), (1 / 200, 0))   # (1/128) / (1/200) > 1
    with pytest.raises(UserError, match="HARD_SWISH"):
        write_tflite(bad)
    with pytest.raises(CatrtError, match="exponent <= 0"):
        catrt.Interpreter(_write_unchecked(bad, monkeypatch))
    catrt.Interpreter(write_tflite(_unary("HARD_SWISH", (1.0, 0), (1 / 120, 0))))  # just below 1


def test_mul_shapes_and_version():
    def mul(shape_a, shape_b, shape_y, qy=(0.01, 0)):
        return program([act("a", shape_a, 0.1, 0), act("b", shape_b, 0.2, 0), act("y", shape_y, *qy)],
                       [IntOp("MUL", ("a", "b"), ("y",), dict(fused_activation="NONE"), name="mul")],
                       ["a", "b"], ["y"])

    with pytest.raises(UserError, match="do not broadcast"):
        write_tflite(mul((1, 4, 4, 3), (1, 1, 1, 2), (1, 4, 4, 3)))
    with pytest.raises(UserError, match="rank 4"):
        write_tflite(mul((1, 1, 4, 4, 3), (1, 1, 1, 1, 3), (1, 1, 4, 4, 3)))
    model = catrt.reader.read_model(write_tflite(mul((1, 4, 4, 3), (1, 1, 1, 3), (1, 4, 4, 3))))
    assert model.operator_codes[0].version == 3                       # 0.1 * 0.2 / 0.01 = 2 >= 1
    model = catrt.reader.read_model(write_tflite(mul((1, 4, 4, 3), (1, 1, 1, 3), (1, 4, 4, 3), (0.1, 0))))
    assert model.operator_codes[0].version == 2


def test_catrt_refuses_mismatched_unary_shapes(monkeypatch):
    bad = program([act("x", (1, 8), 0.1, 0), act("y", (1, 4), 1 / 256, -128)],
                  [IntOp("LOGISTIC", ("x",), ("y",), name="logistic")], ["x"], ["y"])
    with pytest.raises(UserError, match="shape"):
        write_tflite(bad)
    with pytest.raises(CatrtError, match="shape"):
        catrt.Interpreter(_write_unchecked(bad, monkeypatch))


@pytest.mark.parametrize("name", sorted(CASES))
def test_edge_goldens_are_reproducible_and_ref_runs_agree(name):
    data = np.load(GOLDEN / f"{PREFIX}{name}.npz", allow_pickle=False)
    assert data["model"].tobytes() == write_tflite(build_case(name).program)
    meta = json.loads(str(data["meta"]))
    refs = [k for k in data.files if k.startswith("output__") and "__ref__" in k]
    assert len(refs) == 3 * len(meta["outputs"])                        # three wheels
    for j in range(len(meta["outputs"])):
        outputs = [data[k] for k in refs if k.endswith(f"__{j}")]
        assert all(np.array_equal(outputs[0], o) for o in outputs[1:])


def _c_trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def test_int16_fixed_point_helpers_follow_c():
    rng = np.random.default_rng(0)
    a = rng.integers(-32768, 32768, size=2000)
    b = rng.integers(-32768, 32768, size=2000)
    a[:3], b[:3] = -32768, -32768
    for x, y, got in zip(a, b, srdhm_int16(a, b)):
        ab = int(x) * int(y)
        nudge = (1 << 14) if ab >= 0 else 1 - (1 << 14)
        want = 32767 if x == y == -32768 else ((_c_trunc_div(ab + nudge, 1 << 15) + 32768) % 65536) - 32768
        assert got == want
    for x, y, got in zip(a, b, saturating_doubling_high_mul_int16(a, b)):
        want = 32767 if x == y == -32768 else ((_c_trunc_div(int(x) * int(y), 1 << 15) + 32768) % 65536) - 32768
        assert got == want
    # exponents >= 16 on int16: the mask becomes -1, so x >= 0 gives 1 and x < 0 gives -1
    assert rounding_divide_by_pot_int16(np.array([0, 5, 32767, -1, -32768]), 16).tolist() == [1, 1, 1, -1, -1]
    assert rounding_divide_by_pot_int16(np.array([5, 6, 7, -5, -6, -7]), 1).tolist() == [3, 3, 4, -3, -3, -4]
    assert downscale_multiplier_to_int16((1 << 31) - 1) == 32767
    assert downscale_multiplier_to_int16(1 << 30) == 1 << 14
    assert downscale_multiplier_to_int16((1 << 30) + (1 << 15)) == (1 << 14) + 1
