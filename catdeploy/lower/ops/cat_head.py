"""CAT folded into the classifier (cat-method.md §4): integer heads on one shared weight buffer.

Classifier y_c = s_x s_w[c] sum_i (x_i - z_x) W[c, i] + b_c; cluster k corrects it to
A_kc y_c + B_kc = s_x (A_kc s_w[c]) sum_i (x_i - z_x) W[c, i] + (A_kc b_c + B_kc), i.e. the same
int8 weights with per-channel scale A_kc s_w[c] and int32 bias round((A_kc b_c + B_kc) /
(s_x A_kc s_w[c])). The ops (all stock int8 TFLite builtins):

    K = 1:  FULLY_CONNECTED(x, W, bias_1) with scales A_1 s_w          -> logits/cat
    K >= 2: FULLY_CONNECTED(x, W, bias)            -> base int8 logits z (identity correction)
            FULLY_CONNECTED(z, V, d)               -> K cluster scores (nearest centroid, linear)
            ARG_MAX(scores, axis 1)                -> cluster index k [N] (first index on ties)
            FULLY_CONNECTED(x, W, bias_k) k=1..K   -> corrected heads, weights on W's buffer
            CONCATENATION(axis 1) -> RESHAPE [N, K, C] -> GATHER(axis 1, batch_dims 1, k)
                                                   -> logits/cat
The heads share one output grid covering every cluster's corrected range.
"""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.ops._weighted import input_tensor, weight_and_bias
from catdeploy.quant.qparams import ActQParams, act_qparams_from_range


def cat_params_of(cat: dict):
    from catdeploy.cat.fit import CatParams

    return CatParams.from_archive(cat, cat)


def cat_output_qparams(cat: dict) -> ActQParams:
    lo, hi = cat["output_range"]
    return act_qparams_from_range(float(lo), float(hi), 8)


def cat_score_qparams(cat: dict) -> ActQParams:
    lo, hi = cat["score_range"]
    return act_qparams_from_range(float(lo), float(hi), 8)


def corrected_head_constants(b: ProgramBuilder, node: Node, a: np.ndarray, offset: np.ndarray):
    """(per-channel scales A s_w as float32, int32 bias codes) of one corrected head."""
    qg = b.qg
    wq = qg.weight_qparams[node.name]
    s_x = np.float64(np.float32(qg.input_qparams(node.name).scale))
    s_w = wq.scale.astype(np.float32).astype(np.float64)
    bias_real = qg.bias_codes[node.name].astype(np.float64) * s_x * s_w
    scale = (a * s_w).astype(np.float32)
    new_bias = (a * bias_real + offset) / (s_x * scale.astype(np.float64))
    codes = np.clip(np.rint(new_bias), -(2 ** 31), 2 ** 31 - 1).astype(np.int32)
    return scale, codes


def _grid_tensor(b: ProgramBuilder, name: str, shape, qp: ActQParams) -> str:
    return b.act_tensor(name, shape, qp)


def lower_cat_head(b: ProgramBuilder, node: Node) -> str:
    """Emit the classifier `node` with CAT folded in; returns the name of the corrected logits."""
    cat = dict(b.qg.cat)
    params = cat_params_of(cat)
    a, offset = params.scale_and_offset()
    x = input_tensor(b, node)
    batch, classes = b.tensors[x].shape[0], a.shape[1]
    out_qp = cat_output_qparams(cat)
    codes = b.qg.weight_codes[node.name].astype(np.int8)
    buffer_key = f"{node.name}/weight"
    zeros = np.zeros(classes, np.int64)
    s_x = np.float32(b.qg.input_qparams(node.name).scale)
    out_name = f"{node.output}/cat"
    fc_options = {"fused_activation": "NONE", "keep_num_dims": False}

    def head(k: int, output: str) -> None:
        scale, bias_codes = corrected_head_constants(b, node, a[k], offset[k])
        w = b.const(f"{node.name}/cat_head{k}/weight", codes, "int8", scale=scale, zero_point=zeros,
                    quantized_dimension=0, bits=b.qg.weight_qparams[node.name].bits, buffer_key=buffer_key)
        bias_scale = (np.float64(s_x) * scale.astype(np.float64)).astype(np.float32)
        bias = b.const(f"{node.name}/cat_head{k}/bias", bias_codes, "int32", scale=bias_scale,
                       zero_point=zeros, quantized_dimension=0)
        b.op("FULLY_CONNECTED", [x, w, bias], [output], fc_options, name=f"{node.name} CAT head {k}")

    if params.clusters == 1:
        _grid_tensor(b, out_name, (batch, classes), out_qp)
        head(0, out_name)
        return out_name

    # base logits z with the classifier's own multipliers (identity correction)
    wt, bias = weight_and_bias(b, node, codes, quantized_dimension=0, buffer_key=buffer_key)
    b.value_tensor(node.output)
    b.op("FULLY_CONNECTED", [x, wt, bias], [node.output], fc_options, name=node.name)
    z_qp = b.qg.act_qparams[node.output]

    # cluster scores: V z + d, per-channel symmetric int8 V
    v, d = params.linear_scores()
    k_count = params.clusters
    v_scale = (np.maximum(np.max(np.abs(v), axis=1), 1e-12) / 127.0).astype(np.float32)
    v_codes = np.clip(np.rint(v / v_scale[:, None].astype(np.float64)), -127, 127).astype(np.int8)
    s_z = np.float64(np.float32(z_qp.scale))
    d_scale = s_z * v_scale.astype(np.float64)
    d_codes = np.clip(np.rint(d / d_scale), -(2 ** 31), 2 ** 31 - 1).astype(np.int32)
    kz = np.zeros(k_count, np.int64)
    vw = b.const(f"{node.name}/cat_assign/weight", v_codes, "int8", scale=v_scale, zero_point=kz,
                 quantized_dimension=0, bits=8)
    vb = b.const(f"{node.name}/cat_assign/bias", d_codes, "int32", scale=d_scale.astype(np.float32),
                 zero_point=kz, quantized_dimension=0)
    scores = _grid_tensor(b, f"{node.name}/cat_scores", (batch, k_count), cat_score_qparams(cat))
    b.op("FULLY_CONNECTED", [node.output, vw, vb], [scores], fc_options, name=f"{node.name} CAT assignment")
    axis = b.const(f"{node.name}/cat_axis", np.array([1], np.int32), "int32")
    cluster = b.add_tensor(_int32_tensor(f"{node.name}/cat_cluster", (batch,)))
    b.op("ARG_MAX", [scores, axis], [cluster], {"output_type": "INT32"}, name=f"{node.name} CAT assignment")

    heads = []
    for k in range(k_count):
        name = _grid_tensor(b, f"{node.name}/cat_head{k}", (batch, classes), out_qp)
        head(k, name)
        heads.append(name)
    stacked = _grid_tensor(b, f"{node.name}/cat_heads", (batch, k_count * classes), out_qp)
    b.op("CONCATENATION", heads, [stacked], {"axis": 1, "fused_activation": "NONE"}, name=f"{node.name} CAT heads")
    cube = _grid_tensor(b, f"{node.name}/cat_heads_by_cluster", (batch, k_count, classes), out_qp)
    shape = b.const(f"{node.name}/cat_shape", np.array([-1, k_count, classes], np.int32), "int32")
    b.op("RESHAPE", [stacked, shape], [cube], {"new_shape": (-1, k_count, classes)}, name=f"{node.name} CAT heads")
    _grid_tensor(b, out_name, (batch, classes), out_qp)
    b.op("GATHER", [cube, cluster], [out_name], {"axis": 1, "batch_dims": 1}, name=f"{node.name} CAT select")
    return out_name


def _int32_tensor(name: str, shape):
    from catdeploy.ir.int_program import IntTensor

    return IntTensor(name=name, shape=tuple(shape), dtype="int32")
