"""GATHER: inputs (params, int32 indices); GatherOptions(axis, batch_dims); int8 version 2,
batch_dims != 0 version 5 (gather.cc copies raw values, so int8 qparams must match)."""
from __future__ import annotations

from catdeploy.export.tflite.ops._common import (
    OpSpec, expect_arity, expect_dtype, expect_same_qparams, expect_shape, fail, int_option,
    int_values, required,
)


def _axes(op, params_rank: int, indices_rank: int) -> tuple[int, int]:
    axis = int_option(op, "axis", 0)
    batch_dims = int_option(op, "batch_dims", 0)
    if not -params_rank <= axis < params_rank:
        raise fail(op, f"axis {axis} is out of range for rank {params_rank}")
    if not -indices_rank <= batch_dims <= indices_rank:
        raise fail(op, f"batch_dims {batch_dims} is out of range for indices of rank {indices_rank}")
    axis %= params_rank
    batch_dims = batch_dims + indices_rank if batch_dims < 0 else batch_dims
    if batch_dims > axis:
        raise fail(op, f"batch_dims {batch_dims} must not exceed axis {axis}")
    return axis, batch_dims


def check(op, tensors) -> None:
    expect_arity(op, (2, 2))
    params = required(op, tensors, 0, "params")
    indices = required(op, tensors, 1, "indices")
    out = tensors[op.outputs[0]]
    expect_dtype(op, params, "params", "int8", "int32", "float32")
    expect_dtype(op, indices, "indices", "int32")
    if out.dtype != params.dtype:
        raise fail(op, f"output dtype {out.dtype} differs from params dtype {params.dtype}")
    if params.dtype == "int8":
        expect_same_qparams(op, params, out, "GATHER copies raw values")
    axis, batch_dims = _axes(op, len(params.shape), len(indices.shape))
    if tuple(params.shape[:batch_dims]) != tuple(indices.shape[:batch_dims]):
        raise fail(op, f"the first {batch_dims} dims of params and indices must agree")
    if indices.data is not None:
        values = int_values(op, indices, "indices")
        if values.size and (values.min() < 0 or values.max() >= params.shape[axis]):
            raise fail(op, f"indices '{indices.name}' leave [0, {params.shape[axis]}) on axis {axis}")
    want = tuple(params.shape[:axis]) + tuple(indices.shape[batch_dims:]) + tuple(params.shape[axis + 1:])
    expect_shape(op, out, "output", want)


def version(op, tensors) -> int:
    if int_option(op, "batch_dims", 0) != 0:
        return 5
    return 2 if tensors[op.inputs[0]].dtype == "int8" else 1


def build_options(op, schema):
    return schema.GatherOptionsT(axis=int_option(op, "axis", 0), batchDims=int_option(op, "batch_dims", 0))


SPEC = OpSpec(kind="GATHER", options_type="GatherOptions", build_options=build_options,
              version=version, runtime_versions={1: "1.6.0", 2: "1.14.0", 5: "2.5.0"}, check=check)
