"""QuantizedGraph: Graph + QuantPlan + qparams + hardened integer weight codes (+ CAT parameters).

The checkpoint between research and deployment. Saved as one zip archive (`.qg`) holding
`quantized_graph.json` and `arrays.npz`; loading never unpickles (allow_pickle=False), reads
under size limits (catrt.archive; QG_LIMITS below) and checks every value before it is used.
"""
from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
from catrt.archive import (MAX_MODEL_PARAMETERS, GiB, KiB, MiB, ArchiveError, ArchiveLimits, read_directory,
                           read_members, read_npz)

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


# What a .qg may hold (docs/RELIABILITY.md). A .qg stores each parameter twice (float32 in the
# graph, an int8 code) plus per-channel scales, zero points and int32 biases: about 5 bytes a
# parameter, for at most MAX_MODEL_PARAMETERS (regnet_y_128gf's 637.5 M with 10 % to spare). The
# largest single tensor (vgg's first classifier layer, 25088 x 4096) has 103 M elements.
MAX_ARRAYS_BYTES = 5 * MAX_MODEL_PARAMETERS + 256 * MiB
MAX_JSON_BYTES = 16 * MiB          # graph, plan and grids: about 1 KiB a node (mnasnet0_5: 65 KiB)
JSON_MEMBER, ARRAYS_MEMBER = "quantized_graph.json", "arrays.npz"
QG_LIMITS = ArchiveLimits(label="quantized graph archive", max_members=64,
                          max_member_bytes=MAX_ARRAYS_BYTES, max_total_bytes=MAX_ARRAYS_BYTES + MAX_JSON_BYTES)
ARRAYS_LIMITS = ArchiveLimits(label=f"quantized graph {ARRAYS_MEMBER}", max_members=65_536,
                              max_member_bytes=GiB + 64 * KiB, max_total_bytes=MAX_ARRAYS_BYTES,
                              max_array_elements=1 << 28, max_array_bytes=GiB)
BITS_RANGE = (2, 8)
FLOAT32_TINY, FLOAT32_MAX = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)


class _Invalid(Exception):
    """One value of the archive that cannot be used; the message names it."""


def _read_archive(path: Path) -> tuple[dict, dict]:
    """(JSON document, arrays) of the .qg at `path`, read by catrt.archive under QG_LIMITS and
    ARRAYS_LIMITS: nothing is decompressed or allocated beyond what the limits allow."""
    try:
        members = read_directory(path, QG_LIMITS).by_name()
        if not {JSON_MEMBER, ARRAYS_MEMBER} <= set(members):
            raise UserError(f"{path}: not a catdeploy quantized graph (missing members)")
        if members[JSON_MEMBER].size > MAX_JSON_BYTES:
            raise UserError(f"{path}: {JSON_MEMBER} declares {members[JSON_MEMBER].size:,} bytes, over the "
                            f"limit of {MAX_JSON_BYTES:,} (JSON size)")
        data = read_members(path, QG_LIMITS, [JSON_MEMBER, ARRAYS_MEMBER])
        doc = json.loads(bytes(data.pop(JSON_MEMBER)))
        arrays = read_npz(data.pop(ARRAYS_MEMBER), ARRAYS_LIMITS)
    except UserError:
        raise
    except ArchiveError as exc:
        raise UserError(f"{path}: {exc}") from None
    except MemoryError:
        raise UserError(f"{path}: out of memory reading the quantized graph") from None
    except (ValueError, RecursionError, OSError) as exc:   # JSON syntax, encoding, I/O
        detail = " ".join(str(exc).split())[:200]
        raise UserError(f"{path}: corrupt quantized graph ({type(exc).__name__}: {detail})") from None
    if not isinstance(doc, dict):
        raise UserError(f"{path}: corrupt quantized graph ({JSON_MEMBER} holds a {type(doc).__name__}, "
                        f"not an object)")
    return doc, arrays


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_bits(what: str, bits: Any) -> None:
    if not _is_int(bits) or not BITS_RANGE[0] <= bits <= BITS_RANGE[1]:
        raise _Invalid(f"{what}: bits {bits!r} outside {BITS_RANGE[0]}..{BITS_RANGE[1]}")


def _check_scale(what: str, scale: Any) -> None:
    """A positive scale that stays finite and non-zero in float32 (the .tflite stores float32)."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) \
            or not FLOAT32_TINY <= scale <= FLOAT32_MAX:
        raise _Invalid(f"{what}: scale {scale!r} is not a finite positive float32")


def _check_array(what: str, array: Any, kinds: str, shape: tuple) -> np.ndarray:
    if not isinstance(array, np.ndarray) or array.dtype.kind not in kinds or array.shape != shape:
        got = "missing" if array is None else f"{array.dtype} {array.shape}"
        kind = {"f": "float", "i": "integer", "iu": "integer"}.get(kinds, "numbers")
        raise _Invalid(f"{what}: {got}, expected shape {shape} ({kind})")
    return array


def _check_plan(plan: Any) -> None:
    """Every bit width the plan names is in 2..8 (before QuantPlan is built from it)."""
    if not isinstance(plan, dict):
        raise _Invalid(f"plan: a {type(plan).__name__}, not an object")
    _check_bits("plan weight_bits_default", plan.get("weight_bits_default"))
    _check_bits("plan act_bits_default", plan.get("act_bits_default"))
    for table in ("weights", "values"):
        entries = plan.get(table)
        if not isinstance(entries, dict):
            raise _Invalid(f"plan {table}: not an object")
        for name, bits in entries.items():
            _check_bits(f"plan {table} {name!r}", bits)
    requants = plan.get("requants", {})
    for name, entry in (requants.items() if isinstance(requants, dict) else ()):
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str):
            raise _Invalid(f"plan requants {name!r}: not [source value, bits]")
        _check_bits(f"plan requants {name!r}", entry[1])
    _check_plan_names(plan)


def _is_names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_plan_names(plan: dict) -> None:
    """The plan's tables that name values hold names (strings), as lowering uses them."""
    for table in ("groups", "grid_of", "fixed_grids"):
        entries = plan.get(table, {})
        if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
            raise _Invalid(f"plan {table}: not an object of value names")
    node_inputs = plan.get("node_inputs")
    if not isinstance(node_inputs, dict) or not all(_is_names(v) for v in node_inputs.values()):
        raise _Invalid("plan node_inputs: not lists of value names")
    if not _is_names(plan.get("se_path", [])):
        raise _Invalid("plan se_path: not a list of value names")


def _check_act_qparams(table: Any) -> None:
    """Bits in 2..8, a positive finite float32 scale, a zero point on the b-bit grid."""
    if not isinstance(table, dict):
        raise _Invalid("act_qparams: not an object")
    for name, qp in table.items():
        what = f"activation grid of {name!r}"
        if not isinstance(qp, dict):
            raise _Invalid(f"{what}: not an object")
        _check_bits(what, qp.get("bits"))
        _check_scale(what, qp.get("scale"))
        zero_point, top = qp.get("zero_point"), (1 << qp["bits"]) - 1
        if not _is_int(zero_point) or not 0 <= zero_point <= top:
            raise _Invalid(f"{what}: zero point {zero_point!r} outside the {qp['bits']}-bit grid 0..{top}")


def _check_weights(table: Any, arrays: dict, graph: Graph, planned: Any) -> None:
    """Per weighted node: bits, positive finite scales and zero points on the grid, one per output
    channel; int8 codes of the graph's weight shape whose grid values q = code + z are on the grid;
    int32 biases, one per channel. Every node the plan quantizes (`planned`) has them."""
    from catdeploy.quant.qparams import weight_code_range

    if not isinstance(table, dict):
        raise _Invalid("weights: not an object")
    nodes = {node.name: node for node in graph.nodes}
    missing = sorted(name for name in planned
                     if name not in table and name in nodes and "weight" in nodes[name].params)
    if missing:
        raise _Invalid(f"weights of {missing[0]!r}: missing (the plan quantizes it){' and more' if missing[1:] else ''}")
    for name, meta in table.items():
        what = f"weights of {name!r}"
        node = nodes.get(name)
        if node is None or "weight" not in node.params:
            raise _Invalid(f"{what}: the graph has no weighted node {name!r}")
        if not isinstance(meta, dict) or not isinstance(meta.get("symmetric"), bool):
            raise _Invalid(f"{what}: needs bits and symmetric (true or false)")
        _check_bits(what, meta.get("bits"))
        shape = tuple(node.params["weight"].shape)
        channels = (shape[0],)
        scale = _check_array(f"{what}: scales", arrays.get(f"wscale/{name}"), "f", channels)
        wide = scale.astype(np.float64)
        bad = wide[~(np.isfinite(wide) & (wide >= FLOAT32_TINY) & (wide <= FLOAT32_MAX))]
        if bad.size:
            raise _Invalid(f"{what}: scale {float(bad[0])!r} is not a finite positive float32")
        zero = _check_array(f"{what}: zero points", arrays.get(f"wzero/{name}"), "iu", channels)
        low, high = weight_code_range(meta["bits"], meta["symmetric"])
        if meta["symmetric"] and np.any(zero != 0):
            raise _Invalid(f"{what}: a symmetric grid has zero points {np.unique(zero)[:3].tolist()}, not 0")
        if np.any(zero < low) or np.any(zero > high):
            raise _Invalid(f"{what}: zero points outside the {meta['bits']}-bit grid {low}..{high}")
        codes = _check_array(f"{what}: codes", arrays.get(f"wcode/{name}"), "i", shape)
        if codes.dtype != np.int8:
            raise _Invalid(f"{what}: codes are {codes.dtype}, expected int8")
        grid = codes.astype(np.int16) + zero.astype(np.int16).reshape((-1,) + (1,) * (codes.ndim - 1))
        if codes.size and (grid.min() < low or grid.max() > high):
            raise _Invalid(f"{what}: codes + zero points span {int(grid.min())}..{int(grid.max())}, outside "
                           f"the {meta['bits']}-bit grid {low}..{high}")
        bias = _check_array(f"{what}: bias codes", arrays.get(f"bcode/{name}"), "i", channels)
        if bias.dtype != np.int32:
            raise _Invalid(f"{what}: bias codes are {bias.dtype}, expected int32")


def _check_range(what: str, value: Any) -> None:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
            or value[0] > value[1]):
        raise _Invalid(f"{what}: {value!r} is not a finite [low, high] pair")


def _check_cat(cat: Any, arrays: dict, graph: Graph) -> None:
    """CAT parameters sized for the layer they correct: gamma, beta [K, C], centroids [K, P],
    cluster sizes [K], PCA [P, C] and [C] when present; alpha and ranges finite."""
    if cat is None:
        return
    if not isinstance(cat, dict):
        raise _Invalid("cat: not an object")
    nodes = {node.name: node for node in graph.nodes}
    layer = cat.get("layer")
    if not isinstance(layer, str) or layer not in nodes or "weight" not in nodes[layer].params:
        raise _Invalid(f"cat: layer {layer!r} is not a weighted node of the graph")
    classes = int(nodes[layer].params["weight"].shape[0])
    clusters, pca = cat.get("clusters"), cat.get("pca")
    if not _is_int(clusters) or not 1 <= clusters <= classes * 64:
        raise _Invalid(f"cat: clusters {clusters!r} is not a positive count")
    if pca is not None and (not _is_int(pca) or not 1 <= pca <= classes):
        raise _Invalid(f"cat: pca {pca!r} is not a dimension in 1..{classes}")
    alpha = cat.get("alpha")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        raise _Invalid(f"cat: alpha {alpha!r} is not a finite number")
    for key in ("output_range", "score_range"):
        _check_range(f"cat {key}", cat.get(key))
    shapes = {"gamma": (clusters, classes), "beta": (clusters, classes),
              "centroids": (clusters, pca or classes), "cluster_sizes": (clusters,)}
    if pca is not None:
        shapes.update(pca_components=(pca, classes), pca_mean=(classes,))
    for key, shape in shapes.items():
        array = _check_array(f"cat {key}", arrays.get(f"cat/{key}"), "iuf", shape)
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise _Invalid(f"cat {key}: not finite")


def _check_graph_arrays(arrays: dict) -> None:
    """The graph's parameters are finite float32 (as written), before the graph is built."""
    for key, array in arrays.items():
        if key.startswith("graph/"):
            if array.dtype != np.float32:
                raise _Invalid(f"graph: parameter {key[len('graph/'):]} is {array.dtype}, expected float32")
            if not np.all(np.isfinite(array)):
                raise _Invalid(f"graph: parameter {key[len('graph/'):]} is not finite")


def load_quantized_graph(path: Path) -> QuantizedGraph:
    """The QuantizedGraph in the .qg archive at `path` (untrusted): read under QG_LIMITS, every
    value checked before it is used; a UserError naming the file and the value otherwise."""
    from catdeploy.ir.serialize import graph_from_json_and_arrays

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: quantized graph not found")
    doc, arrays = _read_archive(path)
    if doc.get("format") != FORMAT or doc.get("version") != FORMAT_VERSION:
        raise UserError(f"{path}: unsupported format {doc.get('format')!r} version {doc.get('version')!r}")
    try:
        _check_graph_arrays(arrays)
        graph = graph_from_json_and_arrays(
            doc["graph"], {k[len("graph/"):]: v for k, v in arrays.items() if k.startswith("graph/")})
        _check_plan(doc["plan"])
        _check_act_qparams(doc["act_qparams"])
        _check_weights(doc["weights"], arrays, graph, doc["plan"]["weights"])
        _check_cat(doc.get("cat"), arrays, graph)
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
    except _Invalid as exc:
        raise UserError(f"{path}: invalid quantized graph: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise UserError(f"{path}: inconsistent quantized graph ({type(exc).__name__}: {detail})") from None
