"""The JSON manifest written beside a .tflite: bit widths per tensor, requantization, CAT, versions,
hashes, sizes (int8 containers, packed INT4 / INT2, gzip)."""
from __future__ import annotations

import hashlib
import platform

import numpy as np

from catdeploy.export.sizes import tflite_sizes
from catdeploy.ir.int_program import IntProgram
from catdeploy.lower import requant_table
from catdeploy.quant.quantized_graph import QuantizedGraph

VERSIONED_DISTRIBUTIONS = ("catdeploy", "catrt", "numpy", "torch", "torchvision", "tflite-runtime",
                           "ai-edge-litert", "tensorflow")


def versions() -> dict[str, str]:
    """Python's and each installed distribution's version that the numbers depend on."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in VERSIONED_DISTRIBUTIONS:
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def tflite_manifest(qg: QuantizedGraph, program: IntProgram, model_bytes: bytes, source: dict) -> dict:
    """The manifest of `model_bytes` (the written `program` of `qg`); `source` says where it came from."""
    tensors = {}
    for t in program.tensors.values():
        entry = {"dtype": t.dtype, "shape": list(t.shape)}
        if t.bits is not None:
            entry["bits"] = t.bits
        if t.scale is not None and len(t.scale) == 1:
            entry["scale"] = t.scale[0]
            entry["zero_point"] = t.zero_point[0]
        tensors[t.name] = entry
    return {
        "format": "catdeploy.tflite_manifest", "version": 1,
        "sha256": hashlib.sha256(model_bytes).hexdigest(), "size_bytes": len(model_bytes),
        "sizes": tflite_sizes(model_bytes, planned_bits(program)),
        "setting": qg.plan.setting, "strict": qg.plan.strict,
        "weight_bits": dict(qg.plan.weights), "weight_symmetric": dict(qg.plan.weight_symmetric),
        "method": qg.meta.get("method"), "calibration": dict(qg.meta),
        "inputs": list(program.inputs), "outputs": list(program.outputs),
        "extra_clamp_ops": int(program.metadata.get("catdeploy.extra_clamp_ops", 0)),
        "requantization": requant_table(program), "tensors": tensors,
        "cat": cat_manifest(qg),
        "affine_layers": qg.meta.get("affine_layers"),
        "mixed_precision": qg.meta.get("mixed_precision"),
        "source": source, "versions": versions(),
    }


def planned_bits(program: IntProgram) -> dict[str, int]:
    """The planned bit width of each tensor that has one, by name (as written in the .tflite)."""
    return {t.name: int(t.bits) for t in program.tensors.values() if t.bits is not None}


def cat_manifest(qg: QuantizedGraph) -> dict | None:
    """The CAT parameters for the manifest: scalars and the cluster sizes (arrays stay in the .qg)."""
    if qg.cat is None:
        return None
    out = {k: v for k, v in qg.cat.items() if not isinstance(v, np.ndarray)}
    out["cluster_sizes"] = [int(n) for n in np.asarray(qg.cat["cluster_sizes"]).ravel()]
    return out
