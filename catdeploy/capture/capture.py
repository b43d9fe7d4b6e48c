"""capture(model, input_shape) -> Graph: torch.fx trace, convert, passes, validate.

The user's model is never touched: capture works on a deep copy moved to CPU, float32, eval mode.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch

from catdeploy.capture.convert import to_raw_graph
from catdeploy.capture.passes import PIPELINE
from catdeploy.capture.trace import trace
from catdeploy.errors import UserError
from catdeploy.ir.graph import Graph
from catdeploy.ir.validate import validate


def capture(model: torch.nn.Module, input_shape: tuple[int, ...] = (1, 3, 32, 32), *,
            name: str | None = None) -> Graph:
    """The float Graph of `model` in eval mode for inputs of `input_shape` (NCHW).

    Raises UserError when the model cannot be traced, fails on such an input, or uses ops the
    Graph cannot express (all of them listed in one line).
    """
    from catdeploy.capture.exported import ExportedModel

    model_name = name or (Path(model.source).stem if isinstance(model, ExportedModel) else type(model).__name__)
    if not isinstance(model, torch.nn.Module):
        raise UserError(f"capture needs a torch.nn.Module, got {type(model).__name__}")
    if len(input_shape) < 1 or not all(isinstance(d, int) and d > 0 for d in input_shape):
        raise UserError(f"input_shape {tuple(input_shape)!r} must be positive ints")
    if isinstance(model, ExportedModel) and tuple(input_shape[1:]) != model.input_shape[1:]:
        c, h, w = model.input_shape[1:]
        raise UserError(f"model {model.source} was exported for {c}x{h}x{w} inputs, not "
                        f"{'x'.join(map(str, input_shape[1:]))}: pass --input-size {h}x{w}"
                        f"{' --grayscale' if c == 1 else ''} (or export the program again)")
    private = private_copy(model)
    graph = to_raw_graph(trace(private, tuple(input_shape), model_name), model_name)
    for graph_pass in PIPELINE:
        graph = graph_pass(graph)
    return validate(graph)


def private_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy on CPU in float32 and eval mode; the caller's model keeps its state and mode."""
    try:
        clone = copy.deepcopy(model)
    except Exception as exc:
        raise UserError(f"model {type(model).__name__} cannot be copied for capture: "
                        f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    clone = clone.to(device="cpu", dtype=torch.float32)
    clone.eval()
    for p in clone.parameters():
        p.requires_grad_(False)
    return clone
