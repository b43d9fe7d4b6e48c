"""Registries of capture handlers, one file per op: torch module type / function / Tensor method
-> handler(OpCall) -> Node."""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch.nn as nn

from catdeploy.capture.ops import (
    adaptive_pool, add, avg_pool2d, batchnorm, clamp, concat, conv2d, flatten, hardsigmoid,
    hardswish, identity, linear, max_pool2d, mean, mul, pad, relu, relu6, sigmoid, silu, split,
    transpose,
)
from catdeploy.capture.ops._base import Handler, OpCall, TensorArg, Unsupported
from catdeploy.capture.ops import leaky_relu, prelu, same_padding, scalar

_FILES = (adaptive_pool, add, avg_pool2d, batchnorm, clamp, concat, conv2d, flatten, hardswish,
          identity, linear, max_pool2d, mean, mul, pad, relu, relu6, hardsigmoid, sigmoid, silu,
          split, transpose, leaky_relu, prelu, same_padding, scalar)


def _merge(attribute: str) -> dict:
    merged: dict = {}
    for file in _FILES:
        for key, handler in getattr(file, attribute, {}).items():
            if key in merged:
                raise RuntimeError(f"{file.__name__}: {key!r} already has a handler")
            merged[key] = handler
    return merged


def _with_fallbacks(primary: dict, attribute: str) -> dict:
    """`primary` plus each file's `attribute` handlers: a key with a primary handler tries the
    fallback when the primary refuses the call (its reason kept if both do), e.g. x + 3.0 after
    add.py's two-tensor ADD."""
    merged = dict(primary)
    for key, fallback in _merge(attribute).items():
        first = merged.get(key)
        merged[key] = fallback if first is None else _chain(first, fallback)
    return merged


def _chain(first: Handler, fallback: Handler) -> Handler:
    def handler(call: OpCall):
        try:
            return first(call)
        except Unsupported as refusal:
            try:
                return fallback(call)
            except Unsupported:
                raise refusal from None

    return handler


MODULE_HANDLERS: Mapping[type, Handler] = _merge("MODULES")
# Modules matched by "module.QualName" (classes of optional packages such as timm).
NAMED_MODULE_HANDLERS: Mapping[str, Handler] = _merge("NAMED_MODULES")
FUNCTION_HANDLERS: Mapping[Callable[..., Any], Handler] = _with_fallbacks(_merge("FUNCTIONS"),
                                                                          "FALLBACK_FUNCTIONS")
METHOD_HANDLERS: Mapping[str, Handler] = _with_fallbacks(_merge("METHODS"), "FALLBACK_METHODS")
# Calls returning several tensors (torch.chunk, torch.split): handler(OpCall) -> split.Parts.
MULTI_FUNCTION_HANDLERS: Mapping[Callable[..., Any], Callable] = _merge("MULTI_FUNCTIONS")
MULTI_METHOD_HANDLERS: Mapping[str, Callable] = _merge("MULTI_METHODS")


def module_handler(module: nn.Module) -> Handler | None:
    """The handler for `module`'s exact type, else for the nearest base class whose forward the
    subclass does not override (a subclass with its own forward computes something else)."""
    cls = type(module)
    if cls in MODULE_HANDLERS:
        return MODULE_HANDLERS[cls]
    named = NAMED_MODULE_HANDLERS.get(f"{cls.__module__}.{cls.__qualname__}")
    if named is not None:
        return named
    for base in cls.__mro__[1:]:
        if base in MODULE_HANDLERS:
            return MODULE_HANDLERS[base] if cls.forward is base.forward else None
    return None


__all__ = ["MODULE_HANDLERS", "FUNCTION_HANDLERS", "METHOD_HANDLERS", "MULTI_FUNCTION_HANDLERS",
           "MULTI_METHOD_HANDLERS", "module_handler", "OpCall",
           "TensorArg", "Unsupported"]
