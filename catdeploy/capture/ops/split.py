"""Parts of a graph tensor along one non-batch dim -> SLICE.

torch.chunk / torch.split / Tensor.chunk / Tensor.split return several tensors, so their handlers
return the parts' (start, stop) ranges and each `parts[i]` that the model reads becomes a SLICE
node (capture/convert.py). Indexing with slices (`x[:, :c]`, `x[:, a:b, :, :]`, `x[..., :w]`) and
torch.narrow / Tensor.narrow become one SLICE directly (an index that keeps everything: IDENTITY);
indexing that only adds unit dims (`s[:, :, None, None]`, `s[..., None]`) is a RESHAPE."""
from __future__ import annotations

import operator
from dataclasses import dataclass

import torch

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.ops._base import OpCall, TensorArg, Unsupported, normalize_axis, tensor
from catdeploy.ir.graph import Node, OpKind


@dataclass(frozen=True)
class Parts:
    """The result of a split: the source value, the axis and each part's [start, stop)."""

    source: TensorArg
    axis: int
    ranges: tuple[tuple[int, int], ...]


def _ranges(sizes) -> tuple[tuple[int, int], ...]:
    out, start = [], 0
    for size in sizes:
        out.append((start, start + size))
        start += size
    return tuple(out)


def convert_chunk(call: OpCall) -> Parts:
    a = call.bind(lambda input, chunks, dim=0: None)
    x = tensor(a["input"])
    axis = normalize_axis(a["dim"], len(x.shape))
    if axis == 0:
        raise Unsupported("chunk along the batch dimension")
    chunks = a["chunks"]
    if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:
        raise Unsupported(f"chunks={chunks!r}")
    size = x.shape[axis]
    step = -(-size // chunks)  # torch.chunk: parts of ceil(size / chunks), the last one smaller
    return Parts(x, axis, _ranges([min(step, size - s) for s in range(0, size, step)]))


def convert_split(call: OpCall) -> Parts:
    a = call.bind(lambda input, split_size_or_sections, dim=0: None)
    x = tensor(a["input"])
    axis = normalize_axis(a["dim"], len(x.shape))
    if axis == 0:
        raise Unsupported("split along the batch dimension")
    size, spec = x.shape[axis], a["split_size_or_sections"]
    if isinstance(spec, int) and not isinstance(spec, bool) and spec > 0:
        sizes = [min(spec, size - s) for s in range(0, size, spec)]
    elif isinstance(spec, (list, tuple)) and all(isinstance(v, int) and v >= 0 for v in spec) \
            and sum(spec) == size:
        sizes = list(spec)
    else:
        raise Unsupported(f"split_size_or_sections={spec!r} for a dimension of size {size}")
    return Parts(x, axis, _ranges(sizes))


def _slice_node(call: OpCall, x: TensorArg, axis: int, start: int, stop: int) -> Node:
    size = x.shape[axis]
    if axis == 0:
        raise Unsupported("slices the batch dimension")
    if not 0 <= start < stop <= size:
        raise Unsupported(f"[{start}:{stop}] of dimension {axis} (size {size}) is empty")
    if (start, stop) == (0, size):
        return call.node(CaptureKind.IDENTITY, [x])
    return call.node(OpKind.SLICE, [x], {"axis": axis, "start": start, "stop": stop})


def convert_getitem(call: OpCall) -> Node:
    """x[index] with `index` made of full slices, at most one slice with step 1 that keeps part
    of a non-batch dimension, and at most one Ellipsis; or of full slices and new unit dims (None)
    after the batch dimension."""
    x, index = tensor(call.args[0]), call.args[1]
    items = list(index) if isinstance(index, tuple) else [index]
    if sum(item is Ellipsis for item in items) > 1:
        raise Unsupported(f"index {index!r}")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        used = sum(item is not None for item in items) - 1
        items[at:at + 1] = [slice(None)] * (len(x.shape) - used)
    if None in items:
        if items[0] is None or not all(item is None or item == slice(None) for item in items):
            raise Unsupported(f"index {index!r} (new axes are supported after the batch dimension "
                              f"and with full slices only)")
        return call.node(CaptureKind.RESHAPE, [x], {"shape": tuple(call.output_shape)})
    if len(items) > len(x.shape) or not all(isinstance(item, slice) for item in items):
        raise Unsupported(f"index {index!r} (only slices keep the rank)")
    parts = []
    for axis, item in enumerate(items):
        if not all(v is None or (isinstance(v, int) and not isinstance(v, bool))
                   for v in (item.start, item.stop, item.step)):
            raise Unsupported(f"index {index!r}")
        start, stop, step = item.indices(x.shape[axis])
        if step != 1:
            raise Unsupported(f"slice with step {step}")
        if (start, stop) != (0, x.shape[axis]):
            parts.append((axis, start, stop))
    if len(parts) > 1:
        raise Unsupported(f"index {index!r} slices {len(parts)} dimensions (one is supported)")
    if not parts:
        return call.node(CaptureKind.IDENTITY, [x])
    return _slice_node(call, x, *parts[0])


def convert_narrow(call: OpCall) -> Node:
    a = call.bind(lambda input, dim, start, length: None)
    x = tensor(a["input"])
    axis = normalize_axis(a["dim"], len(x.shape))
    start, length = a["start"], a["length"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, length)):
        raise Unsupported(f"start={start!r}, length={length!r}")
    start = start + x.shape[axis] if start < 0 else start
    return _slice_node(call, x, axis, start, start + length)


MULTI_FUNCTIONS = {torch.chunk: convert_chunk, torch.split: convert_split}
FUNCTIONS = {operator.getitem: convert_getitem, torch.narrow: convert_narrow}
METHODS = {"narrow": convert_narrow}
MULTI_METHODS = {"chunk": convert_chunk, "split": convert_split}
