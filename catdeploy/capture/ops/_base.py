"""What a capture op handler sees and returns.

A handler turns one fx call (module, function or method) into one Node, with a canonical OpKind or
a CaptureKind that a pass resolves later, or raises Unsupported with a short reason.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from catdeploy.ir.graph import Node


class Unsupported(Exception):
    """This call cannot become a graph node; the message says why (may be empty)."""


@dataclass(frozen=True)
class TensorArg:
    """An fx argument that is a tensor of the graph: the value's name and its captured shape."""

    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class OpCall:
    """One fx call with its arguments resolved: TensorArg for graph tensors, Python values for
    everything static (ints, sizes computed from shapes, constant tensors)."""

    name: str                          # node name to use (module path or fx node name)
    module: torch.nn.Module | None     # the called module for call_module, else None
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    output_shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kwargs", MappingProxyType(dict(self.kwargs)))

    def bind(self, signature: Callable[..., Any]) -> dict[str, Any]:
        """Match args/kwargs against a stub's signature; return {parameter name: value}."""
        try:
            bound = inspect.signature(signature).bind(*self.args, **self.kwargs)
        except TypeError as exc:
            raise Unsupported(f"unexpected arguments ({exc})") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def node(self, kind: Any, inputs: Sequence[TensorArg], attrs: Mapping[str, Any] | None = None,
             params: Mapping[str, np.ndarray] | None = None) -> Node:
        return Node(name=self.name, kind=kind, inputs=tuple(t.name for t in inputs),
                    outputs=(self.name,), attrs=attrs or {}, params=params or {})


Handler = Callable[[OpCall], Node]


def tensor(value: Any, what: str = "input") -> TensorArg:
    """`value` as a graph tensor, or Unsupported naming what it is instead."""
    if isinstance(value, TensorArg):
        return value
    if isinstance(value, torch.Tensor):
        raise Unsupported(f"{what} is a constant tensor, not a graph value")
    raise Unsupported(f"{what} is {type(value).__name__} {value!r}, not a tensor")


def rank4(value: Any, what: str = "input") -> TensorArg:
    t = tensor(value, what)
    if len(t.shape) != 4:
        raise Unsupported(f"{what} has shape {t.shape}, expected NCHW")
    return t


def pair(value: Any, what: str) -> tuple[int, int]:
    """An int or a 2-sequence of ints as (h, w)."""
    if isinstance(value, bool):
        raise Unsupported(f"{what}={value!r}")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    if isinstance(value, (tuple, list)) and len(value) == 1 and isinstance(value[0], int):
        return (int(value[0]), int(value[0]))
    raise Unsupported(f"{what}={value!r} is not an int or an (h, w) pair")


def number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unsupported(f"{what}={value!r} is not a number")
    return float(value)


def param(t: torch.Tensor | None) -> np.ndarray | None:
    """A module parameter or buffer as a fresh float32 numpy array (None stays None)."""
    if t is None:
        return None
    return np.array(t.detach().cpu().to(torch.float32).numpy(), dtype=np.float32, copy=True)


def constant(value: Any, what: str) -> np.ndarray:
    """A stored tensor passed to a functional call (a parameter or buffer fetched with get_attr) as
    a fresh float32 numpy array; Unsupported when it is a graph value (computed in the forward)."""
    if isinstance(value, torch.Tensor):
        return param(value)
    if isinstance(value, TensorArg):
        raise Unsupported(f"{what} is computed in the graph, not a stored tensor")
    raise Unsupported(f"{what} is {type(value).__name__} {value!r}, not a tensor")


def normalize_axis(axis: int, rank: int, what: str = "dim") -> int:
    if isinstance(axis, bool) or not isinstance(axis, int) or not -rank <= axis < rank:
        raise Unsupported(f"{what}={axis!r} for rank {rank}")
    return axis % rank
