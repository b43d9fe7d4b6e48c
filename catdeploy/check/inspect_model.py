"""inspect: what a .tflite holds — ops, tensors, planned bit widths, distinct values, size breakdown,
sizes with int8-container / packed INT4 / INT2 weights and gzip-compressed (export/sizes.py).

Reads the file with catrt's validating reader. With evaluation images it also runs catrt and counts
the distinct values each activation tensor takes, to show every tensor stays within 2^b values.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

FLOAT_EDGE_OPS = {"QUANTIZE": "inputs", "DEQUANTIZE": "outputs"}


def _channel_distinct(data: np.ndarray, axis: int) -> int:
    """Largest number of distinct values in one channel along `axis`."""
    if data.ndim == 0:
        return 1
    moved = np.moveaxis(data, axis, 0).reshape(data.shape[axis], -1)
    return max(int(np.unique(row).size) for row in moved)


def _bits_needed(distinct: int) -> int:
    return max(1, math.ceil(math.log2(max(distinct, 1))))


def inspect_model(model_bytes: bytes, manifest: dict | None = None, images_int8: np.ndarray | None = None,
                  batch_size: int = 64) -> dict:
    from catrt.reader import read_model

    from catdeploy.export.sizes import tflite_sizes
    from catdeploy.integer.runner import catrt_interpreter

    model = read_model(model_bytes)
    planned = (manifest or {}).get("tensors", {})
    op_rows, float_ops = [], []
    for op in model.operators:
        op_rows.append({"index": op.index, "op": op.kind, "version": op.opcode.version,
                        "inputs": [model.tensors[i].name for i in op.inputs if i >= 0],
                        "outputs": [model.tensors[i].name for i in op.outputs]})
        io_float = [model.tensors[i].dtype == "float32" for i in (*op.inputs, *op.outputs) if i >= 0]
        allowed = op.kind in FLOAT_EDGE_OPS
        if any(io_float) and not allowed:
            float_ops.append(f"op #{op.index} {op.kind}")

    size = Counter()
    tensors = []
    weight_violations = []
    counted_buffers: set = set()
    for t in model.tensors:
        q = t.quantization
        row = {"name": t.name, "dtype": t.dtype, "shape": list(t.shape), "constant": t.is_constant}
        if q is not None and len(q.scale) == 1:
            row["scale"], row["zero_point"] = q.scale[0], q.zero_point[0]
        elif q is not None:
            row["scale"] = f"per-channel ({len(q.scale)}, axis {q.quantized_dimension})"
        bits = planned.get(t.name, {}).get("bits")
        if bits is not None:
            row["bits"] = bits
        if t.is_constant:
            nbytes = (t.data.size + 1) // 2 if t.dtype == "int4" else (
                (t.data.size + 3) // 4 if t.dtype == "int2" else int(t.data.nbytes))
            kind = "weights" if t.dtype in ("int8", "int4", "int2") and t.data.ndim >= 2 else (
                "biases" if t.dtype == "int32" and q is not None else "other constants")
            if t.buffer not in counted_buffers:  # a buffer named by several tensors is stored once
                size[kind] += nbytes
                counted_buffers.add(t.buffer)
            if t.dtype in ("int8", "int4", "int2") and t.data.ndim >= 2 and q is not None:
                axis = q.quantized_dimension if len(q.scale) > 1 else 0
                distinct = _channel_distinct(np.asarray(t.data), axis)
                row["max_distinct_per_channel"] = distinct
                if bits is not None and distinct > (1 << bits):
                    weight_violations.append(f"{t.name}: {distinct} distinct values > 2^{bits}")
        tensors.append(row)
    size["total_file"] = len(model_bytes)
    size["structure"] = len(model_bytes) - size["weights"] - size["biases"] - size["other constants"]

    activation_violations = []
    if images_int8 is not None:
        rt = catrt_interpreter(model_bytes)
        seen: dict[str, set] = {}
        for start in range(0, len(images_int8), batch_size):
            values = rt.run([images_int8[start:start + batch_size]], keep_all=True)
            for t in model.tensors:
                if t.is_constant or t.dtype not in ("int8",):
                    continue
                seen.setdefault(t.name, set()).update(np.unique(values[t.name]).tolist())
        for row in tensors:
            if row["name"] in seen:
                distinct = len(seen[row["name"]])
                row["distinct_values"] = distinct
                bits = row.get("bits")
                if bits is not None and distinct > (1 << bits):
                    activation_violations.append(f"{row['name']}: {distinct} distinct values > 2^{bits}")
                if bits is None:
                    row["bits_needed"] = _bits_needed(distinct)
    return {
        "ops": op_rows, "op_counts": dict(Counter(r["op"] for r in op_rows)), "tensors": tensors,
        "float_ops": float_ops, "size_bytes": dict(size),
        "sizes": tflite_sizes(model_bytes, {name: entry["bits"] for name, entry in planned.items()
                                            if isinstance(entry, dict) and isinstance(entry.get("bits"), int)}),
        "weight_violations": weight_violations, "activation_violations": activation_violations,
        "activations_checked": images_int8 is not None,
        "n_images": 0 if images_int8 is None else int(len(images_int8)),
        "cat": (manifest or {}).get("cat"),
        "mixed_precision": (manifest or {}).get("mixed_precision"),
        "cat_head": cat_head_summary(model, len(model_bytes), (manifest or {}).get("cat")),
    }


def cat_head_summary(model, file_size: int, cat: dict | None) -> dict | None:
    """The CAT head as stored in the file: ops, the shared weight buffer, head bytes, plus the fit
    summary from the manifest (K, alpha, cluster sizes, held-out gains)."""
    if not cat:
        return None
    layer = cat["layer"]
    prefix = f"{layer}/cat"
    head_ops = [op for op in model.operators
                if any(model.tensors[i].name.startswith(prefix) for i in op.outputs)]
    by_buffer: dict[int, list] = {}
    for t in model.tensors:
        if t.is_constant:
            by_buffer.setdefault(t.buffer, []).append(t)
    head_weight = next((t for t in model.tensors if t.name == f"{layer}/cat_head0/weight"), None)
    sharing = by_buffer.get(head_weight.buffer, []) if head_weight is not None else []
    distinct_scales = len({tuple(t.quantization.scale) for t in sharing if t.quantization is not None})
    head_bytes = 0
    for buffer, ts in by_buffer.items():
        if all(t.name.startswith(prefix) for t in ts):
            head_bytes += int(ts[0].data.nbytes)
    held = cat.get("held_out", {})
    return {
        "clusters": cat.get("clusters"), "alpha": cat.get("alpha"), "pca": cat.get("pca"),
        "cluster_sizes": cat.get("cluster_sizes"), "ops": len(head_ops),
        "op_counts": dict(Counter(op.kind for op in head_ops)),
        "weight_buffer_tensors": len(sharing), "weight_buffer_distinct_scales": distinct_scales,
        "weight_buffer_bytes": int(head_weight.data.nbytes) if head_weight is not None else 0,
        "head_only_constant_bytes": head_bytes, "head_only_share_of_file": head_bytes / file_size,
        "heldout_top1_none": held.get("heldout_top1_none"), "heldout_top1": held.get("heldout_top1"),
        "heldout_gain": held.get("heldout_gain"), "held_out_images": held.get("held_out_images"),
        "fit_logits": held.get("fit_logits"), "gain_low": held.get("gain_low"), "gain_high": held.get("gain_high"),
        "selection": held.get("selection"), "latency_share": held.get("latency_share"),
        "negative_scale_handling": cat.get("negative_scale_handling"),
        "a_floor": cat.get("a_floor"), "floored_channels": cat.get("floored_channels"),
    }
