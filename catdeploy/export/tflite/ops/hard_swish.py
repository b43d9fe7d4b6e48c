"""HARD_SWISH: no options; version 1 (op_version.cc has no other). activations.cc
HardSwishPrepare fails unless the output multiplier (s_in / 128) / s_out has exponent <= 0,
i.e. s_in < 128 s_out: checked here so that such a model is never written."""
from __future__ import annotations

import numpy as np
from catrt.fixed_point import quantize_multiplier

from catdeploy.export.tflite.ops._common import OpSpec, fail
from catdeploy.export.tflite.ops._elementwise import check_unary


def check(op, tensors) -> None:
    x, out = check_unary(op, tensors)
    hires = np.float32(np.float32(1.0 / 128.0) * np.float32(x.scale[0]))
    _, exponent = quantize_multiplier(float(np.float32(hires / np.float32(out.scale[0]))))
    if exponent > 0:
        raise fail(op, f"input scale {x.scale[0]} >= 128 * output scale {out.scale[0]}: "
                       "TFLite's HARD_SWISH kernel refuses it")


def version(op, tensors) -> int:
    return 1


SPEC = OpSpec(kind="HARD_SWISH", options_type=None, build_options=lambda op, schema: None,
              version=version, runtime_versions={1: "1.15.0"}, check=check)
