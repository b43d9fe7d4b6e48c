"""Shared pieces of the per-op writers: the OpSpec record and small checks that raise UserError.

Every op file under ops/ defines `SPEC = OpSpec(...)`: the TFLite builtin it writes, how its
IntOp.options become the builtin options table, which op version TFLite's converter would give it
(tflite/converter/tools/versioning/op_version.cc) and the runtime version that introduced that
op version (runtime_version.cc), plus `check`, which validates the op's tensors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from catdeploy.errors import UserError
from catdeploy.ir.int_program import IntOp, IntTensor

Tensors = Mapping[str, IntTensor]

ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6")   # ActivationFunctionType 0..3
PADDINGS = ("SAME", "VALID")                              # Padding 0, 1


@dataclass(frozen=True)
class OpSpec:
    """How one IntOp kind is written to TFLite."""

    kind: str                                    # IntOp.kind == TFLite BuiltinOperator name
    options_type: str | None                     # BuiltinOptions member name, None for no table
    build_options: Callable[[IntOp, Any], Any]   # (op, schema module) -> options object or None
    version: Callable[[IntOp, Tensors], int]     # TFLite op version for these tensor types
    runtime_versions: Mapping[int, str]          # op version -> first TFLite runtime with it
    check: Callable[[IntOp, Tensors], None]      # raises UserError on a malformed op


def op_label(op: IntOp) -> str:
    """"CONV_2D op 'layer1.0.conv1'", or the first output's name for an op without a name."""
    if op.name:
        return f"{op.kind} op '{op.name}'"
    return f"{op.kind} op writing '{op.outputs[0] if op.outputs else '?'}'"


def fail(op: IntOp, message: str) -> UserError:
    """A UserError naming the op (use as `raise fail(op, ...)`)."""
    return UserError(f"{op_label(op)}: {message}")


def expect_arity(op: IntOp, n_inputs: tuple[int, int], n_outputs: int = 1) -> None:
    """Between n_inputs[0] and n_inputs[1] inputs (both inclusive) and exactly n_outputs outputs."""
    lo, hi = n_inputs
    if not lo <= len(op.inputs) <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        raise fail(op, f"expects {want} inputs, got {len(op.inputs)}")
    if len(op.outputs) != n_outputs:
        raise fail(op, f"expects {n_outputs} output(s), got {len(op.outputs)}")


def required(op: IntOp, tensors: Tensors, index: int, role: str) -> IntTensor:
    """Input `index`, which must be present (not the empty name)."""
    name = op.inputs[index]
    if not name:
        raise fail(op, f"the {role} input is required")
    return tensors[name]


def optional(op: IntOp, tensors: Tensors, index: int) -> IntTensor | None:
    if index >= len(op.inputs) or not op.inputs[index]:
        return None
    return tensors[op.inputs[index]]


def expect_dtype(op: IntOp, t: IntTensor, role: str, *allowed: str) -> None:
    if t.dtype not in allowed:
        raise fail(op, f"{role} '{t.name}' has dtype {t.dtype}, expected {' or '.join(allowed)}")


def expect_rank(op: IntOp, t: IntTensor, role: str, *ranks: int) -> None:
    if len(t.shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise fail(op, f"{role} '{t.name}' has shape {t.shape}, expected rank {want}")


def expect_constant(op: IntOp, t: IntTensor, role: str) -> None:
    if t.data is None:
        raise fail(op, f"{role} '{t.name}' must be a constant (data is None)")


def expect_quantized(op: IntOp, t: IntTensor, role: str, per_tensor: bool = False) -> None:
    if t.scale is None or t.zero_point is None:
        raise fail(op, f"{role} '{t.name}' needs a scale and a zero point")
    if per_tensor and len(t.scale) != 1:
        raise fail(op, f"{role} '{t.name}' must be quantized per tensor, got {len(t.scale)} scales")


def expect_same_qparams(op: IntOp, a: IntTensor, b: IntTensor, why: str) -> None:
    """TFLite kernels that move raw int8 values assume equal scale and zero point."""
    if (a.scale, a.zero_point) != (b.scale, b.zero_point):
        raise fail(op, f"'{a.name}' (scale {a.scale}, zero point {a.zero_point}) and '{b.name}' "
                       f"(scale {b.scale}, zero point {b.zero_point}) must have equal qparams: {why}")


def expect_symmetric(op: IntOp, w: IntTensor, role: str) -> None:
    if w.zero_point is not None and any(z != 0 for z in w.zero_point):
        raise fail(op, f"{role} '{w.name}' must have zero point 0 (TFLite ignores or rejects others)")


def expect_channel_qparams(op: IntOp, w: IntTensor, role: str, axis: int) -> None:
    """Per-tensor, or per-channel along `axis` with one scale per channel."""
    expect_quantized(op, w, role)
    if len(w.scale) > 1:
        if w.quantized_dimension != axis:
            raise fail(op, f"{role} '{w.name}' is per-channel along axis {w.quantized_dimension}, "
                           f"TFLite expects axis {axis}")


def expect_shape(op: IntOp, t: IntTensor, role: str, shape: tuple[int, ...]) -> None:
    if tuple(t.shape) != tuple(shape):
        raise fail(op, f"{role} '{t.name}' has shape {t.shape}, expected {tuple(shape)}")


def option(op: IntOp, key: str, default: Any = None) -> Any:
    """op.options[key]; a missing key without default is a UserError."""
    if key in op.options:
        return op.options[key]
    if default is None:
        raise fail(op, f"missing option '{key}'")
    return default


def int_option(op: IntOp, key: str, default: int | None = None, minimum: int | None = None) -> int:
    value = option(op, key, default)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise fail(op, f"option '{key}' must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise fail(op, f"option '{key}' must be >= {minimum}, got {value}")
    return int(value)


def bool_option(op: IntOp, key: str, default: bool) -> bool:
    value = op.options.get(key, default)
    if not isinstance(value, (bool, np.bool_)):
        raise fail(op, f"option '{key}' must be a bool, got {value!r}")
    return bool(value)


def activation_code(op: IntOp) -> int:
    """ActivationFunctionType of option 'fused_activation' (default NONE)."""
    name = op.options.get("fused_activation", "NONE")
    if name not in ACTIVATIONS:
        raise fail(op, f"fused_activation {name!r} is not one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS.index(name)


def padding_code(op: IntOp) -> int:
    name = option(op, "padding")
    if name not in PADDINGS:
        raise fail(op, f"padding {name!r} is not SAME or VALID")
    return PADDINGS.index(name)


def int_values(op: IntOp, t: IntTensor, role: str) -> np.ndarray:
    """A constant's values as int64 (for checks on shapes, axes, paddings)."""
    expect_constant(op, t, role)
    return np.asarray(t.data).astype(np.int64)


def output_size(op: IntOp, size: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """Spatial output size as TFLite computes it (kernels/padding.h, ComputeOutSize)."""
    effective = (kernel - 1) * dilation + 1
    if option(op, "padding") == "SAME":
        return (size + stride - 1) // stride
    return (size - effective + stride) // stride


def expect_spatial_output(op: IntOp, x: IntTensor, out: IntTensor, kernel: tuple[int, int],
                          channels: int, dilation: bool = True) -> None:
    """NHWC output shape implied by padding/strides/dilation equals the written one."""
    stride_h, stride_w = int_option(op, "stride_h", minimum=1), int_option(op, "stride_w", minimum=1)
    dil_h = int_option(op, "dilation_h", 1, minimum=1) if dilation else 1
    dil_w = int_option(op, "dilation_w", 1, minimum=1) if dilation else 1
    n, h, w, _ = x.shape
    want = (n, output_size(op, h, kernel[0], stride_h, dil_h),
            output_size(op, w, kernel[1], stride_w, dil_w), channels)
    if want[1] < 1 or want[2] < 1:
        raise fail(op, f"window {kernel} does not fit input '{x.name}' of shape {x.shape}")
    expect_shape(op, out, "output", want)


def expect_activation(op: IntOp, x: IntTensor, role: str = "input") -> None:
    """An int8 activation tensor, quantized per tensor."""
    expect_dtype(op, x, role, "int8")
    expect_quantized(op, x, role, per_tensor=True)


def convolution_operands(op, tensors, bias_reason: str, channel_axis: int):
    """(input, filter, bias, output) of CONV_2D / DEPTHWISE_CONV_2D after the checks both share:
    three inputs, 4-D activation input, constant symmetric 4-D int8/int4 filter with per-channel
    scales along `channel_axis`."""
    expect_arity(op, (3, 3))
    x = required(op, tensors, 0, "input")
    w = required(op, tensors, 1, "filter")
    b = required(op, tensors, 2, bias_reason)
    out = tensors[op.outputs[0]]
    expect_activation(op, x)
    expect_rank(op, x, "input", 4)
    expect_dtype(op, w, "filter", "int8", "int4")
    expect_constant(op, w, "filter")
    expect_rank(op, w, "filter", 4)
    expect_channel_qparams(op, w, "filter", axis=channel_axis)
    expect_symmetric(op, w, "filter")
    return x, w, b, out
