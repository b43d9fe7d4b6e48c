"""QuantizedGraph: Graph + QuantPlan + qparams + hardened integer weight codes (+ CAT parameters).

The checkpoint between research and deployment. Saved as one zip archive (`.qg`) holding
`quantized_graph.json` and `arrays.npz`; loading never unpickles (allow_pickle=False).
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from catdeploy.errors import UserError
from catdeploy.ir.graph import Graph
from catdeploy.quant.plan import QuantPlan
from catdeploy.quant.qparams import ActQParams, WeightQParams

FORMAT = "catdeploy.quantized_graph"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class QuantizedGraph:
    graph: Graph
    plan: QuantPlan
    act_qparams: Mapping[str, ActQParams]        # value (incl. requantized copies) -> grid
    weight_qparams: Mapping[str, WeightQParams]  # weighted node -> per-channel grid
    weight_codes: Mapping[str, np.ndarray]       # weighted node -> int8 (q - z), torch layout
    bias_codes: Mapping[str, np.ndarray]         # weighted node -> int32, scale s_in * s_w[c]
    meta: Mapping[str, Any] = field(default_factory=dict)
    cat: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("act_qparams", "weight_qparams", "weight_codes", "bias_codes", "meta"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def input_qparams(self, node_name: str, index: int = 0) -> ActQParams:
        return self.act_qparams[self.plan.node_inputs[node_name][index]]


def bias_codes_for(bias_f: np.ndarray, s_in: float, w_scale: np.ndarray) -> np.ndarray:
    """int32 bias with scale s_in * s_w[c] (float32 scales, product in double), rounded to nearest even."""
    bias_scale = np.float64(np.float32(s_in)) * w_scale.astype(np.float32).astype(np.float64)
    q = np.rint(bias_f.astype(np.float64) / bias_scale)
    return np.clip(q, -(2**31), 2**31 - 1).astype(np.int32)


def save_quantized_graph(qg: QuantizedGraph, path: Path) -> None:
    """Write the archive atomically (temp file in the same folder, then rename)."""
    from catdeploy.ir.serialize import graph_to_json_and_arrays
    from catdeploy.util_io import atomic_write_bytes

    graph_json, graph_arrays = graph_to_json_and_arrays(qg.graph)
    arrays: dict[str, np.ndarray] = {f"graph/{k}": v for k, v in graph_arrays.items()}
    weights_meta = {}
    for name, wq in qg.weight_qparams.items():
        arrays[f"wscale/{name}"] = wq.scale.astype(np.float32)
        arrays[f"wzero/{name}"] = wq.zero_point.astype(np.int64)
        arrays[f"wcode/{name}"] = qg.weight_codes[name].astype(np.int8)
        arrays[f"bcode/{name}"] = qg.bias_codes[name].astype(np.int32)
        weights_meta[name] = {"bits": wq.bits, "symmetric": wq.symmetric}
    cat_json = None
    if qg.cat is not None:
        cat_json = {k: v for k, v in qg.cat.items() if not isinstance(v, np.ndarray)}
        for k, v in qg.cat.items():
            if isinstance(v, np.ndarray):
                arrays[f"cat/{k}"] = v
    doc = {
        "format": FORMAT, "version": FORMAT_VERSION, "graph": graph_json, "plan": qg.plan.to_dict(),
        "act_qparams": {k: v.to_dict() for k, v in qg.act_qparams.items()},
        "weights": weights_meta, "meta": dict(qg.meta), "cat": cat_json,
    }
    npz = io.BytesIO()
    np.savez(npz, **{k: arrays[k] for k in sorted(arrays)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in (("quantized_graph.json", json.dumps(doc, sort_keys=True, indent=1).encode()),
                           ("arrays.npz", npz.getvalue())):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    atomic_write_bytes(path, buf.getvalue())


def load_quantized_graph(path: Path) -> QuantizedGraph:
    from catdeploy.ir.serialize import graph_from_json_and_arrays

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: quantized graph not found")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if not {"quantized_graph.json", "arrays.npz"} <= names:
                raise UserError(f"{path}: not a catdeploy quantized graph (missing members)")
            doc = json.loads(zf.read("quantized_graph.json"))
            with np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
    except UserError:
        raise
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError) as exc:
        raise UserError(f"{path}: corrupt quantized graph ({type(exc).__name__}: {exc})") from None
    if doc.get("format") != FORMAT or doc.get("version") != FORMAT_VERSION:
        raise UserError(f"{path}: unsupported format {doc.get('format')!r} version {doc.get('version')!r}")
    try:
        graph = graph_from_json_and_arrays(
            doc["graph"], {k[len("graph/"):]: v for k, v in arrays.items() if k.startswith("graph/")})
        weight_qparams, weight_codes, bias_codes = {}, {}, {}
        for name, m in doc["weights"].items():
            weight_qparams[name] = WeightQParams(int(m["bits"]), bool(m["symmetric"]),
                                                 arrays[f"wscale/{name}"], arrays[f"wzero/{name}"])
            weight_codes[name] = arrays[f"wcode/{name}"]
            bias_codes[name] = arrays[f"bcode/{name}"]
        cat = None
        if doc.get("cat") is not None:
            cat = dict(doc["cat"])
            cat.update({k[len("cat/"):]: v for k, v in arrays.items() if k.startswith("cat/")})
        return QuantizedGraph(
            graph=graph, plan=QuantPlan.from_dict(doc["plan"]),
            act_qparams={k: ActQParams.from_dict(v) for k, v in doc["act_qparams"].items()},
            weight_qparams=weight_qparams, weight_codes=weight_codes, bias_codes=bias_codes,
            meta=doc.get("meta", {}), cat=cat,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: inconsistent quantized graph ({type(exc).__name__}: {exc})") from None
