"""fx graph (with its recorded run) -> a Graph of canonical and capture-only kinds.

Every fx call that produced a tensor becomes one node through the handler registries in
capture/ops. Calls without a tensor result (x.size(0), shape arithmetic) are evaluated at capture
time and their values passed to the handlers. Everything that cannot be converted is collected and
reported in a single UserError line.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.fx as fx

from catdeploy.capture.kinds import CaptureKind
from catdeploy.capture.ops import (
    FUNCTION_HANDLERS, METHOD_HANDLERS, MULTI_FUNCTION_HANDLERS, MULTI_METHOD_HANDLERS, module_handler,
)
from catdeploy.capture.ops._base import OpCall, TensorArg, Unsupported
from catdeploy.capture.ops.split import Parts
from catdeploy.capture.trace import TensorMeta, TensorTuple, Traced
from catdeploy.errors import UserError
from catdeploy.ir.graph import Graph, Node, OpKind, Value


@dataclass(frozen=True)
class UnsupportedOp:
    aten: str    # "aten.sigmoid" (the aten ops the call dispatched; the torch name if none)
    where: str   # module path, or "<enclosing module path>/<fx node name>" for functions
    what: str    # "torch.nn.Sigmoid", "torch.sigmoid", "Tensor.sigmoid"
    reason: str  # why a known op was refused; "" for unknown ops
    source: str = ""  # "model.py:42" where the user's code made the call (fx's recorded stack)

    def describe(self) -> str:
        detail = f"{self.what}: {self.reason}" if self.reason else self.what
        return f"{self.aten} at {self.where} ({detail}{f'; {self.source}' if self.source else ''})"


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
    """Convert every fx node; raise one UserError listing all unsupported ops."""
    gm, records = traced.module, traced.records
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
            if node.kind in (CaptureKind.RESHAPE, CaptureKind.TRANSPOSE):
                # Resolved by the channel_shuffle pass, which refuses leftovers with this text.
                refusal = _unsupported(gm, fx_node, records, _refusal_reason(node, args)).describe()
                node = Node(node.name, node.kind, node.inputs, node.outputs,
                            {**node.attrs, "refusal": refusal})
            nodes.append(node)
        except Unsupported as exc:
            unsupported.append(_unsupported(gm, fx_node, records, str(exc)))

    if unsupported:
        raise UserError(f"model {model_name}: unsupported ops: "
                        + ", ".join(u.describe() for u in unsupported))
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
    """Why a RESHAPE / TRANSPOSE that the channel_shuffle pass leaves over is refused."""
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
    """'path/model.py:42' of the innermost frame fx recorded for the call (the user's forward)."""
    import re

    torch_dir = str(Path(torch.__file__).parent)
    frames = [(path, line) for path, line in re.findall(r'File "([^"]+)", line (\d+)', fx_node.stack_trace or "")
              if not path.startswith(torch_dir)]
    if not frames:
        return ""
    path, line = frames[-1]
    return f"{path}:{line}"


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
