"""LEAKY_RELU: LeakyReluOptions(alpha, float32); version 1 for int8 (op_version.cc: 2 only for
int16). activations.cc LeakyReluPrepare requantizes with QuantizeMultiplier of
f32(s_in * alpha) / s_out and of s_in / s_out; any finite alpha is accepted."""
from __future__ import annotations

import math

from catdeploy.export.tflite.ops._common import OpSpec, fail, option
from catdeploy.export.tflite.ops._elementwise import check_unary


def alpha_option(op) -> float:
    alpha = option(op, "alpha")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        raise fail(op, f"option 'alpha' must be a finite number, got {alpha!r}")
    return float(alpha)


def check(op, tensors) -> None:
    check_unary(op, tensors)
    alpha_option(op)


def version(op, tensors) -> int:
    return 1


def build_options(op, schema):
    return schema.LeakyReluOptionsT(alpha=alpha_option(op))


SPEC = OpSpec(kind="LEAKY_RELU", options_type="LeakyReluOptions", build_options=build_options,
              version=version, runtime_versions={1: "1.13.1"}, check=check)
