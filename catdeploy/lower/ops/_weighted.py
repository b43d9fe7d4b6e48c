"""Constants shared by the weighted ops: int8 weight codes and int32 bias with TFLite qparams."""
from __future__ import annotations

import numpy as np

from catdeploy.ir.graph import Node, OpKind
from catdeploy.lower.builder import ProgramBuilder


def weight_and_bias(b: ProgramBuilder, node: Node, weight_q: np.ndarray, quantized_dimension: int,
                    buffer_key: str | None = None) -> tuple[str, str]:
    """Weight tensor (codes q - z in int8, TFLite zero point 0, per-channel scales) and int32 bias.

    Bias scale = s_in * s_w[c] (the scale TFLite expects; only checked for uint8 models).
    buffer_key: share the weight bytes with other tensors of the same key (CAT heads).
    """
    qg = b.qg
    wq = qg.weight_qparams[node.name]
    s_in = np.float32(qg.input_qparams(node.name).scale)
    w_scale = wq.scale.astype(np.float32)
    n = w_scale.size
    codes = weight_q.astype(np.int8)
    # Packed INT4 (two values per byte) when asked for and every code fits a signed nibble. A
    # weight shared with the CAT heads (buffer_key) stays int8: the heads' FULLY_CONNECTED read the
    # same buffer as int8 codes (a packed base beside int8 heads cannot share one buffer).
    packed = (b.lowering.int4_weights and buffer_key is None and wq.bits <= 4
              and codes.min() >= -8 and codes.max() <= 7)
    # Packed INT2 (four per byte; FULLY_CONNECTED v14 only) when asked for and every code fits [-2, 1].
    packed2 = (b.lowering.int2_weights and node.kind is OpKind.LINEAR and buffer_key is None and wq.bits <= 2
               and codes.min() >= -2 and codes.max() <= 1)
    dtype = "int2" if packed2 else "int4" if packed else "int8"
    w = b.const(f"{node.name}/weight", codes, dtype, scale=w_scale,
                zero_point=np.zeros(n, np.int64), quantized_dimension=quantized_dimension, bits=wq.bits,
                buffer_key=buffer_key)
    bias_scale = (np.float64(s_in) * w_scale.astype(np.float64)).astype(np.float32)
    bias = b.const(f"{node.name}/bias", qg.bias_codes[node.name].astype(np.int32), "int32",
                   scale=bias_scale, zero_point=np.zeros(n, np.int64), quantized_dimension=0)
    return w, bias


def input_tensor(b: ProgramBuilder, node: Node, index: int = 0) -> str:
    return b.qg.plan.node_inputs[node.name][index]
