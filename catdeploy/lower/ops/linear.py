"""LINEAR -> TFLite FULLY_CONNECTED (reference/integer_ops/fully_connected.h)."""
from __future__ import annotations

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder, activation_name
from catdeploy.lower.feature_order import in_nhwc_order
from catdeploy.lower.ops._weighted import input_tensor, weight_and_bias


def lower_linear(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    if len(b.tensors[x].shape) != 2:
        raise UserError(f"layer {node.name}: LINEAR on a rank-{len(b.tensors[x].shape)} input is not supported")
    if b.qg.cat is not None and b.qg.cat.get("layer") == node.name:
        from catdeploy.lower.ops.cat_head import lower_cat_head

        b.output_tensors[node.output] = lower_cat_head(b, node)
        return
    wt, bias = weight_and_bias(b, node, in_nhwc_order(b.graph, node, b.qg.weight_codes[node.name]),
                               quantized_dimension=0)
    act = activation_name(node)
    b.emit_value(node, node.output, "FULLY_CONNECTED", [x, wt, bias],
                 {"fused_activation": act, "keep_num_dims": False}, nonneg=act != "NONE")
