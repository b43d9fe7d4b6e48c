"""LOGISTIC: no options; int8 version 2 (op_version.cc). activations.cc SigmoidPrepare requires
the int8 output scale to be exactly 1/256 (lowering always writes zero point -128, the grid of
[0, 1) that the TFLite converter writes too)."""
from __future__ import annotations

from catdeploy.export.tflite.ops._common import OpSpec, fail
from catdeploy.export.tflite.ops._elementwise import check_unary

OUTPUT_SCALE = 1.0 / 256.0


def check(op, tensors) -> None:
    _, out = check_unary(op, tensors)
    if out.scale[0] != OUTPUT_SCALE:
        raise fail(op, f"output '{out.name}' must have scale 1/256 (TFLite SigmoidPrepare), has {out.scale[0]}")


def version(op, tensors) -> int:
    return 2


SPEC = OpSpec(kind="LOGISTIC", options_type=None, build_options=lambda op, schema: None,
              version=version, runtime_versions={1: "1.14.0", 2: "1.14.0"}, check=check)
