"""`--affine-layers`: a per-output-channel closed-form affine inside the network (cat-method.md §5).

For every weighted layer, in network order, with the upstream layers already corrected:
    y  = real pre-activation output of the INTEGER layer = s_in s_w[c] * acc   (catrt accumulators)
    t  = pre-activation output of the FP layer on the FP input
    fit t ~ a_c y + b_c per channel by least squares (for layers with a fused ReLU/ReLU6 only on the
    elements where t > 0 or y > 0, the ones the activation lets through),
and fold it into the layer: s_w[c] <- a_c s_w[c] (the requantization multiplier), real bias
<- a_c b + b_c (the int32 bias offset). Zero extra ops, zero extra bytes. The pass is one sweep
through the catrt program: each layer is fitted on the integer values its corrected upstream
produces, then the program is re-prepared with the corrected layer and the sweep continues.

Robustness: a_c is pulled toward 1 with strength `strength` and weight n / (n + SHRINK_TAU),
clipped to [1 / A_CAP, A_CAP]; channels with (near) constant y only get an offset. Selection: the
same evidence rule as CAT (cat/evidence.py): every strength is fitted on the first CAT images and
compared with "off" on the others, pairwise, and applied only when its gain's interval lies above
zero (the weaker strength when within one standard error of the stronger).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from catdeploy.cat.fit import SHRINK_TAU, VAR_FLOOR
from catdeploy.errors import UserError
from catdeploy.integer.inputs import prepare_inputs
from catdeploy.integer.metrics import dequantize
from catdeploy.integer.program import lowered, program_bytes
from catdeploy.integer.runner import catrt_interpreter, catrt_tensors, output_qparams
from catdeploy.quant.quantized_graph import QuantizedGraph, bias_codes_for
from catdeploy.quant.qparams import WeightQParams

A_CAP = 2.0
STRENGTHS = (0.5, 1.0)
MAX_FIT_IMAGES = 256      # images the sweep fits on (the first of the CAT images)
MAX_SCORE_IMAGES = 2048   # images each strength is scored on (the next ones)


def fit_channel_affine(y: np.ndarray, t: np.ndarray, mask: np.ndarray | None, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Per channel (last axis) least squares t ~ a y + b over the masked elements, shrunk toward
    (1, 0): a = 1 + s w (a_ls - 1), b = intercept for that a; y, t [M, C], mask [M, C] or None."""
    y = np.asarray(y, np.float64)
    t = np.asarray(t, np.float64)
    m = np.ones_like(y, dtype=bool) if mask is None else np.asarray(mask, bool)
    n = m.sum(axis=0).astype(np.float64)
    safe = np.maximum(n, 1.0)
    my = np.where(m, y, 0).sum(axis=0) / safe
    mt = np.where(m, t, 0).sum(axis=0) / safe
    var = np.where(m, (y - my) ** 2, 0).sum(axis=0) / safe
    cov = np.where(m, (y - my) * (t - mt), 0).sum(axis=0) / safe
    a_ls = np.where(var > VAR_FLOOR, cov / np.maximum(var, VAR_FLOOR), 1.0)
    w = strength * n / (n + SHRINK_TAU)
    a = np.clip(1.0 + w * (a_ls - 1.0), 1.0 / A_CAP, A_CAP)
    b = w * (mt - a * my)
    b = np.where(n > 0, b, 0.0)
    return a, b


def corrected_layer(qg: QuantizedGraph, node_name: str, a: np.ndarray, b: np.ndarray) -> QuantizedGraph:
    """qg with layer `node_name` computing a * y + b: scales a s_w (float32), bias re-encoded."""
    wq = qg.weight_qparams[node_name]
    s_in = qg.input_qparams(node_name).scale
    s_w = wq.scale.astype(np.float32).astype(np.float64)
    bias_real = qg.bias_codes[node_name].astype(np.float64) * np.float64(np.float32(s_in)) * s_w
    new_scale = (a * s_w).astype(np.float32)
    new_bias = bias_codes_for(a * bias_real + b, s_in, new_scale)
    wqs = dict(qg.weight_qparams)
    wqs[node_name] = WeightQParams(wq.bits, wq.symmetric, new_scale, wq.zero_point)
    biases = dict(qg.bias_codes)
    biases[node_name] = new_bias
    return replace(qg, weight_qparams=wqs, bias_codes=biases)


def _fp_preactivations(graph, images: np.ndarray, nodes) -> dict[str, np.ndarray]:
    """FP pre-activation output (NHWC / [N, C], float32) of each weighted node."""
    import torch

    from catdeploy.ir.execute import run_graph
    from catdeploy.ir.float_ops import FLOAT_OPS

    out: dict[str, list] = {n.name: [] for n in nodes}
    with torch.no_grad():
        for start in range(0, len(images), 64):
            _, values = run_graph(graph, images[start:start + 64], keep={n.inputs[0] for n in nodes})
            for n in nodes:
                plain = replace(n, attrs={**n.attrs, "activation": "none"})
                params = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in n.params.items()}
                y = FLOAT_OPS[n.kind](plain, [torch.from_numpy(values[n.inputs[0]])], params).numpy()
                out[n.name].append(np.transpose(y, (0, 2, 3, 1)) if y.ndim == 4 else y)
    return {k: np.concatenate(v) for k, v in out.items()}


def sweep(qg: QuantizedGraph, images: np.ndarray, strength: float, log=lambda m: None) -> QuantizedGraph:
    """One pass in network order fitting and folding every weighted layer's affine."""
    program, model_bytes = lowered(qg)
    layers = {n.name: n for n in qg.graph.nodes if n.name in qg.weight_qparams}
    op_layer = {i: op.name for i, op in enumerate(program.ops)
                if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and op.name in layers
                and op.outputs[0] in (layers[op.name].output, f"{layers[op.name].output}/unclipped")}
    targets = _fp_preactivations(qg.graph, images, [layers[n] for n in op_layer.values()])
    x_int8 = prepare_inputs(model_bytes, images)
    rt = catrt_interpreter(model_bytes)
    values = rt.initial_values(x_int8)
    for index in range(rt.num_ops):
        name = op_layer.get(index)
        if name is not None:
            node = layers[name]
            acc = rt.accumulators(index, values).astype(np.float64)
            s_in = np.float64(np.float32(qg.input_qparams(name).scale))
            s_w = qg.weight_qparams[name].scale.astype(np.float32).astype(np.float64)
            y = acc * (s_in * s_w)
            t = targets[name].astype(np.float64)
            y2, t2 = y.reshape(-1, y.shape[-1]), t.reshape(-1, t.shape[-1])
            mask = None
            if node.attrs.get("activation", "none") != "none":
                mask = (t2 > 0) | (y2 > 0)
            a, b = fit_channel_affine(y2, t2, mask, strength)
            qg = corrected_layer(qg, name, a, b)
            rt = catrt_interpreter(program_bytes(qg))
            values.update(rt.initial_values(x_int8))
        rt.evaluate_op(index, values)
    return qg


def calibrate_affine_layers(qg: QuantizedGraph, fp_logits_of, chunks, seed: int = 0,
                            log=lambda m: None) -> QuantizedGraph:
    """Select and apply the in-network affine on the CAT images, streamed as `chunks` of (images,
    labels or None): fitted on the first MAX_FIT_IMAGES (at most half of them), each strength
    scored against "off" on up to MAX_SCORE_IMAGES of the rest with the evidence rule of cat/evidence.py (paired gain with its
    interval, the weaker strength within one standard error of the best, applied only when the
    interval lies above zero; the affine costs no op and no byte)."""
    from catdeploy.cat.evidence import choose_by_evidence, correct_top1, paired_gain, simultaneous_z

    kept, label_parts, has_labels, total = [], [], True, 0
    for images, labels in chunks:
        take = images[:MAX_FIT_IMAGES + MAX_SCORE_IMAGES - total]
        kept.append(take)
        total += len(take)
        if labels is None:
            has_labels = False
        else:
            label_parts.append(np.asarray(labels)[:len(take)])
        if total >= MAX_FIT_IMAGES + MAX_SCORE_IMAGES:
            break
    x_all = np.concatenate(kept)
    n_fit = min(MAX_FIT_IMAGES, len(x_all) // 2)
    if n_fit < 8:
        raise UserError(f"--affine-layers needs at least 16 images (got {len(x_all)}); raise --cat-samples or --samples")
    x_fit, x_score = x_all[:n_fit], x_all[n_fit:]
    f_score = np.asarray(fp_logits_of(x_score), np.float64)
    y_score = np.concatenate(label_parts)[n_fit:] if has_labels else np.argmax(f_score, axis=1)
    out_name = qg.graph.outputs[0]

    def logits_of(candidate: QuantizedGraph) -> np.ndarray:
        model_bytes = program_bytes(candidate)
        scale, zp = output_qparams(model_bytes)
        return dequantize(catrt_tensors(model_bytes, x_score, [out_name])[out_name], scale, zp)

    base_logits = logits_of(qg)
    base_correct = correct_top1(base_logits, y_score)
    base_top1 = 100.0 * float(base_correct.mean())
    rows = [{"strength": 0.0, "heldout_top1": base_top1,
             "heldout_mse": float(np.mean((base_logits - f_score) ** 2)), "gain": 0.0}]
    gains, candidates = [], []
    for strength in STRENGTHS:
        cand = sweep(qg, x_fit, strength, log)
        z = logits_of(cand)
        correct = correct_top1(z, y_score)
        gain = paired_gain(correct, base_correct, simultaneous_z(len(STRENGTHS)))
        gains.append(gain)
        candidates.append(cand)
        rows.append({"strength": strength, "heldout_top1": 100.0 * float(correct.mean()),
                     "heldout_mse": float(np.mean((z - f_score) ** 2)), **gain.to_dict()})
        log(f"affine layers: strength {strength}: gain {gain}")
    choice = choose_by_evidence(gains, [0.0] * len(gains), [True] * len(gains), [(s,) for s in STRENGTHS])
    chosen = 0.0 if choice.index is None else STRENGTHS[choice.index]
    for r in rows:
        r["chosen"] = r["strength"] == chosen
    best_row = rows[0] if choice.index is None else rows[choice.index + 1]
    info = {"applied": choice.index is not None, "strength": chosen, "fit_images": int(len(x_fit)),
            "held_out_images": int(len(x_score)), "heldout_top1_none": base_top1,
            "heldout_top1": best_row["heldout_top1"], "heldout_gain": best_row["heldout_top1"] - base_top1,
            "reason": choice.reason, "candidates": rows,
            "layers": len([n for n in qg.graph.nodes if n.name in qg.weight_qparams])}
    if choice.index is not None:
        info.update(gains[choice.index].to_dict())
    log(f"affine layers: {choice.reason}")
    result = qg if choice.index is None else candidates[choice.index]
    return replace(result, meta={**qg.meta, "affine_layers": info})
