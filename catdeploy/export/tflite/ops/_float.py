"""float32 variants of the builtins the float lowering (`--bits fp32`) emits: op versions
(op_version.cc: version 1 for float inputs, DEPTHWISE_CONV_2D 2 with dilation) and one check for
all of them (float32 activations and weights without quantization; int32 shape / paddings /
index constants)."""
from __future__ import annotations

from catdeploy.export.tflite.ops._common import fail, padding_code, activation_code

FLOAT_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D",
               "RESHAPE", "PAD", "CONCATENATION", "MINIMUM", "MAXIMUM", "GATHER", "LOGISTIC", "HARD_SWISH",
               "LEAKY_RELU", "PRELU")
# inputs that are int32 constants: RESHAPE's shape, PAD's paddings, GATHER's indices
INT32_INPUTS = {"RESHAPE": (1,), "PAD": (1,), "GATHER": (1,)}


def is_float_op(op, tensors) -> bool:
    """An op computing in float32 (its first input is a float32 tensor), QUANTIZE / DEQUANTIZE aside."""
    return (op.kind not in ("QUANTIZE", "DEQUANTIZE") and bool(op.inputs) and bool(op.inputs[0])
            and tensors[op.inputs[0]].dtype == "float32")


def version(op, tensors) -> int:
    if op.kind == "DEPTHWISE_CONV_2D" and (op.options.get("dilation_h", 1) != 1 or op.options.get("dilation_w", 1) != 1):
        return 2
    return 1


def check(op, tensors) -> None:
    if op.kind not in FLOAT_KINDS:
        raise fail(op, "has no float32 version in catdeploy's writer")
    for i, name in enumerate(op.inputs + op.outputs):
        if not name:
            continue
        t = tensors[name]
        want = "int32" if i < len(op.inputs) and i in INT32_INPUTS.get(op.kind, ()) else "float32"
        if t.dtype != want:
            raise fail(op, f"tensor '{name}' has dtype {t.dtype}, expected {want} in a float op")
        if t.scale is not None:
            raise fail(op, f"tensor '{name}' is quantized; float ops take unquantized tensors")
    if "padding" in op.options:
        padding_code(op)
    if "fused_activation" in op.options:
        activation_code(op)
