"""AVG_POOL2D -> TFLite AVERAGE_POOL_2D (reference/integer_ops/pooling.h AveragePool).

TFLite divides by the number of in-image cells; torch's count_include_pad=True divides by the
cells of the window inside the padded input. So count_include_pad=True with padding becomes an
explicit PAD (the zero point, real 0) and a pool over the padded map (inception_v3's 3x3 /
stride 1 / pad 1 branch pools: VALID); count_include_pad=False pools the map itself. ceil_mode
windows hang over the bottom / right edge and count only the cells they cover there, as torch's
(avg_pool2d's divisor stops at the padded input's end). Either way the remaining padding must be
TFLite's SAME (padding.h: odd cell at the end) or none, else there is no exact equivalent. The
ResNet-D shortcut AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) on an odd map is SAME.
"""
from __future__ import annotations

from catdeploy.errors import UserError
from catdeploy.ir.graph import Node
from catdeploy.lower.builder import ProgramBuilder, ceil_mode_pads, emit_explicit_pad, torch_pad_to_tflite
from catdeploy.lower.ops._weighted import input_tensor


def average_pool_layout(node: Node, in_hw, out_hw) -> tuple[tuple[int, int, int, int] | None, str]:
    """(explicit zero padding or None, TFLite padding of the pool after it) reproducing the node's
    windows and divisors exactly; a UserError when no TFLite form does."""
    kernel, stride = tuple(node.attrs["kernel"]), tuple(node.attrs["stride"])
    pads = tuple(node.attrs["padding"])
    explicit = pads if pads != (0, 0, 0, 0) and node.attrs.get("count_include_pad", True) else None
    if explicit is not None:
        in_hw = (in_hw[0] + pads[0] + pads[2], in_hw[1] + pads[1] + pads[3])
        pads = (0, 0, 0, 0)
    if node.attrs.get("ceil_mode", False):
        pads = ceil_mode_pads(in_hw, out_hw, kernel, stride, pads)
    padding, leftover = torch_pad_to_tflite(in_hw, kernel, stride, (1, 1), pads)
    if leftover is not None:
        raise UserError(f"layer {node.name}: AvgPool2d with this padding/ceil_mode has no exact TFLite "
                        "equivalent")
    return explicit, padding


def lower_avg_pool2d(b: ProgramBuilder, node: Node) -> None:
    x = input_tensor(b, node)
    _, h, w, _ = b.tensors[x].shape
    kernel, stride = tuple(node.attrs["kernel"]), tuple(node.attrs["stride"])
    explicit, padding = average_pool_layout(node, (h, w), b.graph.values[node.output].shape[2:])
    if explicit is not None:
        x = emit_explicit_pad(b, node, node.inputs[0], x, explicit)
    b.emit_value(node, node.output, "AVERAGE_POOL_2D", [x], {
        "padding": padding, "stride_h": stride[0], "stride_w": stride[1],
        "filter_h": kernel[0], "filter_w": kernel[1], "fused_activation": "NONE",
    }, nonneg=b.nonnegative.get(node.inputs[0], False))
