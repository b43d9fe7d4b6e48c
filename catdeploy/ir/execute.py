"""run_graph: execute a float Graph with torch (float32, batched, NCHW), one FLOAT_OPS entry per node.

Hook points for the quantization stage (same executor, no copy of the graph):
- value_transform(value_name, tensor) -> tensor is applied to every value as soon as it exists
  (graph inputs and every node output), e.g. to fake-quantize chosen activations; the
  transformed tensor is what consumers, `keep` and the outputs see.
- params_override {node_name: {"weight": w, "bias": b}} replaces some or all of a node's
  parameters for this call (numpy arrays or torch tensors, e.g. fake-quantized weights that
  require grad); see also params_as_tensors() to convert a graph's weights once per device.
- inputs may seed any value (not only graph inputs) and `outputs` may name any values: only the
  nodes needed to compute them from the seeds run, so a block of the graph can be run alone.

Autograd is not disabled here: wrap calls in torch.no_grad() when no gradients are needed.
"""
from __future__ import annotations

from typing import Callable, Iterable, Literal, Mapping, Sequence, Union

import numpy as np
import torch

from catdeploy.ir.float_ops import FLOAT_OPS
from catdeploy.ir.graph import Graph

ArrayLike = Union[np.ndarray, torch.Tensor]
ValueTransform = Callable[[str, torch.Tensor], torch.Tensor]


def run_graph(
    graph: Graph,
    x: ArrayLike | Sequence[ArrayLike] | Mapping[str, ArrayLike],
    *,
    keep: Iterable[str] | Literal["all"] | None = None,
    outputs: Sequence[str] | None = None,
    value_transform: ValueTransform | None = None,
    params_override: Mapping[str, Mapping[str, ArrayLike]] | None = None,
):
    """Run `graph` on `x` and return its outputs.

    x: one array for a single-input graph, a sequence in graph.inputs order, or a mapping
    {value name: array} (any values, see module docstring). numpy in -> numpy out, torch in ->
    torch out (on the input's device).
    outputs: value names to return instead of graph.outputs.
    Returns the single output (or a tuple when there are several); with `keep` ("all" or value
    names) returns (outputs, {value name: tensor}) with every kept value.
    """
    seeds, as_numpy = _seed_values(graph, x)
    wanted = tuple(outputs) if outputs is not None else graph.outputs
    keep_names = _keep_names(graph, keep)
    for name in (*wanted, *keep_names):
        if name not in graph.values:
            raise KeyError(f"unknown value {name!r}")
    device = next(iter(seeds.values())).device
    needed = _needed_nodes(graph, seeds, set(wanted) | keep_names)

    env: dict[str, torch.Tensor] = {}
    for name, tensor in seeds.items():
        env[name] = value_transform(name, tensor) if value_transform else tensor
    override = params_override or {}
    for node in graph.nodes:
        if node.name not in needed:
            continue
        params = _node_params(node.params, override.get(node.name), device)
        try:
            args = [env[name] for name in node.inputs]
        except KeyError as exc:
            raise KeyError(f"node {node.name!r} needs value {exc.args[0]!r}, which was not given "
                           f"and is not computed from the given inputs") from None
        y = FLOAT_OPS[node.kind](node, args, params)
        out = node.output
        env[out] = value_transform(out, y) if value_transform else y

    convert = _to_numpy if as_numpy else (lambda t: t)
    missing = [name for name in wanted if name not in env]
    if missing:
        raise KeyError(f"outputs {missing} cannot be computed from the given inputs")
    result = tuple(convert(env[name]) for name in wanted)
    result = result[0] if len(result) == 1 else result
    if keep is None:
        return result
    return result, {name: convert(env[name]) for name in graph.values if name in keep_names and name in env}


def params_as_tensors(graph: Graph, device: torch.device | str = "cpu") -> dict[str, dict[str, torch.Tensor]]:
    """All parameters of `graph` as float32 torch tensors on `device`, in params_override form."""
    return {node.name: {k: torch.as_tensor(np.array(v, dtype=np.float32), device=device)
                        for k, v in node.params.items()}
            for node in graph.nodes if node.params}


def _seed_values(graph: Graph, x) -> tuple[dict[str, torch.Tensor], bool]:
    if isinstance(x, Mapping):
        items = list(x.items())
    elif isinstance(x, (np.ndarray, torch.Tensor)):
        if len(graph.inputs) != 1:
            raise ValueError(f"graph has {len(graph.inputs)} inputs; pass a sequence or a mapping")
        items = [(graph.inputs[0], x)]
    else:
        x = list(x)
        if len(x) != len(graph.inputs):
            raise ValueError(f"graph has {len(graph.inputs)} inputs, got {len(x)} arrays")
        items = list(zip(graph.inputs, x))
    if not items:
        raise ValueError("no input given")
    as_numpy = isinstance(items[0][1], np.ndarray)
    seeds = {}
    for name, value in items:
        if name not in graph.values:
            raise KeyError(f"unknown value {name!r}")
        if isinstance(value, np.ndarray):
            array = np.ascontiguousarray(value, dtype=np.float32)
            value = torch.from_numpy(array if array.flags.writeable else array.copy())
        elif not isinstance(value, torch.Tensor):
            raise TypeError(f"value {name!r}: expected a numpy array or a torch tensor, got {type(value)}")
        if value.dtype != torch.float32:
            value = value.float()
        expected = graph.values[name].shape
        if tuple(value.shape[1:]) != tuple(expected[1:]):
            raise ValueError(f"value {name!r}: got shape {tuple(value.shape)}, graph expects "
                             f"[N, {', '.join(map(str, expected[1:]))}]")
        seeds[name] = value
    return seeds, as_numpy


def _keep_names(graph: Graph, keep) -> set[str]:
    if keep is None:
        return set()
    if isinstance(keep, str):
        if keep != "all":
            raise ValueError(f"keep must be 'all' or an iterable of value names, got {keep!r}")
        return set(graph.values)
    return set(keep)


def _needed_nodes(graph: Graph, seeds: Mapping[str, torch.Tensor], wanted: set[str]) -> set[str]:
    """Names of the nodes that must run to compute `wanted` from `seeds` (backward reachability)."""
    needed: set[str] = set()
    pending = set(wanted) - set(seeds)
    for node in reversed(graph.nodes):
        if node.output in pending and node.output not in seeds:
            needed.add(node.name)
            pending.discard(node.output)
            pending.update(name for name in node.inputs if name not in seeds)
    return needed


def _node_params(params: Mapping[str, np.ndarray], override: Mapping[str, ArrayLike] | None,
                 device: torch.device) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in params.items():
        if override is not None and key in override:
            value = override[key]
        out[key] = _as_tensor(value, device)
    if override is not None:
        unknown = set(override) - set(params)
        if unknown:
            raise KeyError(f"params_override names unknown params {sorted(unknown)}")
    return out


def _as_tensor(value: ArrayLike, device: torch.device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        t = value
    elif value.flags.writeable and value.dtype == np.float32:
        t = torch.from_numpy(value)
    else:
        t = torch.from_numpy(np.array(value, dtype=np.float32))
    if t.dtype != torch.float32:
        t = t.float()
    return t.to(device) if t.device != device else t


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def float_values(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every value of the float graph on batch x (NCHW float32)."""
    with torch.no_grad():
        _, values = run_graph(graph, x, keep="all")
    return values


def float_logits(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The float graph's output on batch x (NCHW float32)."""
    with torch.no_grad():
        return run_graph(graph, x)


def float_logits_function(graph: Graph, batch_size: int = 128) -> Callable[[np.ndarray], np.ndarray]:
    """images -> FP logits of the float graph, computed in batches of `batch_size`."""
    def run(images: np.ndarray) -> np.ndarray:
        return np.concatenate([float_logits(graph, np.ascontiguousarray(images[start:start + batch_size], np.float32))
                               for start in range(0, len(images), batch_size)])

    return run
