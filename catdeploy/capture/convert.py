"""fx graph (with its recorded run) -> a Graph of canonical and capture-only kinds.

Every fx call that produced a tensor becomes one node through the handler registries in
capture/ops. Calls without a tensor result (x.size(0), shape arithmetic) are evaluated at capture
time and their values passed to the handlers. Everything that cannot be converted is collected and
reported at once (capture/refusal.py: one line grouped by op kind, every site as data).

A call that overwrites its input (x.relu_(), F.relu(x, inplace=True), nn.ReLU(inplace=True)) is
read as producing a new value that every later reader of the input reads instead, which is what
torch computes even when the forward ignores the call's result.
"""
from __future__ import annotations

import operator
from typing import Any

import torch
import torch.fx as fx

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.ops import (
    FUNCTION_HANDLERS, METHOD_HANDLERS, MULTI_FUNCTION_HANDLERS, MULTI_METHOD_HANDLERS, module_handler,
)
from catdeploy.capture.ops._base import OpCall, TensorArg, Unsupported
from catdeploy.capture.ops.scalar import refusal_reason as scalar_refusal_reason
from catdeploy.capture.ops.split import Parts
from catdeploy.capture.refusal import CaptureRefused, UnsupportedOp, source_line
from catdeploy.capture.trace import TensorMeta, TensorTuple, Traced
from catdeploy.errors import UserError
from catdeploy.ir.graph import Graph, Node, OpKind, Value


class _Names:
    """Unique, deterministic node/value names; a repeated name gets '@1', '@2', ... (torch's own
    convention for a module called more than once)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, base: str) -> str:
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}@{k}"
        self.used.add(name)
        return name


def to_raw_graph(traced: Traced, model_name: str) -> Graph:
    """Convert every fx node; raise one CaptureRefused listing all unsupported ops."""
    gm, records = traced.module, traced.records
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    names = _Names()
    env: dict[fx.Node, Any] = {}
    nodes: list[Node] = []
    values: dict[str, Value] = {}
    inputs: list[str] = []
    outputs: list[str] = []
    unsupported: list[UnsupportedOp] = []
    tuple_producers: set[fx.Node] = set()

    for fx_node in gm.graph.nodes:
        result = records[fx_node].result if fx_node in records else None
        if fx_node.op == "placeholder":
            name = names.take(fx_node.name)
            env[fx_node] = TensorArg(name, result.shape)
            values[name] = Value(name, result.shape)
            inputs.append(name)
            continue
        if fx_node.op == "get_attr":
            env[fx_node] = _fetch_attr(gm, fx_node.target)
            continue
        if fx_node.op == "output":
            outputs.extend(_graph_outputs(fx_node, env, model_name))
            continue
        if isinstance(result, TensorTuple):
            multi = _multi_handler(fx_node)
            if multi is not None:
                call = OpCall(name=fx_node.name, module=None,
                              args=tuple(_resolve(a, env) for a in fx_node.args),
                              kwargs={k: _resolve(v, env) for k, v in fx_node.kwargs.items()})
                try:
                    env[fx_node] = multi(call)
                    continue
                except Unsupported as exc:
                    unsupported.append(_unsupported(gm, fx_node, records, str(exc)))
                    tuple_producers.add(fx_node)
                    env[fx_node] = result
                    continue
            # A call returning several tensors: reported here; the getitem calls that unpack it
            # are not reported again.
            tuple_producers.add(fx_node)
            unsupported.append(_unsupported(gm, fx_node, records, "returns several tensors"))
            env[fx_node] = result
            continue
        if not isinstance(result, TensorMeta):
            env[fx_node] = result  # static: sizes, ints, ... evaluated at capture time
            continue
        module = gm.get_submodule(fx_node.target) if fx_node.op == "call_module" else None
        name = names.take(fx_node.target if module is not None else fx_node.name)
        args = tuple(_resolve(a, env) for a in fx_node.args)
        kwargs = {k: _resolve(v, env) for k, v in fx_node.kwargs.items()}
        env[fx_node] = TensorArg(name, result.shape)
        values[name] = Value(name, result.shape)
        if fx_node.op == "call_function" and fx_node.target is operator.getitem \
                and isinstance(fx_node.args[0], fx.Node) and fx_node.args[0] in tuple_producers:
            continue
        if fx_node.op == "call_function" and fx_node.target is operator.getitem \
                and isinstance(args[0], Parts):
            nodes.append(_part(name, args[0], args[1]))
            continue
        if result.dtype != torch.float32:
            unsupported.append(_unsupported(gm, fx_node, records, f"produces {result.dtype}"))
            continue
        handler = _handler(fx_node, module)
        if handler is None:
            unsupported.append(_unsupported(gm, fx_node, records, ""))
            continue
        call = OpCall(name=name, module=module, args=args, kwargs=kwargs, output_shape=result.shape)
        try:
            node = handler(call)
            if node.kind in (CaptureKind.RESHAPE, CaptureKind.TRANSPOSE, CaptureKind.SCALAR):
                # Resolved by the vector_reshape / channel_shuffle / hard_activations passes,
                # which refuse leftovers as this site.
                refusal = _unsupported(gm, fx_node, records, _refusal_reason(node, args))
                node = Node(node.name, node.kind, node.inputs, node.outputs,
                            {**node.attrs, "refusal": refusal})
            overwritten = _overwritten(fx_node, module, order)
            nodes.append(node)
        except Unsupported as exc:
            unsupported.append(_unsupported(gm, fx_node, records, str(exc)))
            continue
        for alias in overwritten:
            env[alias] = env[fx_node]

    if unsupported:
        raise CaptureRefused(model_name, unsupported)
    return Graph(nodes=tuple(nodes), values=values, inputs=tuple(inputs), outputs=tuple(outputs),
                 name=model_name)


def _handler(fx_node: fx.Node, module: torch.nn.Module | None):
    if module is not None:
        return module_handler(module)
    if fx_node.op == "call_function":
        try:
            return FUNCTION_HANDLERS.get(fx_node.target)
        except TypeError:  # unhashable target
            return None
    if fx_node.op == "call_method":
        return METHOD_HANDLERS.get(fx_node.target)
    return None


def _refusal_reason(node: Node, args) -> str:
    """Why a RESHAPE / TRANSPOSE / SCALAR that the passes leave over is refused."""
    if node.kind == CaptureKind.SCALAR:
        return scalar_refusal_reason(node)
    source = args[0].shape if args and isinstance(args[0], TensorArg) else "?"
    if node.kind == CaptureKind.RESHAPE:
        return (f"reshape {source} -> {tuple(node.attrs['shape'])} is neither a per-sample flatten "
                f"nor part of a channel shuffle")
    return f"transpose of dims {tuple(node.attrs['dims'])} is not part of a channel shuffle"


def _multi_handler(fx_node: fx.Node):
    if fx_node.op == "call_function":
        try:
            return MULTI_FUNCTION_HANDLERS.get(fx_node.target)
        except TypeError:
            return None
    if fx_node.op == "call_method":
        return MULTI_METHOD_HANDLERS.get(fx_node.target)
    return None


def _part(name: str, parts: Parts, index: Any) -> Node:
    """parts[index] as a SLICE of the split's source."""
    start, stop = parts.ranges[index]
    return Node(name=name, kind=OpKind.SLICE, inputs=(parts.source.name,), outputs=(name,),
                attrs={"axis": parts.axis, "start": start, "stop": stop})


def _resolve(arg: Any, env: dict[fx.Node, Any]) -> Any:
    if isinstance(arg, fx.Node):
        return env[arg]
    if isinstance(arg, (tuple, list)):
        return type(arg)(_resolve(a, env) for a in arg)
    if isinstance(arg, dict):
        return {k: _resolve(v, env) for k, v in arg.items()}
    return arg


def _fetch_attr(gm: fx.GraphModule, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _graph_outputs(fx_node: fx.Node, env: dict[fx.Node, Any], model_name: str) -> list[str]:
    (result,) = fx_node.args
    items = result if isinstance(result, (tuple, list)) else (result,)
    names = []
    for item in items:
        value = env.get(item) if isinstance(item, fx.Node) else None
        if not isinstance(value, TensorArg):
            raise UserError(f"model {model_name}: output {item!r} is not a tensor (capture supports "
                            f"a tensor or a tuple of tensors)")
        names.append(value.name)
    return names


def _unsupported(gm: fx.GraphModule, fx_node: fx.Node, records, reason: str) -> UnsupportedOp:
    aten_ops = records[fx_node].aten_ops if fx_node in records else ()
    if fx_node.op == "call_module":
        module = gm.get_submodule(fx_node.target)
        where, what = fx_node.target, _qualified_class(type(module))
    else:
        stack = fx_node.meta.get("nn_module_stack") or {}
        enclosing = next(reversed(stack.values()))[0] if stack else ""
        where = f"{enclosing}/{fx_node.name}" if enclosing else fx_node.name
        what = (f"Tensor.{fx_node.target}" if fx_node.op == "call_method"
                else _qualified_function(fx_node.target))
    if aten_ops:
        aten = "+".join(aten_ops[:3]) + ("+..." if len(aten_ops) > 3 else "")
    else:
        aten = what
    return UnsupportedOp(aten=aten, where=where, what=what, reason=reason, source=_source_line(fx_node))


def _source_line(fx_node: fx.Node) -> str:
    """'path/model.py:42' where the call was made, from the stack fx recorded (refusal.source_line)."""
    return source_line(fx_node.stack_trace)


# Calls that return their input tensor itself (same storage, same values) in eval mode, and calls
# that return a view of it (same storage, another shape or part).
_SAME_TENSOR_MODULES = (torch.nn.Identity, torch.nn.Dropout, torch.nn.Dropout1d, torch.nn.Dropout2d,
                        torch.nn.Dropout3d, torch.nn.AlphaDropout, torch.nn.FeatureAlphaDropout)
_VIEW_METHODS = frozenset({"view", "view_as", "reshape", "flatten", "squeeze", "unsqueeze", "narrow",
                           "transpose", "permute", "expand", "expand_as", "contiguous", "detach"})
_VIEW_FUNCTIONS = frozenset({operator.getitem, torch.flatten, torch.reshape, torch.squeeze,
                             torch.unsqueeze, torch.narrow, torch.transpose, torch.permute,
                             torch.detach})
_INPLACE_FUNCTIONS = frozenset({operator.iadd, operator.imul, operator.isub, operator.itruediv})


def _overwritten(fx_node: fx.Node, module: torch.nn.Module | None, order: dict[fx.Node, int]) -> list[fx.Node]:
    """The fx nodes whose tensor this call overwrites in place (its input, and the tensors that
    input is the same object as: the outputs of nn.Identity, eval-mode dropout and other in-place
    calls, as in x.add_(3).clamp_(0, 6)), which later readers must read as this call's result; []
    for a call that does not work in place. Unsupported when the input is a view of a tensor that
    is read again later (that tensor would change too)."""
    if not _in_place(fx_node, module):
        return []
    first = fx_node.args[0] if fx_node.args else fx_node.kwargs.get("input")
    aliases: list[fx.Node] = []
    while isinstance(first, fx.Node):
        aliases.append(first)
        source = first.args[0] if first.args and isinstance(first.args[0], fx.Node) else None
        if source is None:
            break
        submodule = _submodule(first) if first.op == "call_module" else None
        if isinstance(submodule, _SAME_TENSOR_MODULES) or _in_place(first, submodule):
            first = source
            continue
        if _is_view(first) and any(order[user] > order[fx_node] for user in source.users if user is not first):
            raise Unsupported(f"works in place on a view of {source.name}, which is read again later")
        break
    return aliases


def _in_place(fx_node: fx.Node, module: torch.nn.Module | None) -> bool:
    if fx_node.op == "call_module":
        return getattr(module, "inplace", False) is True
    if fx_node.op == "call_method":
        return fx_node.target.endswith("_") and not fx_node.target.startswith("_")
    if fx_node.op != "call_function":
        return False
    if fx_node.target in _INPLACE_FUNCTIONS or getattr(fx_node.target, "__name__", "").endswith("_"):
        return True
    try:
        import inspect

        bound = inspect.signature(fx_node.target).bind(*fx_node.args, **fx_node.kwargs)
    except (TypeError, ValueError):  # builtins without a signature, unexpected arguments
        return False
    return bound.arguments.get("inplace") is True


def _is_view(fx_node: fx.Node) -> bool:
    if fx_node.op == "call_method":
        return fx_node.target in _VIEW_METHODS
    if fx_node.op == "call_function":
        try:
            return fx_node.target in _VIEW_FUNCTIONS
        except TypeError:
            return False
    return fx_node.op == "call_module" and isinstance(_submodule(fx_node), torch.nn.Flatten)


def _submodule(fx_node: fx.Node) -> torch.nn.Module | None:
    root = fx_node.graph.owning_module
    try:
        return root.get_submodule(fx_node.target) if root is not None else None
    except AttributeError:
        return None


def _qualified_class(cls: type) -> str:
    if getattr(torch.nn, cls.__name__, None) is cls:
        return f"torch.nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _qualified_function(fn: Any) -> str:
    name = getattr(fn, "__name__", None) or repr(fn)
    for prefix, namespace in (("torch", torch), ("torch.nn.functional", torch.nn.functional),
                              ("operator", operator)):
        if getattr(namespace, name, None) is fn:
            return f"{prefix}.{name}"
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module else name
