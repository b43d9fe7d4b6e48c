"""validate(graph): structural and shape checks for a float Graph (see catdeploy/ir/graph.py).

Checks: unique node and value names, every value produced exactly once (graph input or one node),
topological order, no dangling names, only canonical OpKinds, the exact attribute set per kind with
well-formed values, the parameter set per kind (float32, consistent shapes), and that every output
shape equals the shape the op would produce from its input shapes. Raises InvalidGraph (a
ValueError) naming the offending node or value.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from catdeploy.ir.graph import ACTIVATIONS, Graph, Node, OpKind

_CONV_ATTRS = frozenset({"stride", "padding", "dilation", "groups", "activation"})
_POOL_ATTRS = frozenset({"kernel", "stride", "padding", "ceil_mode"})

# The attribute names each kind carries, exactly (graph.py documents their meaning).
ATTRS_BY_KIND: Mapping[OpKind, frozenset[str]] = {
    OpKind.CONV2D: _CONV_ATTRS,
    OpKind.DEPTHWISE_CONV2D: _CONV_ATTRS,
    OpKind.LINEAR: frozenset({"activation"}),
    OpKind.ADD: frozenset({"activation"}),
    OpKind.MUL: frozenset(),
    OpKind.RELU: frozenset(),
    OpKind.RELU6: frozenset(),
    OpKind.HARDSWISH: frozenset(),
    OpKind.MAX_POOL2D: _POOL_ATTRS,
    OpKind.AVG_POOL2D: _POOL_ATTRS | {"count_include_pad"},
    OpKind.GLOBAL_AVG_POOL: frozenset(),
    OpKind.FLATTEN: frozenset(),
    OpKind.CONCAT: frozenset({"axis"}),
    OpKind.PAD: frozenset({"pads", "value"}),
    OpKind.SIGMOID: frozenset(),
    OpKind.HARDSIGMOID: frozenset(),
    OpKind.SILU: frozenset(),
    OpKind.CHANNEL_SHUFFLE: frozenset({"groups"}),
    OpKind.SLICE: frozenset({"axis", "start", "stop"}),
    OpKind.LEAKY_RELU: frozenset({"negative_slope"}),
    OpKind.PRELU: frozenset({"alpha"}),
    OpKind.CLAMP: frozenset({"min", "max"}),
}

# The parameter names each kind carries, exactly.
PARAMS_BY_KIND: Mapping[OpKind, frozenset[str]] = {
    kind: (frozenset({"weight", "bias"})
           if kind in (OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D, OpKind.LINEAR) else frozenset())
    for kind in OpKind
}

# Optional params of a weighted node that absorbed a BatchNorm (capture/passes/fold_bn.py): the
# population mean and standard deviation of its output before the activation (BN's beta, |gamma|),
# used by PD-Quant's distribution correction.
BN_STATISTICS = frozenset({"bn_mean", "bn_std"})

# Number of tensor inputs per kind (None: one or more).
_ARITY: Mapping[OpKind, int | None] = {
    **{kind: 1 for kind in OpKind},
    OpKind.ADD: 2,
    OpKind.MUL: 2,
    OpKind.CONCAT: None,
}


class InvalidGraph(ValueError):
    """The graph breaks an invariant of catdeploy/ir/graph.py."""


def validate(graph: Graph) -> Graph:
    """Check `graph`; return it unchanged so calls can be chained. Raises InvalidGraph."""
    _check_structure(graph)
    for node in graph.nodes:
        _check_node(graph, node)
    return graph


def _check_structure(graph: Graph) -> None:
    for name, value in graph.values.items():
        if value.name != name:
            raise InvalidGraph(f"value key {name!r} holds a Value named {value.name!r}")
        if not all(isinstance(d, int) and d >= 0 for d in value.shape):
            raise InvalidGraph(f"value {name!r} has an invalid shape {value.shape!r}")
        if value.dtype != "float32":
            raise InvalidGraph(f"value {name!r} has dtype {value.dtype!r}; float graphs are float32")
    if not graph.inputs:
        raise InvalidGraph("graph has no inputs")
    if not graph.outputs:
        raise InvalidGraph("graph has no outputs")
    available: set[str] = set()
    for name in graph.inputs:
        if name not in graph.values:
            raise InvalidGraph(f"graph input {name!r} is not a known value")
        if name in available:
            raise InvalidGraph(f"graph input {name!r} is listed twice")
        available.add(name)
    produced = set(available)
    node_names: set[str] = set()
    for node in graph.nodes:
        if node.name in node_names:
            raise InvalidGraph(f"node name {node.name!r} is used twice")
        node_names.add(node.name)
        if not isinstance(node.kind, OpKind):
            raise InvalidGraph(f"node {node.name!r} has non-canonical kind {node.kind!r}")
        for name in node.inputs:
            if name not in graph.values:
                raise InvalidGraph(f"node {node.name!r} reads unknown value {name!r}")
            if name not in available:
                raise InvalidGraph(
                    f"node {node.name!r} reads value {name!r} before it is produced (not topological)")
        if len(node.outputs) != 1:
            raise InvalidGraph(f"node {node.name!r} must have exactly one output, has {len(node.outputs)}")
        for name in node.outputs:
            if name not in graph.values:
                raise InvalidGraph(f"node {node.name!r} writes unknown value {name!r}")
            if name in produced:
                raise InvalidGraph(f"value {name!r} is produced twice (again by node {node.name!r})")
            produced.add(name)
            available.add(name)
    for name in graph.outputs:
        if name not in available:
            raise InvalidGraph(f"graph output {name!r} is not produced by any node or input")
    orphans = sorted(set(graph.values) - produced)
    if orphans:
        raise InvalidGraph(f"values not produced by any node or input: {', '.join(orphans)}")


def _check_node(graph: Graph, node: Node) -> None:
    kind = node.kind
    where = f"node {node.name!r} ({kind.value})"
    arity = _ARITY[kind]
    if (arity is None and not node.inputs) or (arity is not None and len(node.inputs) != arity):
        raise InvalidGraph(f"{where} has {len(node.inputs)} inputs, expected {arity or 'at least 1'}")
    expected_attrs = ATTRS_BY_KIND[kind]
    if set(node.attrs) != expected_attrs:
        raise InvalidGraph(f"{where} has attrs {sorted(node.attrs)}, expected {sorted(expected_attrs)}")
    expected_params = PARAMS_BY_KIND[kind]
    if expected_params and set(node.params) == expected_params | BN_STATISTICS:
        expected_params = expected_params | BN_STATISTICS
    if set(node.params) != expected_params:
        raise InvalidGraph(f"{where} has params {sorted(node.params)}, expected {sorted(expected_params)}")
    for pname, array in node.params.items():
        if not isinstance(array, np.ndarray) or array.dtype != np.float32:
            raise InvalidGraph(f"{where} param {pname!r} must be a float32 numpy array")
    in_shapes = [graph.values[name].shape for name in node.inputs]
    try:
        expected = infer_shape(node, in_shapes)
    except InvalidGraph as exc:
        raise InvalidGraph(f"{where}: {exc}") from None
    actual = graph.values[node.output].shape
    if tuple(actual) != tuple(expected):
        raise InvalidGraph(f"{where} output {node.output!r} has shape {tuple(actual)}, "
                           f"the op produces {tuple(expected)} from inputs {in_shapes}")


# ---------------------------------------------------------------------------------------------
# Shape inference (also usable by passes that create new values)


def infer_shape(node: Node, in_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """Output shape of `node` given its input shapes; checks attrs and params on the way."""
    kind = node.kind
    attrs = node.attrs
    if kind in (OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D):
        return _conv_shape(kind, attrs, node.params, in_shapes[0])
    if kind == OpKind.LINEAR:
        _activation(attrs)
        (x,) = in_shapes
        weight, bias = node.params["weight"], node.params["bias"]
        if len(x) != 2:
            raise InvalidGraph(f"LINEAR input must be [N, IN], got {x}")
        if weight.ndim != 2 or weight.shape[1] != x[1] or bias.shape != (weight.shape[0],):
            raise InvalidGraph(f"LINEAR weight {weight.shape} / bias {bias.shape} do not fit input {x}")
        return (x[0], weight.shape[0])
    if kind in (OpKind.ADD, OpKind.MUL):
        if kind == OpKind.ADD:
            _activation(attrs)
        return _broadcast(in_shapes[0], in_shapes[1])
    if kind in (OpKind.RELU, OpKind.RELU6, OpKind.HARDSWISH, OpKind.SIGMOID, OpKind.HARDSIGMOID,
                OpKind.SILU):
        return tuple(in_shapes[0])
    if kind == OpKind.LEAKY_RELU:
        _finite_number(attrs, "negative_slope")
        return tuple(in_shapes[0])
    if kind == OpKind.PRELU:
        return _prelu_shape(attrs, in_shapes[0])
    if kind == OpKind.CLAMP:
        _clamp_bounds(attrs)
        return tuple(in_shapes[0])
    if kind == OpKind.CHANNEL_SHUFFLE:
        x = in_shapes[0]
        groups = attrs["groups"]
        if len(x) < 2 or not isinstance(groups, int) or isinstance(groups, bool) or groups < 1 \
                or x[1] % groups:
            raise InvalidGraph(f"CHANNEL_SHUFFLE groups={groups!r} does not divide the channels of {x}")
        return tuple(x)
    if kind == OpKind.SLICE:
        return _slice_shape(attrs, in_shapes[0])
    if kind in (OpKind.MAX_POOL2D, OpKind.AVG_POOL2D):
        return _pool_shape(kind, attrs, in_shapes[0])
    if kind == OpKind.GLOBAL_AVG_POOL:
        x = _rank4(in_shapes[0])
        return (x[0], x[1], 1, 1)
    if kind == OpKind.FLATTEN:
        x = in_shapes[0]
        if len(x) < 2:
            raise InvalidGraph(f"FLATTEN input must have a batch and a feature dimension, got {x}")
        return (x[0], math.prod(x[1:]))
    if kind == OpKind.CONCAT:
        return _concat_shape(attrs, in_shapes)
    if kind == OpKind.PAD:
        x = _rank4(in_shapes[0])
        top, left, bottom, right = _int_tuple(attrs, "pads", 4, minimum=0)
        if not isinstance(attrs["value"], (int, float)) or isinstance(attrs["value"], bool):
            raise InvalidGraph(f"PAD value must be a number, got {attrs['value']!r}")
        return (x[0], x[1], x[2] + top + bottom, x[3] + left + right)
    raise InvalidGraph(f"no shape rule for kind {kind!r}")


def _conv_shape(kind: OpKind, attrs: Mapping[str, Any], params: Mapping[str, np.ndarray],
                x: tuple[int, ...]) -> tuple[int, ...]:
    n, c, h, w = _rank4(x)
    sh, sw = _int_tuple(attrs, "stride", 2, minimum=1)
    top, left, bottom, right = _int_tuple(attrs, "padding", 4, minimum=0)
    dh, dw = _int_tuple(attrs, "dilation", 2, minimum=1)
    groups = attrs["groups"]
    _activation(attrs)
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1 or c % groups:
        raise InvalidGraph(f"groups={groups!r} does not divide {c} input channels")
    weight, bias = params["weight"], params["bias"]
    if weight.ndim != 4:
        raise InvalidGraph(f"weight must be [OC, IC/groups, KH, KW], got {weight.shape}")
    oc, icg, kh, kw = weight.shape
    if icg != c // groups or oc % groups or bias.shape != (oc,):
        raise InvalidGraph(f"weight {weight.shape} / bias {bias.shape} do not fit {c} input "
                           f"channels with groups={groups}")
    if kind == OpKind.DEPTHWISE_CONV2D and groups != c:
        raise InvalidGraph(f"DEPTHWISE_CONV2D needs groups == input channels ({c}), got {groups}")
    oh = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    ow = (w + left + right - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise InvalidGraph(f"kernel {(kh, kw)} does not fit the padded input {x}")
    return (n, oc, oh, ow)


def _pool_out(size: int, k: int, s: int, pad_begin: int, pad_end: int, ceil_mode: bool) -> int:
    """Pooled length; with ceil_mode the last window must start inside the input or begin padding
    (the rule of torch's pooling_output_shape)."""
    span = size + pad_begin + pad_end - k
    if span < 0:
        raise InvalidGraph(f"pool kernel {k} is larger than the padded input {size + pad_begin + pad_end}")
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + pad_begin:
        out -= 1
    return out


def _pool_shape(kind: OpKind, attrs: Mapping[str, Any], x: tuple[int, ...]) -> tuple[int, ...]:
    n, c, h, w = _rank4(x)
    kh, kw = _int_tuple(attrs, "kernel", 2, minimum=1)
    sh, sw = _int_tuple(attrs, "stride", 2, minimum=1)
    top, left, bottom, right = _int_tuple(attrs, "padding", 4, minimum=0)
    if not isinstance(attrs["ceil_mode"], bool):
        raise InvalidGraph(f"ceil_mode must be a bool, got {attrs['ceil_mode']!r}")
    if kind == OpKind.AVG_POOL2D and not isinstance(attrs["count_include_pad"], bool):
        raise InvalidGraph(f"count_include_pad must be a bool, got {attrs['count_include_pad']!r}")
    ceil = attrs["ceil_mode"]
    return (n, c, _pool_out(h, kh, sh, top, bottom, ceil), _pool_out(w, kw, sw, left, right, ceil))


def _concat_shape(attrs: Mapping[str, Any], shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    axis = attrs["axis"]
    rank = len(shapes[0])
    if not isinstance(axis, int) or isinstance(axis, bool) or not 0 <= axis < rank:
        raise InvalidGraph(f"CONCAT axis {axis!r} is not a non-negative axis of rank {rank}")
    if axis == 0:
        raise InvalidGraph("CONCAT along the batch axis is not supported")
    for s in shapes[1:]:
        if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != axis):
            raise InvalidGraph(f"CONCAT inputs {list(shapes)} differ outside axis {axis}")
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return tuple(out)


def _slice_shape(attrs: Mapping[str, Any], x: tuple[int, ...]) -> tuple[int, ...]:
    axis, start, stop = attrs["axis"], attrs["start"], attrs["stop"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (axis, start, stop)):
        raise InvalidGraph(f"SLICE axis/start/stop must be ints, got {axis!r}, {start!r}, {stop!r}")
    if not 1 <= axis < len(x):
        raise InvalidGraph(f"SLICE axis {axis} is not a non-batch axis of rank {len(x)}")
    if not 0 <= start < stop <= x[axis]:
        raise InvalidGraph(f"SLICE [{start}:{stop}] is not a non-empty range of size {x[axis]}")
    out = list(x)
    out[axis] = stop - start
    return tuple(out)


def _finite_number(attrs: Mapping[str, Any], key: str) -> float:
    value = attrs[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidGraph(f"attr {key!r} must be a finite number, got {value!r}")
    return float(value)


def _prelu_shape(attrs: Mapping[str, Any], x: tuple[int, ...]) -> tuple[int, ...]:
    alpha = attrs["alpha"]
    if len(x) < 2 or not isinstance(alpha, (tuple, list)) or len(alpha) != x[1]:
        raise InvalidGraph(f"PRELU alpha must hold one slope per channel of {x}, got {alpha!r}")
    for i in range(len(alpha)):
        _finite_number({"alpha": alpha[i]}, "alpha")
    return tuple(x)


def _clamp_bounds(attrs: Mapping[str, Any]) -> None:
    low = None if attrs["min"] is None else _finite_number(attrs, "min")
    high = None if attrs["max"] is None else _finite_number(attrs, "max")
    if low is None and high is None:
        raise InvalidGraph("CLAMP needs a min or a max")
    if low is not None and high is not None and not low < high:
        raise InvalidGraph(f"CLAMP min {low} must be below max {high}")


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    if len(a) != len(b):
        raise InvalidGraph(f"operands of rank {len(a)} and {len(b)} must have equal rank")
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise InvalidGraph(f"shapes {a} and {b} do not broadcast")
        out.append(max(x, y) if min(x, y) != 0 else 0)
    if a[0] != b[0]:
        raise InvalidGraph(f"operands {a} and {b} must share the batch dimension")
    return tuple(out)


def _rank4(x: Sequence[int]) -> tuple[int, int, int, int]:
    if len(x) != 4:
        raise InvalidGraph(f"input must be NCHW (rank 4), got shape {tuple(x)}")
    return tuple(x)  # type: ignore[return-value]


def _int_tuple(attrs: Mapping[str, Any], key: str, length: int, *, minimum: int) -> tuple[int, ...]:
    value = attrs[key]
    if (not isinstance(value, (tuple, list)) or len(value) != length
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value)):
        raise InvalidGraph(f"attr {key!r} must be {length} ints >= {minimum}, got {value!r}")
    return tuple(value)


def _activation(attrs: Mapping[str, Any]) -> str:
    act = attrs["activation"]
    if act not in ACTIVATIONS:
        raise InvalidGraph(f"activation {act!r} is not one of {ACTIVATIONS}")
    return act
