"""ProgramBuilder: collects IntTensors and IntOps while one QuantizedGraph is lowered.

Owned by a single `lower()` call; the result is an immutable IntProgram.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from catdeploy.errors import UserError
from catdeploy.ir.graph import Graph, Node
from catdeploy.ir.int_program import IntOp, IntProgram, IntTensor
from catdeploy.lower.options import DEFAULT_LOWERING, LoweringOptions
from catdeploy.quant.qparams import ActQParams, container_offset
from catdeploy.quant.quantized_graph import QuantizedGraph


def nhwc_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """NCHW value shape -> NHWC tensor shape (rank-2 shapes unchanged)."""
    if len(shape) == 4:
        n, c, h, w = shape
        return (n, h, w, c)
    return tuple(shape)


@dataclass
class ProgramBuilder:
    qg: QuantizedGraph
    lowering: LoweringOptions = DEFAULT_LOWERING
    tensors: dict[str, IntTensor] = field(default_factory=dict)
    ops: list[IntOp] = field(default_factory=list)
    nonnegative: dict[str, bool] = field(default_factory=dict)  # value -> real values >= 0 guaranteed
    extra_clamps: int = 0
    requant_info: dict[str, dict] = field(default_factory=dict)
    output_tensors: dict[str, str] = field(default_factory=dict)  # graph value -> tensor (CAT output)

    @property
    def graph(self) -> Graph:
        return self.qg.graph

    def add_tensor(self, t: IntTensor) -> str:
        if t.name in self.tensors:
            raise UserError(f"internal: tensor {t.name} defined twice while lowering")
        self.tensors[t.name] = t
        return t.name

    def act_tensor(self, name: str, shape: tuple[int, ...], qp: ActQParams) -> str:
        return self.add_tensor(IntTensor(
            name=name, shape=tuple(int(d) for d in shape), dtype="int8", scale=(float(np.float32(qp.scale)),),
            zero_point=(qp.tflite_zero_point,), bits=qp.bits))

    def value_tensor(self, value: str, name: str | None = None, unclipped: bool = False) -> str:
        """The int8 activation tensor of a graph value (or requantized copy), shaped NHWC.

        unclipped: the producer's raw output before an explicit lower clip (full int8 range, bits 8).
        """
        qp = self.qg.act_qparams[value]
        source = self.qg.plan.requants.get(value, (value, 0))[0]
        name = self.act_tensor(name or value, nhwc_shape(self.graph.values[source].shape), qp)
        if unclipped:
            self.tensors[name] = replace(self.tensors[name], bits=8)
        return name

    def const(self, name: str, data: np.ndarray, dtype: str, *, scale=None, zero_point=None,
              quantized_dimension: int = 0, bits: int | None = None, buffer_key: str | None = None) -> str:
        return self.add_tensor(IntTensor(
            name=name, shape=tuple(int(d) for d in data.shape), dtype=dtype,
            scale=None if scale is None else tuple(float(np.float32(s)) for s in scale),
            zero_point=None if zero_point is None else tuple(int(z) for z in zero_point),
            quantized_dimension=quantized_dimension, data=np.array(data, order="C"), bits=bits,
            buffer_key=buffer_key))

    def op(self, kind: str, inputs, outputs, options=None, name: str = "") -> None:
        self.ops.append(IntOp(kind=kind, inputs=tuple(inputs), outputs=tuple(outputs),
                              options=dict(options or {}), name=name))

    def emit_value(self, node: Node, value: str, producer_kind: str, inputs, options, nonneg: bool) -> None:
        """Emit the op producing `value`, plus a MAXIMUM when its grid's lower clip is not implied.

        The grid sits at the top of int8, so saturation at 127 is the upper clip. The lower clip
        (stored value container_offset(b)) comes for free when the values are known to be >= real 0
        (fused ReLU, or a non-negative source) or b == 8; otherwise an explicit MAXIMUM is added.
        """
        qp = self.qg.act_qparams[value]
        needs_clamp = qp.bits < 8 and not nonneg
        out_name = f"{value}/unclipped" if needs_clamp else value
        if needs_clamp:
            self.value_tensor(value, name=out_name, unclipped=True)
        else:
            self.value_tensor(value)
        self.op(producer_kind, inputs, [out_name], options, name=node.name)
        if needs_clamp:
            self.add_lower_clip(out_name, value, qp, node.name)
        self.nonnegative[value] = nonneg
        self.emit_requants(value)

    def emit_copy(self, node: Node, value: str, kind: str, inputs, options) -> None:
        """Emit an op that only moves raw values of one input on its (shared) grid (GATHER as a
        channel permutation or slice): the output holds a subset of the input's values, so no
        clip is needed and non-negativity carries over."""
        self.value_tensor(value)
        self.op(kind, inputs, [value], options, name=node.name)
        self.nonnegative[value] = self.nonnegative.get(node.inputs[0], False)
        self.emit_requants(value)

    def add_lower_clip(self, src: str, dst: str, qp: ActQParams, layer: str) -> None:
        self.value_tensor(dst)
        floor = self.const(f"{dst}/grid_min", np.array(container_offset(qp.bits), np.int8), "int8",
                           scale=(qp.scale,), zero_point=(qp.tflite_zero_point,), bits=qp.bits)
        self.op("MAXIMUM", [src, floor], [dst], {}, name=layer)
        self.extra_clamps += 1

    def emit_requants(self, value: str) -> None:
        """int8 -> int8 QUANTIZE for every reader that needs fewer bits than `value` holds."""
        for derived, (source, bits) in sorted(self.qg.plan.requants.items()):
            if source != value:
                continue
            qp = self.qg.act_qparams[derived]
            nonneg = self.nonnegative.get(value, False)
            needs_clamp = qp.bits < 8 and not nonneg
            out_name = f"{derived}/unclipped" if needs_clamp else derived
            self.value_tensor(derived, name=out_name, unclipped=needs_clamp)
            self.op("QUANTIZE", [value], [out_name], {}, name=f"requantize {value} to {bits} bit")
            if needs_clamp:
                self.add_lower_clip(out_name, derived, qp, f"requantize {value}")
            self.nonnegative[derived] = nonneg

    def build(self, inputs, outputs, metadata) -> IntProgram:
        return IntProgram(tensors=dict(self.tensors), ops=tuple(self.ops), inputs=tuple(inputs),
                          outputs=tuple(outputs), metadata=dict(metadata))


def activation_name(node: Node) -> str:
    act = node.attrs.get("activation", "none")
    return {"none": "NONE", "relu": "RELU", "relu6": "RELU6"}[act]


def torch_pad_to_tflite(in_hw, kernel, stride, dilation, padding) -> tuple[str, tuple[int, int, int, int] | None]:
    """('SAME'|'VALID', explicit pads or None) reproducing torch's zero padding exactly.

    TFLite SAME puts the odd extra pixel at the bottom/right (kernels/padding.h); torch pads
    symmetrically. When they disagree an explicit PAD op (pads with the input zero point) is needed.
    """
    pt, pl, pb, pr = padding
    out = []
    for i in range(2):
        eff = (kernel[i] - 1) * dilation[i] + 1
        before, after = (pt, pb) if i == 0 else (pl, pr)
        out.append((in_hw[i] + before + after - eff) // stride[i] + 1)
    if padding == (0, 0, 0, 0):
        return "VALID", None
    same_ok = True
    for i in range(2):
        eff = (kernel[i] - 1) * dilation[i] + 1
        o_same = -(-in_hw[i] // stride[i])
        total = max((o_same - 1) * stride[i] + eff - in_hw[i], 0)
        before = pt if i == 0 else pl
        if o_same != out[i] or total // 2 != before:
            same_ok = False
    if same_ok:
        return "SAME", None
    return "VALID", (pt, pl, pb, pr)


def ceil_mode_pads(in_hw, out_hw, kernel, stride, pads) -> tuple[int, int, int, int]:
    """torch ceil_mode pooling as end padding: the last windows run past the bottom/right edge and
    only see in-image cells, like windows over padding that is never selected."""
    top, left, bottom, right = pads
    bottom += max(0, (out_hw[0] - 1) * stride[0] + kernel[0] - (in_hw[0] + top + bottom))
    right += max(0, (out_hw[1] - 1) * stride[1] + kernel[1] - (in_hw[1] + left + right))
    return (top, left, bottom, right)


def emit_explicit_pad(b: ProgramBuilder, node: Node, src_value: str, src_tensor: str,
                      pads: tuple[int, int, int, int]) -> str:
    """PAD (int8, pads with the output zero point = real 0) producing a new tensor with src's grid."""
    pt, pl, pb, pr = pads
    src = b.tensors[src_tensor]
    n, h, w, c = src.shape
    name = f"{node.name}/pad"
    b.add_tensor(IntTensor(name=name, shape=(n, h + pt + pb, w + pl + pr, c), dtype="int8",
                           scale=src.scale, zero_point=src.zero_point, bits=src.bits))
    paddings = b.const(f"{node.name}/paddings", np.array([[0, 0], [pt, pb], [pl, pr], [0, 0]], np.int32), "int32")
    b.op("PAD", [src_tensor, paddings], [name], {}, name=node.name)
    return name
