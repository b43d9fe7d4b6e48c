"""Fake-quant simulation of a QuantizedGraph in torch float32 (reported beside the integer accuracy).

Runs the float op of every node (catdeploy.ir.float_ops) on fake-quantized inputs, with the
dequantized integer weight codes and biases, and fake-quantizes every value and requantized copy
on its planned grid. It differs from the integer graph only by rounding details (requantization
with fixed-point multipliers, TFLite's average-pool rounding); catrt gives the integer truth.
"""
from __future__ import annotations

import numpy as np
import torch

from catdeploy.ir.float_ops import FLOAT_OPS
from catdeploy.quant.qparams import ActQParams
from catdeploy.quant.quantized_graph import QuantizedGraph


def fake_quant(x: torch.Tensor, qp: ActQParams) -> torch.Tensor:
    s = torch.tensor(np.float32(qp.scale))
    q = torch.clamp(torch.round(x / s) + qp.zero_point, 0, (1 << qp.bits) - 1)
    return (q - qp.zero_point) * s


def dequantized_params(qg: QuantizedGraph) -> dict[str, dict[str, torch.Tensor]]:
    """Weights s_w[c] * (q - z) and biases s_in * s_w[c] * bias_q as float32 tensors."""
    out = {}
    for name, wq in qg.weight_qparams.items():
        codes = qg.weight_codes[name].astype(np.float32)
        s = wq.scale.astype(np.float32).reshape((-1,) + (1,) * (codes.ndim - 1))
        s_in = np.float64(np.float32(qg.input_qparams(name).scale))
        bias = qg.bias_codes[name].astype(np.float64) * s_in * wq.scale.astype(np.float64)
        out[name] = {"weight": torch.from_numpy((codes * s).astype(np.float32)),
                     "bias": torch.from_numpy(bias.astype(np.float32))}
    return out


def simulate(qg: QuantizedGraph, x: np.ndarray, params: dict | None = None) -> np.ndarray:
    """Fake-quant logits for float NCHW images `x`."""
    graph, plan = qg.graph, qg.plan
    params = params if params is not None else dequantized_params(qg)
    derived_by_source: dict[str, list[str]] = {}
    for derived, (source, _) in sorted(plan.requants.items()):
        derived_by_source.setdefault(source, []).append(derived)
    env: dict[str, torch.Tensor] = {}

    def store(value: str, t: torch.Tensor) -> None:
        env[value] = fake_quant(t, qg.act_qparams[value])
        for derived in derived_by_source.get(value, ()):
            env[derived] = fake_quant(env[value], qg.act_qparams[derived])

    with torch.no_grad():
        store(graph.inputs[0], torch.from_numpy(np.ascontiguousarray(x, np.float32)))
        for node in graph.nodes:
            args = [env[v] for v in plan.node_inputs[node.name]]
            node_params = params.get(node.name) or {k: torch.from_numpy(np.asarray(v, np.float32))
                                                    for k, v in node.params.items()}
            store(node.output, FLOAT_OPS[node.kind](node, args, node_params))
        return env[graph.outputs[0]].numpy()


def simulate_batches(qg: QuantizedGraph, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Fake-quant logits; with qg.cat, CAT applied in float on them (nearest centroid, z' = A z + B)."""
    params = dequantized_params(qg)
    logits = np.concatenate([simulate(qg, x[i:i + batch_size], params) for i in range(0, len(x), batch_size)])
    if qg.cat is not None:
        from catdeploy.cat.fit import CatParams

        logits = CatParams.from_archive(qg.cat, qg.cat).apply(logits).astype(np.float32)
    return logits
