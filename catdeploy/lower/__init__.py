"""QuantizedGraph -> IntProgram (NHWC, int8 activations, int8 weight codes, int32 biases).

One file per op under ops/; REGISTRY maps an OpKind to its lowering function.
"""
from __future__ import annotations

from catdeploy.errors import UserError
from catdeploy.ir.graph import OpKind
from catdeploy.ir.int_program import IntProgram, IntTensor
from catdeploy.ir.queries import classifier_node
from catdeploy.lower.builder import ProgramBuilder, nhwc_shape
from catdeploy.lower.ops.add import lower_add
from catdeploy.lower.ops.avg_pool2d import lower_avg_pool2d
from catdeploy.lower.ops.channel_shuffle import lower_channel_shuffle
from catdeploy.lower.ops.clamp import lower_clamp
from catdeploy.lower.ops.concat import lower_concat
from catdeploy.lower.ops.conv2d import lower_conv2d
from catdeploy.lower.ops.depthwise_conv2d import lower_depthwise_conv2d
from catdeploy.lower.ops.flatten import lower_flatten
from catdeploy.lower.ops.global_avg_pool import lower_global_avg_pool
from catdeploy.lower.ops.hardsigmoid import lower_hardsigmoid
from catdeploy.lower.ops.hardswish import lower_hardswish
from catdeploy.lower.ops.leaky_relu import lower_leaky_relu
from catdeploy.lower.ops.linear import lower_linear
from catdeploy.lower.ops.max_pool2d import lower_max_pool2d
from catdeploy.lower.ops.mul import lower_mul
from catdeploy.lower.ops.pad import lower_pad
from catdeploy.lower.ops.prelu import lower_prelu
from catdeploy.lower.ops.relu import lower_relu
from catdeploy.lower.ops.sigmoid import lower_sigmoid
from catdeploy.lower.ops.silu import lower_silu
from catdeploy.lower.ops.slice import lower_slice
from catdeploy.lower.options import DEFAULT_LOWERING, IO_MODES, LoweringOptions
from catdeploy.lower.requant import requant_table
from catdeploy.quant.quantized_graph import QuantizedGraph

REGISTRY = {
    OpKind.CONV2D: lower_conv2d,
    OpKind.DEPTHWISE_CONV2D: lower_depthwise_conv2d,
    OpKind.LINEAR: lower_linear,
    OpKind.ADD: lower_add,
    OpKind.GLOBAL_AVG_POOL: lower_global_avg_pool,
    OpKind.MAX_POOL2D: lower_max_pool2d,
    OpKind.AVG_POOL2D: lower_avg_pool2d,
    OpKind.FLATTEN: lower_flatten,
    OpKind.PAD: lower_pad,
    OpKind.RELU: lower_relu,
    OpKind.RELU6: lower_relu,
    OpKind.CONCAT: lower_concat,
    OpKind.MUL: lower_mul,
    OpKind.HARDSWISH: lower_hardswish,
    OpKind.SIGMOID: lower_sigmoid,
    OpKind.HARDSIGMOID: lower_hardsigmoid,
    OpKind.SILU: lower_silu,
    OpKind.CHANNEL_SHUFFLE: lower_channel_shuffle,
    OpKind.SLICE: lower_slice,
    OpKind.LEAKY_RELU: lower_leaky_relu,
    OpKind.PRELU: lower_prelu,
    OpKind.CLAMP: lower_clamp,
}


def lower(qg: QuantizedGraph, options: LoweringOptions = DEFAULT_LOWERING) -> IntProgram:
    """The IntProgram of a QuantizedGraph, laid out and packed as `options` says (LoweringOptions:
    io mode, INT4 / INT2 weight packing)."""
    io = options.io
    graph = qg.graph
    unsupported = sorted({f"{n.kind.value} at {n.name}" for n in graph.nodes if n.kind not in REGISTRY})
    if unsupported:
        raise UserError("cannot lower to TFLite: " + "; ".join(unsupported))
    b = ProgramBuilder(qg, options)
    inputs = []
    for v in graph.inputs:
        b.value_tensor(v)
        b.nonnegative[v] = False
        if io == "float":
            name = f"{v}/float"
            b.add_tensor(IntTensor(name=name, shape=nhwc_shape(graph.values[v].shape), dtype="float32"))
            b.op("QUANTIZE", [name], [v], {}, name="input")
            inputs.append(name)
        else:
            inputs.append(v)
        b.emit_requants(v)
    for node in graph.nodes:
        REGISTRY[node.kind](b, node)
    outputs = []
    for value in graph.outputs:
        v = b.output_tensors.get(value, value)
        if io == "float":
            name = f"{v}/float"
            b.add_tensor(IntTensor(name=name, shape=b.tensors[v].shape, dtype="float32"))
            b.op("DEQUANTIZE", [v], [name], {}, name="output")
            outputs.append(name)
        else:
            outputs.append(v)
    metadata = {
        "catdeploy.setting": qg.plan.setting,
        "catdeploy.strict": str(qg.plan.strict).lower(),
        "catdeploy.extra_clamp_ops": str(b.extra_clamps),
    }
    if qg.cat is not None:
        metadata["catdeploy.cat_clusters"] = str(int(qg.cat["clusters"]))
    program = b.build(inputs, outputs, metadata)
    return program


def lower_classifier(qg: QuantizedGraph) -> IntProgram:
    """Only the classifier of `qg` (and its CAT head when qg.cat is set): input = the classifier's int8
    input tensor. Same ops and constants as in the full program; used to score CAT candidates."""
    node = classifier_node(qg.graph)
    b = ProgramBuilder(qg)
    x = qg.plan.node_inputs[node.name][0]
    b.value_tensor(x)
    lower_linear(b, node)
    return b.build([x], [b.output_tensors.get(node.output, node.output)], {})


__all__ = ["lower", "lower_classifier", "classifier_node", "REGISTRY", "IO_MODES", "LoweringOptions",
           "DEFAULT_LOWERING", "requant_table"]
