"""torch.chunk / torch.split / Tensor.chunk / Tensor.split of a graph tensor along one non-batch
dim: the call returns several tensors, so its handler returns the parts' (start, stop) ranges and
each `parts[i]` that the model reads becomes a SLICE node (capture/convert.py)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from catdeploy.capture.ops._base import OpCall, TensorArg, Unsupported, normalize_axis, tensor


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


MULTI_FUNCTIONS = {torch.chunk: convert_chunk, torch.split: convert_split}
MULTI_METHODS = {"chunk": convert_chunk, "split": convert_split}
