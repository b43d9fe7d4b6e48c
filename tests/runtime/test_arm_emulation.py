"""catrt's aarch64 profiles against the aarch64 wheels under qemu-user (bench/bench_arm.py has the
full run). Skips, saying why, where qemu-aarch64-static, the arm64 root (CATRT_ARM64_ROOT,
default /tmp/arm64/root) or the unpacked aarch64 wheels (CATRT_ARM64_SITE, default
/tmp/arm64/site) are missing; ../shared/docs/arm-emulation.md sets them up.

The model is small but takes the Arm-specific paths: a CONV_2D and a FULLY_CONNECTED with
rounding ties (ruy arm64: single rounding; one output pixel / batch 1: the custom GEMV's double
rounding), a DEPTHWISE_CONV_2D with a NEON tail, a 3x3 DEPTHWISE_CONV_2D on 8 channels with
multipliers above 1 (aarch64's 3x3 kernel shifts left after the multiply), an int8 -> int8
QUANTIZE and a DEQUANTIZE (fused multiply-add on aarch64)."""
from __future__ import annotations

import subprocess
import zlib

import numpy as np
import pytest

from bench.bench_arm import DEFAULT_ROOT, DEFAULT_SITE, catrt_check, launcher, missing
from catrt.golden import make_golden, npz_bytes
from catdeploy.export.tflite import write_tflite
from catdeploy.ir.int_program import IntOp, IntTensor
from catdeploy.check.verify import RESOLVERS, verify_model
from tests.golden.make_golden import (TIE_MULTIPLIERS, act, bias, dyadic_weight_scales, program, weights)

WHY = missing(DEFAULT_ROOT, DEFAULT_SITE)
pytestmark = pytest.mark.skipif(WHY is not None, reason=f"aarch64 emulation unavailable: {WHY}")


def _model() -> bytes:
    rng = np.random.default_rng(zlib.crc32(b"arm"))
    s_in, s_mid, s_out = 2.0**-4, 2.0**-3, 2.0**-2
    conv_w = rng.integers(-2, 3, size=(8, 3, 3, 4)).astype(np.int8)
    dw_w = rng.integers(-2, 3, size=(1, 3, 3, 12)).astype(np.int8)
    fc_w = rng.integers(-2, 3, size=(8, 12)).astype(np.int8)
    s_conv = dyadic_weight_scales(s_in, s_mid, TIE_MULTIPLIERS)
    s_dw = dyadic_weight_scales(s_mid, s_mid, (TIE_MULTIPLIERS * 2)[:12])
    s_fc = dyadic_weight_scales(s_mid, s_out, TIE_MULTIPLIERS)
    # 3x3 DW on 8 channels (aarch64's 3x3 kernel), multipliers above 1 (shift > 0) on half of them
    s_e = dyadic_weight_scales(s_mid, s_mid, (1.5, 0.375, 1.25, 0.75, 1.5, 0.5, 1.75, 0.625))
    tensors = [
        act("x", (1, 5, 5, 4), s_in, 1),
        weights("cw", conv_w, s_conv, 0), bias("cb", rng.integers(-30, 31, 8), s_in, s_conv),
        act("c", (1, 5, 5, 8), s_mid, 2),
        act("c2", (1, 200), s_mid, 2),
        IntTensor("tile", (12, 200), "int8", (float(np.float32(1.0)),), (0,), 0,
                  np.eye(12, 200, dtype=np.int8)),
        IntTensor("tile_b", (12,), "int32", (float(np.float32(s_mid)),), (0,), 0, np.zeros(12, np.int32)),
        act("v", (1, 12), s_mid, 2),
        act("v4", (1, 1, 1, 12), s_mid, 2),
        weights("dw", dw_w, s_dw, 3), bias("db", rng.integers(-30, 31, 12), s_mid, s_dw),
        act("d", (1, 1, 1, 12), s_mid, -1),
        act("d2", (1, 12), s_mid, -1),
        weights("fw", fc_w, s_fc, 0), bias("fb", rng.integers(-30, 31, 8), s_mid, s_fc),
        act("f", (1, 8), s_out, 0),
        act("q", (1, 8), s_out * 4, 3),
        IntTensor("y", (1, 8), "float32"),
        weights("ew", rng.integers(-3, 4, size=(1, 3, 3, 8)).astype(np.int8), s_e, 3),
        bias("eb", rng.integers(-30, 31, 8), s_mid, s_e),
        act("e", (1, 5, 5, 8), s_mid, -2),
    ]
    ops = [
        IntOp("CONV_2D", ("x", "cw", "cb"), ("c",), dict(padding="SAME", stride_h=1, stride_w=1,
                                                      dilation_h=1, dilation_w=1, fused_activation="NONE")),
        IntOp("RESHAPE", ("c",), ("c2",), dict(new_shape=(-1, 200))),
        IntOp("FULLY_CONNECTED", ("c2", "tile", "tile_b"), ("v",), dict(fused_activation="NONE", keep_num_dims=False)),
        IntOp("RESHAPE", ("v",), ("v4",), dict(new_shape=(-1, 1, 1, 12))),
        IntOp("DEPTHWISE_CONV_2D", ("v4", "dw", "db"), ("d",), dict(padding="SAME", stride_h=1, stride_w=1,
                                                                  depth_multiplier=1, fused_activation="NONE")),
        IntOp("RESHAPE", ("d",), ("d2",), dict(new_shape=(-1, 12))),
        IntOp("FULLY_CONNECTED", ("d2", "fw", "fb"), ("f",), dict(fused_activation="NONE", keep_num_dims=False)),
        IntOp("QUANTIZE", ("f",), ("q",)),
        IntOp("DEQUANTIZE", ("q",), ("y",)),
        IntOp("DEPTHWISE_CONV_2D", ("c", "ew", "eb"), ("e",), dict(padding="SAME", stride_h=1, stride_w=1,
                                                                depth_multiplier=1, fused_activation="NONE")),
    ]
    return write_tflite(program(tensors, ops, ["x"], ["y", "e"]))


def test_aarch64_wheels_match_catrt_arm_profiles():
    model = _model()
    rng = np.random.default_rng(7)
    x = rng.integers(-12, 13, size=(1, 1, 5, 5, 4)).astype(np.int8)[0]
    run = launcher(DEFAULT_ROOT, DEFAULT_SITE)
    reports = verify_model(model, x, list(run.packages), list(RESOLVERS), launcher=run)
    assert reports
    for r in reports:
        assert r.error is None, r.error
        assert r.profile.endswith("arm64") or r.profile.startswith("ref-"), r.profile
        assert r.mismatched_elements == 0 and r.tensors_compared >= 10, (r.profile, r.first_mismatch)


def test_catrt_check_under_qemu(tmp_path):
    model = _model()
    (tmp_path / "m.tflite").write_bytes(model)
    (tmp_path / "m.golden.npz").write_bytes(npz_bytes(make_golden(model, 3)))
    run = launcher(DEFAULT_ROOT, DEFAULT_SITE)
    proc = catrt_check(tmp_path / "m.tflite", tmp_path / "m.golden.npz", DEFAULT_ROOT, DEFAULT_SITE, run.packages[0])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("bit-exact on 3 of 3 inputs") == 8, proc.stdout   # 4 resolvers x 2 outputs
