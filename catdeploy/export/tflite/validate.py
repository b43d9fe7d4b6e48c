"""Checks an IntProgram before it is written; every problem is a one-line UserError naming the op
or tensor. Generic checks live here, op-specific ones in ops/<op>.py (`check`)."""
from __future__ import annotations

import math

import numpy as np

from catdeploy.errors import UserError
from catdeploy.export.tflite.ops import OP_SPECS
from catdeploy.export.tflite.ops import _float as float_op
from catdeploy.export.tflite.ops._common import fail
from catdeploy.ir.int_program import IntOp, IntProgram, IntTensor

TENSOR_DTYPES = ("int8", "int16", "int32", "int64", "float32", "int4", "int2")
VALUE_RANGES = {"int8": (-128, 127), "int4": (-8, 7), "int2": (-2, 1), "int16": (-(2**15), 2**15 - 1),
                "int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def validate_program(program: IntProgram) -> None:
    """Raise UserError on the first problem found; return None if the program can be written."""
    for key, tensor in program.tensors.items():
        if not isinstance(tensor, IntTensor):
            raise UserError(f"tensor '{key}' is a {type(tensor).__name__}, not an IntTensor")
        if tensor.name != key:
            raise UserError(f"tensor '{key}' is stored under a different name '{tensor.name}'")
        _check_tensor(tensor)
    _check_graph(program)
    for op in program.ops:
        if float_op.is_float_op(op, program.tensors):
            float_op.check(op, program.tensors)
        else:
            OP_SPECS[op.kind].check(op, program.tensors)
    _check_int4_users(program)
    _check_shared_buffers(program)


def _check_tensor(t: IntTensor) -> None:
    where = f"tensor '{t.name}'"
    if t.dtype not in TENSOR_DTYPES:
        raise UserError(f"{where} has dtype {t.dtype!r}, expected one of {', '.join(TENSOR_DTYPES)}")
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in t.shape):
        raise UserError(f"{where} has shape {t.shape}; dims must be non-negative ints")
    if (t.scale is None) != (t.zero_point is None):
        raise UserError(f"{where} must give both scale and zero_point or neither")
    if t.scale is not None:
        if len(t.scale) == 0 or len(t.scale) != len(t.zero_point):
            raise UserError(f"{where} has {len(t.scale)} scales and {len(t.zero_point)} zero points")
        if not all(np.isfinite(s) and s > 0 for s in t.scale):
            raise UserError(f"{where} has a scale that is not a positive finite number: {t.scale}")
        if t.dtype == "float32":
            raise UserError(f"{where} is float32 but quantized; float tensors carry no scale")
        if len(t.scale) > 1:
            if not 0 <= t.quantized_dimension < len(t.shape):
                raise UserError(f"{where} has quantized_dimension {t.quantized_dimension} for shape {t.shape}")
            if t.shape[t.quantized_dimension] != len(t.scale):
                raise UserError(f"{where} has {len(t.scale)} scales but {t.shape[t.quantized_dimension]} "
                                f"channels on axis {t.quantized_dimension}")
        lo, hi = VALUE_RANGES.get(t.dtype, (None, None))
        if lo is not None and not all(lo <= z <= hi for z in t.zero_point):
            raise UserError(f"{where} has a zero point outside the {t.dtype} range: {t.zero_point}")
    if t.data is None:
        if t.dtype in ("int4", "int2"):
            raise UserError(f"{where} is {t.dtype} but not a constant; {t.dtype} is only for packed weights")
        return
    data = np.asarray(t.data)
    if tuple(data.shape) != tuple(t.shape):
        raise UserError(f"{where} has data of shape {data.shape}, declared shape {t.shape}")
    if t.dtype == "float32":
        if data.dtype.kind != "f":
            raise UserError(f"{where} is float32 but its data has dtype {data.dtype}")
        return
    if data.dtype.kind not in "iu":
        raise UserError(f"{where} is {t.dtype} but its data has dtype {data.dtype}")
    lo, hi = VALUE_RANGES[t.dtype]
    if data.size and (int(data.min()) < lo or int(data.max()) > hi):
        raise UserError(f"{where} holds values in [{data.min()}, {data.max()}], outside {t.dtype} [{lo}, {hi}]")


def _check_graph(program: IntProgram) -> None:
    tensors = program.tensors
    if not program.inputs or not program.outputs:
        raise UserError("the program needs at least one input and one output")
    for role, names in (("input", program.inputs), ("output", program.outputs)):
        for name in names:
            if name not in tensors:
                raise UserError(f"program {role} '{name}' is not in the tensor table")
        if len(set(names)) != len(names):
            raise UserError(f"program {role}s list a tensor twice: {names}")
    available = set()
    for name in program.inputs:
        if tensors[name].data is not None:
            raise UserError(f"program input '{name}' is a constant")
        available.add(name)
    for op in program.ops:
        if not isinstance(op, IntOp):
            raise UserError(f"program op {op!r} is not an IntOp")
        if op.kind not in OP_SPECS:
            raise UserError(f"unknown op kind {op.kind!r} in op '{op.name or '?'}'; "
                            f"the TFLite writer knows {', '.join(OP_SPECS)}")
        for name in op.inputs:
            if not name:
                continue
            if name not in tensors:
                raise fail(op, f"input tensor '{name}' is not in the tensor table")
            if tensors[name].data is None and name not in available:
                raise fail(op, f"input tensor '{name}' is neither a constant, a program input nor "
                               "written by an earlier op")
        for name in op.outputs:
            if not name:
                raise fail(op, "an output name is empty")
            if name not in tensors:
                raise fail(op, f"output tensor '{name}' is not in the tensor table")
            if tensors[name].data is not None:
                raise fail(op, f"output tensor '{name}' is a constant")
            if name in available:
                raise fail(op, f"output tensor '{name}' is already written by an earlier op or is a program input")
            available.add(name)
    for name in program.outputs:
        if name not in available:
            raise UserError(f"program output '{name}' is never written")
    for key, value in program.metadata.items():
        if not isinstance(key, str) or not isinstance(value, (str, bytes)):
            raise UserError(f"metadata entry {key!r} must map a str key to a str or bytes value")


def _check_int4_users(program: IntProgram) -> None:
    """Packed int4 tensors may only be the weights (input 1) of CONV_2D / DEPTHWISE / FC."""
    for op in program.ops:
        for i, name in enumerate(op.inputs):
            if name and program.tensors[name].dtype == "int4" and (op.kind not in WEIGHT_OPS or i != 1):
                raise fail(op, f"int4 tensor '{name}' may only be the filter of {', '.join(WEIGHT_OPS)}")
            if name and program.tensors[name].dtype == "int2" and (op.kind != "FULLY_CONNECTED" or i != 1):
                raise fail(op, f"int2 tensor '{name}' may only be the weights of FULLY_CONNECTED")


def _check_shared_buffers(program: IntProgram) -> None:
    """Tensors sharing a buffer_key must hold identical bytes."""
    seen: dict[str, IntTensor] = {}
    for t in program.tensors.values():
        if t.buffer_key is None or t.data is None:
            continue
        first = seen.setdefault(t.buffer_key, t)
        if first is t:
            continue
        same = (first.dtype == t.dtype and math.prod(first.shape) == math.prod(t.shape)
                and np.array_equal(np.asarray(first.data).ravel(), np.asarray(t.data).ravel()))
        if not same:
            raise UserError(f"tensors '{first.name}' and '{t.name}' share buffer_key "
                            f"'{t.buffer_key}' but hold different data")
