"""Trace a torch model with torch.fx and run it once to record what every fx node produced.

The record keeps, per fx node: the output shape of tensors, the concrete value of non-tensor
results (sizes, ints used for reshapes), and the aten ops the node dispatched (used to name
unsupported ops in errors). The model given here is already a private eval-mode copy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.fx as fx
from torch.utils._python_dispatch import TorchDispatchMode

from catdeploy.errors import UserError


@dataclass(frozen=True)
class TensorMeta:
    shape: tuple[int, ...]
    dtype: torch.dtype


@dataclass(frozen=True)
class TensorTuple:
    """A tuple/list that holds tensors (e.g. torch.split, a module returning several tensors)."""

    length: int


@dataclass(frozen=True)
class NodeRecord:
    result: Any                 # TensorMeta | TensorTuple | concrete Python value
    aten_ops: tuple[str, ...]   # e.g. ("aten.sigmoid",), in first-call order, no repeats


@dataclass(frozen=True)
class Traced:
    module: fx.GraphModule
    records: Mapping[fx.Node, NodeRecord]


class _AtenLog(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = f"aten.{func.overloadpacket.__name__}"
        if name not in self.names:
            self.names.append(name)
        return func(*args, **(kwargs or {}))


class _Recorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.records: dict[fx.Node, NodeRecord] = {}

    def run_node(self, n: fx.Node) -> Any:
        if n.op in ("call_module", "call_function", "call_method"):
            log = _AtenLog()
            with log:
                result = super().run_node(n)
            aten = tuple(log.names)
        else:
            result = super().run_node(n)
            aten = ()
        self.records[n] = NodeRecord(_describe(result), aten)
        return result


def _describe(result: Any) -> Any:
    if isinstance(result, torch.Tensor):
        return TensorMeta(tuple(int(d) for d in result.shape), result.dtype)
    if isinstance(result, (tuple, list)) and any(isinstance(r, torch.Tensor) for r in result):
        return TensorTuple(len(result))
    return result


class _Tracer(fx.Tracer):
    """fx's tracer, plus: modules capture has a handler for stay leaves even when their class is
    defined outside torch.nn (e.g. a subclass of nn.Conv2d that keeps its forward). Stack traces
    are recorded so that an unsupported call is reported with its file and line."""

    record_stack_traces = True

    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        from catdeploy.capture.ops import module_handler

        return super().is_leaf_module(m, module_qualified_name) or module_handler(m) is not None


def trace(model: torch.nn.Module, input_shape: tuple[int, ...], model_name: str) -> Traced:
    """Trace `model` with torch.fx and run it on one seeded random input of `input_shape`. A
    program read from a .pt2 file (capture.exported.ExportedModel) is already an fx graph and is
    used as it is."""
    from catdeploy.capture.exported import ExportedModel

    if isinstance(model, ExportedModel):
        gm = model.program
    else:
        try:
            tracer = _Tracer()
            fx_graph = tracer.trace(model)
            gm = fx.GraphModule(tracer.root, fx_graph, model_name)
        except Exception as exc:  # fx raises many types (TraceError, TypeError, AttributeError, ...)
            raise UserError(f"cannot trace model {model_name} with torch.fx: "
                            f"{type(exc).__name__}: {_first_line(exc)}") from None
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise UserError(f"model {model_name} takes {len(placeholders)} inputs; capture supports exactly one")
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(tuple(input_shape), generator=generator)
    recorder = _Recorder(gm)
    try:
        with torch.no_grad():
            recorder.run(x)
    except Exception as exc:
        raise UserError(f"model {model_name} fails on an input of shape {tuple(input_shape)}: "
                        f"{type(exc).__name__}: {_first_line(exc)}") from None
    return Traced(gm, recorder.records)


def _first_line(exc: BaseException, limit: int = 240) -> str:
    """The exception's first non-empty line, cut to `limit` characters (refusals stay short)."""
    for line in str(exc).splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[:limit - 3] + "..."
    return "(no message)"
