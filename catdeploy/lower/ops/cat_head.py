"""CAT folded into the classifier (cat-method.md §4): integer heads on one shared weight buffer.

Classifier y_c = s_x s_w[c] sum_i (x_i - z_x) W[c, i] + b_c; cluster k corrects it to
A_kc y_c + B_kc = s_x (A_kc s_w[c]) sum_i (x_i - z_x) W[c, i] + (A_kc b_c + B_kc), i.e. the same
int8 weights with per-channel scale A_kc s_w[c] and int32 bias round((A_kc b_c + B_kc) /
(s_x A_kc s_w[c])). The ops (all stock TFLite builtins, integer only):

    K = 1:  FULLY_CONNECTED(x, W, bias_1) with scales A_1 s_w          -> logits/cat
    K >= 2: FULLY_CONNECTED(x, W, bias)            -> base int8 logits z (identity correction)
            CAST(z) int8 -> int16                  -> the raw codes z_q of z
            FULLY_CONNECTED(z16, [2I; I]) 16x8     -> [SPLIT z_q, z_q] (exact: multipliers 64, 1)
            FULLY_CONNECTED(.., [V_hi, V_lo], d) 16x8 -> K cluster scores (nearest centroid,
                                                      linear) on an int16 grid, int64 bias
            CAST(scores) int16 -> int32            -> ARG_MAX takes no int16 (arg_min_max.cc)
            ARG_MAX(scores, axis 1)                -> cluster index k [N] (first index on ties)
            FULLY_CONNECTED(x, W, bias_k) k=1..K   -> corrected heads, weights on W's buffer
            CONCATENATION(axis 1) -> RESHAPE [N, K, C] -> GATHER(axis 1, batch_dims 1, k)
                                                   -> logits/cat
Scores: V = s_v (V_hi + V_lo / SPLIT) per row, two int8 codes per weight (about 15 bits), applied
as V_hi . (SPLIT z_q) + V_lo . z_q in one 16x8 FC over the widened input. The int16 copies carry
zero point 0 (the 16x8 FC requires it), so z's zero point is folded into the bias:
d_k' = round((d_k - centre) / step_k) - z_z sum_i (SPLIT V_hi + V_lo)[k, i], exact. The int64 bias
sends every resolver of the three wheels to the reference 16x8 kernel (XNNPACK takes no int16
node and no CAST). The score grid is symmetric around the middle of the winning-score range of
the fit logits (stored widened by 10 %), SCORE_GRID_SPAN times that half-range wide. QUANTIZE
int8 -> int16 is not used: no TFLite build accepts it.
The heads share one output grid covering every cluster's corrected range.
"""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node
from catdeploy.ir.int_program import IntTensor
from catdeploy.lower.builder import ProgramBuilder
from catdeploy.lower.feature_order import in_nhwc_order
from catdeploy.lower.ops._weighted import input_tensor, weight_and_bias
from catdeploy.quant.qparams import ActQParams, act_qparams_from_range


def cat_params_of(cat: dict):
    from catdeploy.quant.cat_params import CatParams

    return CatParams.from_archive(cat, cat)


def cat_output_qparams(cat: dict) -> ActQParams:
    lo, hi = cat["output_range"]
    return act_qparams_from_range(float(lo), float(hi), 8)


SCORE_GRID_SPAN = 2.0        # int16 score grid = this many times the (widened) winning-score range
SCORE_MAX_MULTIPLIER = 64.0  # s_z s_v[k] / s_score stays below 2^7 (TFLite's 16x8 int64 rescale)


def cat_score_grid(cat: dict, acc_scales: np.ndarray) -> tuple[float, float]:
    """(centre, float32 scale) of the symmetric int16 score grid: scores - centre lie on
    scale * [-32767, 32767]. acc_scales = s_z s_v[k], the real value of one accumulator step of
    each score; the grid is never finer than 1 / SCORE_MAX_MULTIPLIER of the coarsest step."""
    lo, hi = (float(v) for v in cat["score_range"])
    centre = 0.5 * (lo + hi)
    half = SCORE_GRID_SPAN * max(0.5 * (hi - lo), 1e-6)
    scale = max(half / 32767.0, float(np.max(acc_scales)) / SCORE_MAX_MULTIPLIER)
    return centre, float(np.float32(scale))


SPLIT = 128   # the low code of a V weight counts 1 / SPLIT of the high one


def assignment_weights(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 codes [K, 2C] = [V_hi, V_lo], float32 scales s_v [K]) with V ~ s_v (V_hi + V_lo / SPLIT),
    per-channel symmetric. A row much smaller than the largest (a centroid at the origin: V_k = 0)
    gets the scale of 2^-16 of the largest, so that its bias codes and multiplier stay in range."""
    v_max = np.max(np.abs(v), axis=1)
    floor = max(float(np.max(v_max)) * 2.0 ** -16, 1e-12)
    v_scale = (np.maximum(v_max, floor) / 127.0).astype(np.float32)
    ratio = v / v_scale[:, None].astype(np.float64)
    hi = np.clip(np.rint(ratio), -127, 127)
    lo = np.clip(np.rint((ratio - hi) * SPLIT), -127, 127)
    return np.concatenate([hi, lo], axis=1).astype(np.int8), v_scale


def combined_codes(codes: np.ndarray) -> np.ndarray:
    """The integer weight SPLIT V_hi + V_lo each raw code z_q of z meets, [K, C] int64."""
    c = codes.shape[1] // 2
    return SPLIT * codes[:, :c].astype(np.int64) + codes[:, c:].astype(np.int64)


def widen_weights(classes: int) -> np.ndarray:
    """[2C, C] int8 [[2 I], [I]]: with per-channel multipliers 64 and 1 the 16x8 FC writes
    [SPLIT z_q, z_q] exactly (both rescales are powers of two applied to integers)."""
    eye = np.eye(classes, dtype=np.int8)
    return np.concatenate([2 * eye, eye], axis=0)


def assignment_bias(d: np.ndarray, step: np.ndarray, centre: float, z_z: int,
                    codes: np.ndarray) -> np.ndarray:
    """int64 bias codes of the assignment FC on [SPLIT z_q, z_q] (zero point 0 on the int16 copies):
    V z + d - centre = step_k ((SPLIT V_hi + V_lo) z_q + bias_k), step_k = s_z s_v[k] / SPLIT."""
    bias = np.rint((np.asarray(d, np.float64) - centre) / step).astype(np.int64)
    return bias - int(z_z) * combined_codes(codes).sum(axis=1)


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
    codes = in_nhwc_order(b.graph, node, b.qg.weight_codes[node.name]).astype(np.int8)
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

    # cluster scores V z + d on an int16 grid: CAST -> widen -> 16x8 FULLY_CONNECTED -> CAST -> ARG_MAX
    v, d = params.linear_scores()
    k_count = params.clusters
    s_z = np.float32(z_qp.scale)
    z_z = z_qp.tflite_zero_point
    v_codes, v_scale = assignment_weights(v)
    s_wide = np.float32(s_z / SPLIT)              # exact: SPLIT is a power of two
    step = np.float64(s_wide) * v_scale.astype(np.float64)
    centre, score_scale = cat_score_grid(cat, step)
    d_codes = assignment_bias(d, step, centre, z_z, v_codes)
    kz = np.zeros(k_count, np.int64)
    wz = np.zeros(2 * classes, np.int64)
    assign = f"{node.name} CAT assignment"
    z16 = b.add_tensor(IntTensor(f"{node.name}/cat_logits16", (batch, classes), "int16",
                                 scale=(float(s_z),), zero_point=(0,), bits=8))
    b.op("CAST", [node.output], [z16], {"in_data_type": "int8", "out_data_type": "int16"}, name=assign)
    # multipliers s_z s_w / s_wide: 64 on the 2 I rows (-> SPLIT z_q), 1 on the I rows (-> z_q)
    widen_scale = np.array([0.5] * classes + [1.0 / SPLIT] * classes, np.float32)
    ww = b.const(f"{node.name}/cat_widen/weight", widen_weights(classes), "int8", scale=widen_scale,
                 zero_point=wz, quantized_dimension=0, bits=8)
    wb = b.const(f"{node.name}/cat_widen/bias", np.zeros(2 * classes, np.int64), "int64",
                 scale=(np.float64(s_z) * widen_scale.astype(np.float64)).astype(np.float32),
                 zero_point=wz, quantized_dimension=0)
    wide = b.add_tensor(IntTensor(f"{node.name}/cat_logits_wide", (batch, 2 * classes), "int16",
                                  scale=(float(s_wide),), zero_point=(0,), bits=16))
    b.op("FULLY_CONNECTED", [z16, ww, wb], [wide], fc_options, name=assign)
    vw = b.const(f"{node.name}/cat_assign/weight", v_codes, "int8", scale=v_scale, zero_point=kz,
                 quantized_dimension=0, bits=8)
    vb = b.const(f"{node.name}/cat_assign/bias", d_codes, "int64", scale=step.astype(np.float32),
                 zero_point=kz, quantized_dimension=0)
    scores = b.add_tensor(IntTensor(f"{node.name}/cat_scores", (batch, k_count), "int16",
                                    scale=(score_scale,), zero_point=(0,), bits=16))
    b.op("FULLY_CONNECTED", [wide, vw, vb], [scores], fc_options, name=assign)
    scores32 = b.add_tensor(IntTensor(f"{node.name}/cat_scores32", (batch, k_count), "int32"))
    b.op("CAST", [scores], [scores32], {"in_data_type": "int16", "out_data_type": "int32"}, name=assign)
    axis = b.const(f"{node.name}/cat_axis", np.array([1], np.int32), "int32")
    cluster = b.add_tensor(IntTensor(f"{node.name}/cat_cluster", (batch,), "int32"))
    b.op("ARG_MAX", [scores32, axis], [cluster], {"output_type": "INT32"}, name=assign)

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
