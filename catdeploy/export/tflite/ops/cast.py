"""CAST: raw values widened, int8 -> int16 (version 3) or int16 -> int32 (version 1); options
in_data_type / out_data_type (dtype names, equal to the tensors' types) become CastOptions
(cast.cc ignores them and reads the tensors' types). Quantization parameters are
not read: the output's may differ from the input's (the CAT score path labels the int16 copy of
the int8 logits with zero point 0 and folds the input zero point into the next bias)."""
from __future__ import annotations

from catdeploy.export.tflite.ops._common import OpSpec, expect_arity, expect_shape, fail, required

WIDENINGS = (("int8", "int16"), ("int16", "int32"))


def check(op, tensors) -> None:
    expect_arity(op, (1, 1))
    x = required(op, tensors, 0, "input")
    out = tensors[op.outputs[0]]
    if (x.dtype, out.dtype) not in WIDENINGS:
        raise fail(op, f"CAST {x.dtype} -> {out.dtype} is not written (only "
                       f"{', '.join(f'{a} -> {b}' for a, b in WIDENINGS)})")
    expect_shape(op, out, "output", tuple(x.shape))
    if (op.options.get("in_data_type"), op.options.get("out_data_type")) != (x.dtype, out.dtype):
        raise fail(op, f"options in_data_type / out_data_type must be {x.dtype!r} / {out.dtype!r}")


def version(op, tensors) -> int:
    # op_version.cc: an int8 input or output gives version 3, int16 -> int32 stays at 1.
    return 3 if tensors[op.inputs[0]].dtype == "int8" else 1


def build_options(op, schema):
    return schema.CastOptionsT(inDataType=getattr(schema.TensorType, op.options["in_data_type"].upper()),
                               outDataType=getattr(schema.TensorType, op.options["out_data_type"].upper()))


SPEC = OpSpec(kind="CAST", options_type="CastOptions", build_options=build_options, version=version,
              runtime_versions={1: "1.5.0", 3: "2.8.0"}, check=check)
