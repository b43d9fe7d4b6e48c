"""LINEAR -> float FULLY_CONNECTED (reference_ops::FullyConnected), [OUT, IN] weights."""
from __future__ import annotations

from catdeploy.ir.graph import Node
from catdeploy.lower.feature_order import in_nhwc_order
from catdeploy.lower.float_ops._common import activation


def lower_linear(b, node: Node) -> None:
    x = b.value(node.inputs[0])
    wt = b.const(f"{node.name}/weight", in_nhwc_order(b.graph, node, node.params["weight"]))
    bias = b.const(f"{node.name}/bias", node.params["bias"])
    b.op("FULLY_CONNECTED", [x, wt, bias], [b.value(node.output)],
         {"fused_activation": activation(node), "keep_num_dims": False}, name=node.name)
