"""Test-only builder of small .tflite files with the ai_edge_litert flatbuffer object API.

catrt itself never imports this (it must not depend on flatbuffers / LiteRT).
"""
from __future__ import annotations

from typing import Optional, Sequence

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as fb

TYPES = {"float32": fb.TensorType.FLOAT32, "int32": fb.TensorType.INT32,
         "int64": fb.TensorType.INT64, "int16": fb.TensorType.INT16, "int8": fb.TensorType.INT8,
         "int4": fb.TensorType.INT4}
PADDING = {"SAME": fb.Padding.SAME, "VALID": fb.Padding.VALID}
ACT = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}

# op name -> (builtin code, default version)
OPS = {
    "ADD": (fb.BuiltinOperator.ADD, 2), "AVERAGE_POOL_2D": (fb.BuiltinOperator.AVERAGE_POOL_2D, 2),
    "CONCATENATION": (fb.BuiltinOperator.CONCATENATION, 2),
    "CONV_2D": (fb.BuiltinOperator.CONV_2D, 3),
    "DEPTHWISE_CONV_2D": (fb.BuiltinOperator.DEPTHWISE_CONV_2D, 3),
    "DEQUANTIZE": (fb.BuiltinOperator.DEQUANTIZE, 2),
    "FULLY_CONNECTED": (fb.BuiltinOperator.FULLY_CONNECTED, 4),
    "MAX_POOL_2D": (fb.BuiltinOperator.MAX_POOL_2D, 2), "MUL": (fb.BuiltinOperator.MUL, 2),
    "RESHAPE": (fb.BuiltinOperator.RESHAPE, 1), "PAD": (fb.BuiltinOperator.PAD, 2),
    "GATHER": (fb.BuiltinOperator.GATHER, 2), "MAXIMUM": (fb.BuiltinOperator.MAXIMUM, 2),
    "MINIMUM": (fb.BuiltinOperator.MINIMUM, 2), "ARG_MAX": (fb.BuiltinOperator.ARG_MAX, 2),
    "QUANTIZE": (fb.BuiltinOperator.QUANTIZE, 2), "SOFTMAX": (fb.BuiltinOperator.SOFTMAX, 2),
    "CAST": (fb.BuiltinOperator.CAST, 3),
    "HARD_SWISH": (fb.BuiltinOperator.HARD_SWISH, 1), "LOGISTIC": (fb.BuiltinOperator.LOGISTIC, 2),
}


def pack_int4(values: np.ndarray) -> np.ndarray:
    """Two int4 values per byte, element 2i in the low nibble."""
    v = (np.asarray(values, dtype=np.int8).reshape(-1) & 0x0F).astype(np.uint8)
    if v.size % 2:
        v = np.concatenate([v, np.zeros(1, np.uint8)])
    return (v[0::2] | (v[1::2] << 4)).astype(np.uint8)


class TinyModel:
    """Collects tensors and ops, then build() -> .tflite bytes."""

    def __init__(self) -> None:
        self.tensors: list = []
        self.buffers: list = [fb.BufferT()]
        self.opcodes: list = []
        self.operators: list = []
        self.inputs: list = []
        self.outputs: list = []
        self.metadata: list = []
        self.version = 3

    def tensor(self, name: str, shape: Sequence[int], dtype: str = "int8",
               scale: Optional[Sequence[float]] = None, zero_point: Optional[Sequence[int]] = None,
               axis: int = 0, data: Optional[np.ndarray] = None) -> int:
        t = fb.TensorT()
        t.name = name
        t.shape = np.asarray(shape, dtype=np.int32)
        t.type = TYPES[dtype]
        if scale is not None:
            q = fb.QuantizationParametersT()
            q.scale = np.asarray(scale, dtype=np.float32)
            q.zeroPoint = np.asarray(zero_point if zero_point is not None else [0] * len(scale),
                                     dtype=np.int64)
            q.quantizedDimension = axis
            t.quantization = q
        if data is not None:
            b = fb.BufferT()
            if dtype == "int4":
                b.data = pack_int4(data)
            else:
                arr = np.asarray(data, dtype={"float32": np.float32, "int32": np.int32,
                                              "int64": np.int64, "int16": np.int16,
                                              "int8": np.int8}[dtype])
                b.data = np.frombuffer(arr.tobytes(), dtype=np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        else:
            t.buffer = 0
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, kind: str, inputs: Sequence[int], outputs: Sequence[int], options=None,
           version: Optional[int] = None) -> None:
        code, default_version = OPS[kind]
        version = default_version if version is None else version
        key = (code, version)
        index = next((i for i, c in enumerate(self.opcodes)
                      if (c.builtinCode, c.version) == key), None)
        if index is None:
            c = fb.OperatorCodeT()
            c.builtinCode = code
            c.deprecatedBuiltinCode = min(code, 127)
            c.version = version
            self.opcodes.append(c)
            index = len(self.opcodes) - 1
        o = fb.OperatorT()
        o.opcodeIndex = index
        o.inputs = np.asarray(inputs, dtype=np.int32)
        o.outputs = np.asarray(outputs, dtype=np.int32)
        if options is not None:
            o.builtinOptionsType, o.builtinOptions = options
        self.operators.append(o)

    def add_metadata(self, name: str, data: bytes) -> None:
        b = fb.BufferT()
        b.data = np.frombuffer(data, dtype=np.uint8)
        self.buffers.append(b)
        m = fb.MetadataT()
        m.name = name
        m.buffer = len(self.buffers) - 1
        self.metadata.append(m)

    def build(self) -> bytes:
        sg = fb.SubGraphT()
        sg.tensors = self.tensors
        sg.inputs = np.asarray(self.inputs, dtype=np.int32)
        sg.outputs = np.asarray(self.outputs, dtype=np.int32)
        sg.operators = self.operators
        sg.name = "main"
        m = fb.ModelT()
        m.version = self.version
        m.operatorCodes = self.opcodes
        m.subgraphs = [sg]
        m.buffers = self.buffers
        m.description = "catrt test model"
        if self.metadata:
            m.metadata = self.metadata
        builder = flatbuffers.Builder(1024)
        builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


# ---- option constructors -----------------------------------------------------------------------

def conv_options(padding="SAME", stride=(1, 1), dilation=(1, 1), act="NONE"):
    o = fb.Conv2DOptionsT()
    o.padding = PADDING[padding]
    o.strideH, o.strideW = stride
    o.dilationHFactor, o.dilationWFactor = dilation
    o.fusedActivationFunction = ACT[act]
    return fb.BuiltinOptions.Conv2DOptions, o


def depthwise_options(padding="SAME", stride=(1, 1), dilation=(1, 1), act="NONE",
                      depth_multiplier=1):
    o = fb.DepthwiseConv2DOptionsT()
    o.padding = PADDING[padding]
    o.strideH, o.strideW = stride
    o.dilationHFactor, o.dilationWFactor = dilation
    o.fusedActivationFunction = ACT[act]
    o.depthMultiplier = depth_multiplier
    return fb.BuiltinOptions.DepthwiseConv2DOptions, o


def fc_options(act="NONE", keep_num_dims=False):
    o = fb.FullyConnectedOptionsT()
    o.fusedActivationFunction = ACT[act]
    o.keepNumDims = keep_num_dims
    return fb.BuiltinOptions.FullyConnectedOptions, o


def pool_options(filter_size, stride, padding="VALID", act="NONE"):
    o = fb.Pool2DOptionsT()
    o.padding = PADDING[padding]
    o.filterHeight, o.filterWidth = filter_size
    o.strideH, o.strideW = stride
    o.fusedActivationFunction = ACT[act]
    return fb.BuiltinOptions.Pool2DOptions, o


def add_options(act="NONE"):
    o = fb.AddOptionsT()
    o.fusedActivationFunction = ACT[act]
    return fb.BuiltinOptions.AddOptions, o


def mul_options(act="NONE"):
    o = fb.MulOptionsT()
    o.fusedActivationFunction = ACT[act]
    return fb.BuiltinOptions.MulOptions, o


def reshape_options(new_shape):
    o = fb.ReshapeOptionsT()
    o.newShape = np.asarray(new_shape, dtype=np.int32)
    return fb.BuiltinOptions.ReshapeOptions, o


def concat_options(axis, act="NONE"):
    o = fb.ConcatenationOptionsT()
    o.axis = axis
    o.fusedActivationFunction = ACT[act]
    return fb.BuiltinOptions.ConcatenationOptions, o


def gather_options(axis=0, batch_dims=0):
    o = fb.GatherOptionsT()
    o.axis = axis
    o.batchDims = batch_dims
    return fb.BuiltinOptions.GatherOptions, o


def argmax_options(output_type="int32"):
    o = fb.ArgMaxOptionsT()
    o.outputType = TYPES[output_type]
    return fb.BuiltinOptions.ArgMaxOptions, o


def pad_options():
    return fb.BuiltinOptions.PadOptions, fb.PadOptionsT()


def minmax_options():
    return fb.BuiltinOptions.MaximumMinimumOptions, fb.MaximumMinimumOptionsT()


def quantize_options():
    return fb.BuiltinOptions.QuantizeOptions, fb.QuantizeOptionsT()


def dequantize_options():
    return fb.BuiltinOptions.DequantizeOptions, fb.DequantizeOptionsT()
