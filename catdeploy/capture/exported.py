"""torch.export programs (.pt2) -> an fx graph that capture converts like a traced nn.Module.

An ExportedProgram is already traced, at the aten level: convolutions, batch norms and linear
layers are aten calls on parameters (get_attr), everything else is an aten call too. This module
raises it back to the level capture reads: aten.conv2d / aten.batch_norm / aten.linear with their
parameters become nn.Conv2d / nn.BatchNorm2d / nn.Linear submodules (named by the program's
nn_module_stack, so the Graph's names are the ones the original model would have given), and the
other aten ops become the torch functions whose capture handlers exist (aten.relu -> torch.relu,
aten.add.Tensor -> operator.add, ...). Every node keeps the program's stack trace, so an op capture
refuses is reported with the user's file and line. Ops with no counterpart are all listed at once
(CaptureRefused: one line grouped by op kind, every site as data).

Loading never unpickles anything but tensors: torch.export.load's pickle fallbacks (custom objects,
opaque constants, non-tensor payloads) are refused while it runs.
"""
from __future__ import annotations

import contextlib
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from catdeploy.capture.refusal import CaptureRefused, UnsupportedOp, source_line
from catdeploy.errors import UserError


class ExportedModel(nn.Module):
    """The raised program of a .pt2 file: an nn.Module whose forward is that program, already an fx
    graph (capture uses it as is, without tracing again)."""

    def __init__(self, program: fx.GraphModule, input_shape: tuple[int, ...], source: str) -> None:
        super().__init__()
        self.program = program
        self.input_shape = tuple(input_shape)  # NCHW of the example input the program was exported with
        self.source = source

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.program(x)


# ----------------------------------------------------------------------------------------------
# loading without unpickling code

class _Refused(Exception):
    pass


def _refuse(*args, **kwargs):
    raise _Refused("a pickled object that is not a tensor")


@contextlib.contextmanager
def _tensors_only():
    """While torch.export.load runs: torch.load only with weights_only=True, no pickle.loads and no
    TorchScript object unpickling (the fallbacks it uses for custom objects)."""
    import pickle

    from torch.export.pt2_archive import _package

    real_load = torch.load

    def weights_only_load(*args, **kwargs):
        kwargs["weights_only"] = True
        return real_load(*args, **kwargs)

    saved = (torch.load, _package.pickle, torch._C._pickle_load_obj)
    torch.load = weights_only_load
    _package.pickle = type("NoPickle", (), {"loads": staticmethod(_refuse), "load": staticmethod(_refuse),
                                            "UnpicklingError": pickle.UnpicklingError})
    torch._C._pickle_load_obj = _refuse
    try:
        yield
    finally:
        torch.load, _package.pickle, torch._C._pickle_load_obj = saved


def load_exported_program(path: str | Path):
    """The ExportedProgram saved in `path` by torch.export.save; UserError naming the file when it
    is missing, not a .pt2 archive, or holds pickled objects other than tensors."""
    import pickle
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise UserError(f"model {path}: file not found")
    if not zipfile.is_zipfile(path):
        raise UserError(f"model {path}: not a torch.export archive (.pt2 files are zip archives "
                        f"written by torch.export.save)")
    try:
        with _tensors_only():
            program = torch.export.load(str(path))
    except (_Refused, pickle.UnpicklingError) as exc:
        raise UserError(f"model {path}: holds {exc if isinstance(exc, _Refused) else 'pickled objects'}; "
                        f"refused (only tensors are loaded, as with weights_only=True)") from None
    except Exception as exc:
        raise UserError(f"model {path}: torch.export.load failed: {type(exc).__name__}: "
                        f"{_first_line(exc)}") from None
    if not isinstance(program, torch.export.ExportedProgram):
        raise UserError(f"model {path}: holds a {type(program).__name__}, not an ExportedProgram")
    return program


# ----------------------------------------------------------------------------------------------
# raising aten calls to modules and torch functions

@dataclass(frozen=True)
class _Raised:
    """How one aten op is expressed for capture: a builder of the new node."""

    build: Callable[["_Raiser", fx.Node, tuple, dict], Any]


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _pair(v: Any) -> tuple[int, int]:
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return (int(v[0]), int(v[-1])) if v else (1, 1)


class _Raiser:
    def __init__(self, gm: fx.GraphModule, batch: int | None) -> None:
        self.gm = gm
        self.batch = batch  # the static batch size of the program, None when dynamic
        self.graph = fx.Graph()
        self.root: dict[str, Any] = {}
        self.env: dict[fx.Node, Any] = {}
        self.unsupported: list[UnsupportedOp] = []

    # helpers
    def tensor_attr(self, node: Any) -> torch.Tensor | None:
        if node is None:
            return None
        if isinstance(node, fx.Node) and node.op == "get_attr":
            obj: Any = self.gm
            for part in node.target.split("."):
                obj = getattr(obj, part)
            return obj.detach().clone()
        raise _NotRaisable("its parameters are computed in the graph, not stored tensors")

    def module_name(self, node: fx.Node) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        path = next(reversed(stack.values()))[0] if stack else ""
        base = re.sub(r"[^A-Za-z0-9_.]", "_", path) or node.name
        name, k = base, 0
        while name in self.root or any(key.startswith(name + ".") for key in self.root):
            k += 1
            name = f"{base}_{k}"
        return name

    def value(self, a: Any) -> Any:
        if isinstance(a, fx.Node):
            return self.env[a]
        if isinstance(a, (list, tuple)):
            return type(a)(self.value(x) for x in a)
        return a

    def call_module(self, node: fx.Node, module: nn.Module, x: Any) -> fx.Node:
        name = self.module_name(node)
        # Register under its dotted path: fx.GraphModule builds the parent modules from the keys.
        self.root[name] = module
        return self.graph.call_module(name, (self.value(x),))

    def batch_free(self, shape: Any) -> Any:
        """A reshape target with the program's static batch replaced by -1 (capture runs batch 1)."""
        if self.batch is not None and self.batch != 1 and isinstance(shape, (list, tuple)) and shape \
                and shape[0] == self.batch:
            return [-1, *shape[1:]]
        return shape


class _NotRaisable(Exception):
    pass


def _conv(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> fx.Node:
    weight = r.tensor_attr(args[1])
    bias = r.tensor_attr(_arg(args, kwargs, 2, "bias"))
    if node.target is torch.ops.aten.convolution.default:
        stride, padding, dilation, transposed, _, groups = args[3:9]
        if transposed:
            raise _NotRaisable("transposed convolution")
    else:
        stride = _arg(args, kwargs, 3, "stride", [1, 1])
        padding = _arg(args, kwargs, 4, "padding", [0, 0])
        dilation = _arg(args, kwargs, 5, "dilation", [1, 1])
        groups = _arg(args, kwargs, 6, "groups", 1)
    if weight.dim() != 4:
        raise _NotRaisable(f"{weight.dim() - 2}-d convolution")
    if isinstance(padding, str):
        raise _NotRaisable(f"padding={padding!r}")
    conv = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]), stride=_pair(stride),
                     padding=_pair(padding), dilation=_pair(dilation), groups=int(groups), bias=bias is not None)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(bias)
    return r.call_module(node, conv, args[0])


def _batch_norm(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> fx.Node:
    weight, bias, mean, var = (r.tensor_attr(a) for a in args[1:5])
    if node.target is torch.ops.aten.batch_norm.default:
        training, eps = args[5], args[7]
        if training:
            raise _NotRaisable("exported in training mode (call model.eval() before torch.export)")
    else:  # _native_batch_norm_legit_no_training(input, weight, bias, mean, var, momentum, eps)
        eps = args[6]
    rank = len(args[0].meta["val"].shape)
    cls = {4: nn.BatchNorm2d, 2: nn.BatchNorm1d, 3: nn.BatchNorm1d}.get(rank)
    if cls is None or mean is None or var is None:
        raise _NotRaisable("batch norm without running statistics" if cls else f"batch norm of a {rank}-d tensor")
    bn = cls(mean.numel(), eps=float(eps), affine=weight is not None)
    with torch.no_grad():
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        if weight is not None:
            bn.weight.copy_(weight)
            bn.bias.copy_(bias if bias is not None else torch.zeros_like(weight))
    bn.eval()
    return r.call_module(node, bn, args[0])


def _getitem(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> Any:
    """x[i] of a multi-output call (split / chunk), or output 0 of an aten op that returns a tuple
    whose first element is the tensor (_native_batch_norm_legit_no_training: (out, mean, rstd))."""
    source, index = args
    if isinstance(source, fx.Node) and source.target in _TUPLE_FIRST:
        if index != 0:
            raise _NotRaisable(f"uses output {index} of {source.target} (only the tensor, output 0, is supported)")
        return r.value(source)
    return r.graph.call_function(operator.getitem, (r.value(source), index))


def _linear(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> fx.Node:
    weight = r.tensor_attr(args[1])
    bias = r.tensor_attr(_arg(args, kwargs, 2, "bias"))
    fc = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        fc.weight.copy_(weight)
        if bias is not None:
            fc.bias.copy_(bias)
    return r.call_module(node, fc, args[0])


def _function(fn: Callable, arity: int | None = None, **fixed) -> Callable:
    """An aten op whose positional arguments are those of torch function `fn` (the first `arity`)."""

    def build(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> fx.Node:
        used = args if arity is None else args[:arity]
        return r.graph.call_function(fn, r.value(used), {**r.value(kwargs), **fixed})

    return build


def _binary(fn: Callable) -> Callable:
    """aten.add / aten.sub (alpha 1) as operator.add / operator.sub."""

    def build(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> fx.Node:
        if kwargs.get("alpha", 1) != 1:
            raise _NotRaisable(f"alpha={kwargs['alpha']}")
        return r.graph.call_function(fn, r.value(args[:2]))

    return build


def _clamp_max(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> fx.Node:
    """aten.clamp_max(x, max) as torch.clamp(x, max=max)."""
    high = r.value(_arg(args, kwargs, 1, "max"))
    return r.graph.call_function(torch.clamp, (r.value(args[0]),), {"max": high})


def _prelu(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> fx.Node:
    """aten.prelu(x, weight) with a stored slope as the nn.PReLU it came from."""
    weight = r.tensor_attr(args[1])
    prelu = nn.PReLU(weight.numel())
    with torch.no_grad():
        prelu.weight.copy_(weight.reshape(-1))
    return r.call_module(node, prelu, args[0])


def _pool(fn: Callable) -> Callable:
    """max_pool2d / avg_pool2d: aten's empty stride list means stride = kernel (torch's None)."""

    def build(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> fx.Node:
        args = list(args)
        if len(args) > 2 and not args[2]:
            args[2] = None
        return r.graph.call_function(fn, r.value(tuple(args)), r.value(kwargs))

    return build


def _reshape(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> fx.Node:
    return r.graph.call_method("reshape", (r.value(args[0]), r.value(r.batch_free(list(args[1])))))


def _identity(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> Any:
    return r.value(args[0])


def _pad(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> fx.Node:
    value = _arg(args, kwargs, 2, "value", 0.0)
    return r.graph.call_function(F.pad, (r.value(args[0]), list(args[1])), {"mode": "constant", "value": value})


def _method(name: str) -> Callable:
    def build(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> fx.Node:
        return r.graph.call_method(name, r.value(args), r.value(kwargs))

    return build


def _slice(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> fx.Node:
    """aten.slice(x, dim, start, end, step) as the indexing x[:, ..., start:end:step] it came from."""
    dim = _arg(args, kwargs, 1, "dim", 0)
    start, end = _arg(args, kwargs, 2, "start"), _arg(args, kwargs, 3, "end")
    step = _arg(args, kwargs, 4, "step", 1)
    index = (slice(None),) * int(dim) + (slice(start, end, step),)
    return r.graph.call_function(operator.getitem, (r.value(args[0]), index))


def _dropout(r: _Raiser, node: fx.Node, args: tuple, kwargs: dict) -> Any:
    if _arg(args, kwargs, 2, "train", False):
        raise _NotRaisable("dropout in training mode (call model.eval() before torch.export)")
    return r.value(args[0])


aten = torch.ops.aten
_OPS: dict[Any, Callable] = {
    aten.conv2d.default: _conv, aten.convolution.default: _conv,
    aten.batch_norm.default: _batch_norm, aten._native_batch_norm_legit_no_training.default: _batch_norm,
    aten.linear.default: _linear,
    aten.relu.default: _function(torch.relu), aten.relu_.default: _function(torch.relu),
    aten.relu6.default: _function(F.relu6), aten.relu6_.default: _function(F.relu6),
    aten.hardtanh.default: _function(F.hardtanh), aten.hardtanh_.default: _function(F.hardtanh),
    aten.hardswish.default: _function(F.hardswish), aten.hardswish_.default: _function(F.hardswish),
    aten.hardsigmoid.default: _function(F.hardsigmoid), aten.hardsigmoid_.default: _function(F.hardsigmoid),
    aten.sigmoid.default: _function(torch.sigmoid), aten.sigmoid_.default: _function(torch.sigmoid),
    aten.silu.default: _function(F.silu), aten.silu_.default: _function(F.silu),
    aten.clamp.default: _function(torch.clamp), aten.clamp_.default: _function(torch.clamp),
    aten.clamp_min.default: _function(torch.clamp), aten.clamp_min_.default: _function(torch.clamp),
    aten.clamp_max.default: _clamp_max, aten.clamp_max_.default: _clamp_max,
    aten.leaky_relu.default: _function(F.leaky_relu), aten.leaky_relu_.default: _function(F.leaky_relu),
    aten.prelu.default: _prelu,
    aten.add.Tensor: _binary(operator.add), aten.add_.Tensor: _binary(operator.add),
    aten.sub.Tensor: _binary(operator.sub), aten.sub_.Tensor: _binary(operator.sub),
    aten.mul.Tensor: _function(operator.mul), aten.mul_.Tensor: _function(operator.mul),
    aten.div.Tensor: _function(operator.truediv), aten.div_.Tensor: _function(operator.truediv),
    aten.max_pool2d.default: _pool(F.max_pool2d),
    aten.avg_pool2d.default: _pool(F.avg_pool2d),
    aten.adaptive_avg_pool2d.default: _function(F.adaptive_avg_pool2d),
    aten._adaptive_avg_pool2d.default: _function(F.adaptive_avg_pool2d),
    aten.mean.dim: _function(torch.mean, 3),
    aten.flatten.using_ints: _function(torch.flatten),
    aten.view.default: _reshape, aten.reshape.default: _reshape, aten._unsafe_view.default: _reshape,
    aten.transpose.int: _function(torch.transpose),
    aten.cat.default: _function(torch.cat),
    aten.split.Tensor: _function(torch.split), aten.split_with_sizes.default: _function(torch.split),
    aten.chunk.default: _function(torch.chunk),
    aten.squeeze.dim: _method("squeeze"), aten.squeeze.dims: _method("squeeze"),
    aten.unsqueeze.default: _method("unsqueeze"),
    aten.slice.Tensor: _slice, aten.narrow.default: _function(torch.narrow),
    aten.constant_pad_nd.default: _pad,
    aten.dropout.default: _dropout, aten.dropout_.default: _dropout,
    aten.clone.default: _identity, aten.contiguous.default: _identity, aten.alias.default: _identity,
    aten.detach.default: _identity, aten.detach_.default: _identity,
    aten.sym_size.int: _method("size"),
    operator.getitem: _getitem,
}
# aten ops returning a tuple whose element 0 is the result (the raised node is that tensor).
_TUPLE_FIRST = {aten._native_batch_norm_legit_no_training.default}
# Checks torch.export inserts; they hold no computation.
_DROPPED = {aten._assert_tensor_metadata.default, aten._assert_scalar.default,
            aten.sym_constrain_range_for_size.default}


def raise_exported_program(program, source: str) -> ExportedModel:
    """`program` (an ExportedProgram) as an ExportedModel whose fx graph capture can convert."""
    try:
        gm = program.module()
    except Exception as exc:
        raise UserError(f"model {source}: cannot be turned into a module: {type(exc).__name__}: "
                        f"{_first_line(exc)}") from None
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1 or "val" not in placeholders[0].meta:
        raise UserError(f"model {source}: the program takes {len(placeholders)} inputs; capture supports "
                        f"exactly one image tensor")
    example = placeholders[0].meta["val"]
    shape = tuple(example.shape)
    static = [isinstance(d, int) for d in shape]
    if len(shape) != 4 or not all(static[1:]):
        raise UserError(f"model {source}: the input has shape {shape}; capture needs an NCHW image "
                        f"input with static channels, height and width")
    batch = shape[0] if static[0] else None

    raiser = _Raiser(gm, batch)
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            new = raiser.graph.placeholder("x")
            new.meta = {k: v for k, v in node.meta.items() if k in ("stack_trace", "nn_module_stack")}
            raiser.env[node] = new
        elif node.op == "get_attr":
            raiser.env[node] = node  # resolved by the builder that uses it (parameters), else refused below
        elif node.op == "output":
            raiser.graph.output(raiser.value(node.args[0]))
        elif node.op == "call_module":
            if node.target.startswith("_guards"):  # torch.export's input-shape guard: no computation
                continue
            raiser.unsupported.append(_describe(node, f"submodule call {node.target}"))
        elif node.op == "call_function":
            if node.target in _DROPPED:
                continue
            build = _OPS.get(node.target)
            if build is None:
                raiser.unsupported.append(_describe(node, ""))
                raiser.env[node] = None
                continue
            if any(isinstance(a, fx.Node) and a.op == "get_attr" for a in node.args) \
                    and build not in (_conv, _batch_norm, _linear, _prelu):
                raiser.unsupported.append(_describe(node, "uses a stored tensor as an operand"))
                raiser.env[node] = None
                continue
            try:
                new = build(raiser, node, tuple(node.args), dict(node.kwargs))
            except _NotRaisable as exc:
                raiser.unsupported.append(_describe(node, str(exc)))
                raiser.env[node] = None
                continue
            except Exception as exc:  # a malformed call in the program
                raiser.unsupported.append(_describe(node, f"{type(exc).__name__}: {_first_line(exc)}"))
                raiser.env[node] = None
                continue
            if isinstance(new, fx.Node) and new is not raiser.env.get(node.args[0] if node.args else None):
                new.meta = {k: v for k, v in node.meta.items() if k in ("stack_trace", "nn_module_stack")}
            raiser.env[node] = new
    if raiser.unsupported:
        raise CaptureRefused(source, raiser.unsupported)
    raised = fx.GraphModule(raiser.root, raiser.graph, class_name="ExportedProgram")
    raised.eval()
    return ExportedModel(raised, (1, *shape[1:]), source)


def _describe(node: fx.Node, reason: str) -> UnsupportedOp:
    """An op left over: its aten name, where in the module tree, why, and the user's line."""
    target = node.target
    name = f"aten.{target._overloadpacket.__name__}" if hasattr(target, "_overloadpacket") else str(target)
    stack = node.meta.get("nn_module_stack") or {}
    enclosing = next(reversed(stack.values()))[0] if stack else ""
    where = f"{enclosing}/{node.name}" if enclosing else node.name
    return UnsupportedOp(aten=name, where=where, what="torch.export program", reason=reason,
                         source=source_line(node.meta.get("stack_trace")))


def load_exported_model(path: str | Path) -> ExportedModel:
    """load_exported_program + raise_exported_program."""
    return raise_exported_program(load_exported_program(path), str(path))


def _first_line(exc: BaseException, limit: int = 240) -> str:
    """The exception's first non-empty line, cut to `limit` characters (refusals stay short)."""
    for line in str(exc).splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[:limit - 3] + "..."
    return "(no message)"
