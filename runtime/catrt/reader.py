"""A validating reader for the .tflite flatbuffer subset catrt runs (schema version 3).

Hand-written over `struct`/NumPy: no flatbuffers package. The file is untrusted: every offset,
vtable, vector length and index is bounds-checked before use and any problem raises CatrtError
naming the field. Reads are alignment-free (struct.unpack_from / np.frombuffer copies).

Flatbuffer layout used here: a table starts with an int32 soffset to its vtable (vtable at
table - soffset); the vtable holds uint16 [vtable_size, table_size, field offsets...]; field i is
absent when its slot is missing or 0. Reference fields hold a uint32 offset relative to their
own position. Vectors are [uint32 length][elements]; strings are byte vectors.
Mirrors the checks of TFLite's InterpreterBuilder (interpreter_builder.cc) that matter here.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional

import numpy as np

from .errors import CatrtError

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
MAX_FILE_BYTES = 2 * 1024 ** 3          # files of 2 GiB or more are rejected
MAX_TENSORS = 100_000
MAX_OPERATORS = 100_000
MAX_BUFFERS = 200_000
MAX_OPERATOR_CODES = 10_000
MAX_SUBGRAPHS = 1_000
MAX_RANK = 8
MAX_TENSOR_ELEMENTS = 2 ** 31 - 1
MAX_OP_IO = 10_000

# Schema TensorType values catrt reads, with their NumPy dtype ("int4" and "int2" unpack to int8).
TENSOR_TYPES = {0: "float32", 2: "int32", 4: "int64", 7: "int16", 9: "int8", 17: "int4", 19: "int2"}
PACKED_PER_BYTE = {"int4": 2, "int2": 4}
TENSOR_TYPE_NAMES = {
    0: "FLOAT32", 1: "FLOAT16", 2: "INT32", 3: "UINT8", 4: "INT64", 5: "STRING", 6: "BOOL",
    7: "INT16", 8: "COMPLEX64", 9: "INT8", 10: "FLOAT64", 11: "COMPLEX128", 12: "UINT64",
    13: "RESOURCE", 14: "VARIANT", 15: "UINT32", 16: "UINT16", 17: "INT4", 18: "BFLOAT16",
    19: "INT2",
}
_NUMPY_DTYPES = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "int64": np.dtype("<i8"),
                 "int16": np.dtype("<i2"), "int8": np.dtype("i1")}

# BuiltinOperator codes of the ops catrt knows (plus names for error messages).
BUILTIN_OPS = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL",
    19: "RELU", 21: "RELU6", 22: "RESHAPE", 25: "SOFTMAX", 32: "CUSTOM", 34: "PAD", 36: "GATHER",
    39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 53: "CAST", 55: "MAXIMUM", 56: "ARG_MAX", 57: "MINIMUM",
    60: "PADV2", 74: "SUM", 114: "QUANTIZE", 117: "HARD_SWISH", 54: "PRELU", 98: "LEAKY_RELU",
}
CUSTOM_CODE = 32


def _f(kind: str, slot: int, default: Any = 0) -> tuple:
    return (kind, slot, default)


# Builtin options tables: op name -> (BuiltinOptions union type, {field: (kind, slot, default)}).
# kinds: "i8" byte, "bool" ubyte, "i32" int, "f32" float, "vec_i32" [int].
OPTION_TABLES = {
    "CONV_2D": (1, {"padding": _f("i8", 0), "stride_w": _f("i32", 1), "stride_h": _f("i32", 2),
                    "fused_activation_function": _f("i8", 3), "dilation_w_factor": _f("i32", 4, 1),
                    "dilation_h_factor": _f("i32", 5, 1)}),
    "DEPTHWISE_CONV_2D": (2, {"padding": _f("i8", 0), "stride_w": _f("i32", 1),
                              "stride_h": _f("i32", 2), "depth_multiplier": _f("i32", 3),
                              "fused_activation_function": _f("i8", 4),
                              "dilation_w_factor": _f("i32", 5, 1),
                              "dilation_h_factor": _f("i32", 6, 1)}),
    "AVERAGE_POOL_2D": (5, {"padding": _f("i8", 0), "stride_w": _f("i32", 1),
                            "stride_h": _f("i32", 2), "filter_width": _f("i32", 3),
                            "filter_height": _f("i32", 4),
                            "fused_activation_function": _f("i8", 5)}),
    "FULLY_CONNECTED": (8, {"fused_activation_function": _f("i8", 0), "weights_format": _f("i8", 1),
                            "keep_num_dims": _f("bool", 2, False),
                            "asymmetric_quantize_inputs": _f("bool", 3, False),
                            "quantized_bias_type": _f("i8", 4)}),
    "CONCATENATION": (10, {"axis": _f("i32", 0), "fused_activation_function": _f("i8", 1)}),
    "ADD": (11, {"fused_activation_function": _f("i8", 0), "pot_scale_int16": _f("bool", 1, True)}),
    "RESHAPE": (17, {"new_shape": _f("vec_i32", 0, None)}),
    "MUL": (21, {"fused_activation_function": _f("i8", 0)}),
    "PAD": (22, {}),
    "GATHER": (23, {"axis": _f("i32", 0), "batch_dims": _f("i32", 1)}),
    "DEQUANTIZE": (38, {}),
    "MAXIMUM": (39, {}),
    "MINIMUM": (39, {}),
    "ARG_MAX": (40, {"output_type": _f("i8", 0)}),
    "QUANTIZE": (89, {}),
    "CAST": (37, {"in_data_type": _f("i8", 0), "out_data_type": _f("i8", 1)}),
    "LEAKY_RELU": (75, {"alpha": _f("f32", 0, 0.0)}),
}
OPTION_TABLES["MAX_POOL_2D"] = OPTION_TABLES["AVERAGE_POOL_2D"]


# ------------------------------------------------------------------------------------------------
# Parsed model (frozen dataclasses)

@dataclass(frozen=True)
class Quantization:
    """Affine quantization of a tensor: per-tensor (one scale) or per-channel along `axis`."""

    scale: tuple            # float32 values, as Python floats
    zero_point: tuple       # ints
    quantized_dimension: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    @property
    def legacy_scale(self) -> float:
        """TFLite's tensor->params.scale: the scale if per-tensor, else 0."""
        return self.scale[0] if len(self.scale) == 1 else 0.0

    @property
    def legacy_zero_point(self) -> int:
        """TFLite's tensor->params.zero_point: the zero point if per-tensor, else 0."""
        return self.zero_point[0] if len(self.zero_point) == 1 else 0


@dataclass(frozen=True)
class Tensor:
    """One tensor of the main subgraph. `data` is a read-only array for constants, else None.

    dtype is one of "float32", "int32", "int64", "int16", "int8", "int4", "int2"; int4 and int2
    data is unpacked to int8.
    """

    index: int
    name: str
    shape: tuple
    dtype: str
    buffer: int
    data: Optional[np.ndarray] = None
    quantization: Optional[Quantization] = None
    shape_signature: Optional[tuple] = None

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(np.int8) if self.dtype in PACKED_PER_BYTE else np.dtype(self.dtype)

    @property
    def is_constant(self) -> bool:
        return self.data is not None


@dataclass(frozen=True)
class OperatorCode:
    builtin_code: int        # max(builtin_code, deprecated_builtin_code)
    version: int
    custom_code: str = ""

    @property
    def name(self) -> str:
        return BUILTIN_OPS.get(self.builtin_code, f"BUILTIN_{self.builtin_code}")


@dataclass(frozen=True)
class Operator:
    index: int
    opcode: OperatorCode
    inputs: tuple            # tensor indices; -1 = omitted optional input
    outputs: tuple
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @property
    def kind(self) -> str:
        return self.opcode.name

    @property
    def label(self) -> str:
        return f"op #{self.index} {self.kind}"


@dataclass(frozen=True)
class Model:
    version: int
    description: str
    subgraph_name: str
    tensors: tuple
    operators: tuple
    inputs: tuple
    outputs: tuple
    operator_codes: tuple
    metadata: Mapping[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))


# ------------------------------------------------------------------------------------------------
# Bounds-checked flatbuffer access

class _Buf:
    __slots__ = ("data", "size")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def need(self, pos: int, length: int, what: str) -> None:
        if pos < 0 or length < 0 or pos + length > self.size:
            raise CatrtError(f"malformed .tflite: {what} at byte {pos} (+{length}) is outside the "
                             f"{self.size}-byte file")

    def scalar(self, fmt: str, pos: int, what: str):
        self.need(pos, struct.calcsize(fmt), what)
        return struct.unpack_from(fmt, self.data, pos)[0]

    def u32(self, pos: int, what: str) -> int:
        return self.scalar("<I", pos, what)

    def table(self, pos: int, what: str) -> "_Table":
        soffset = self.scalar("<i", pos, f"{what} table")
        vtable = pos - soffset
        vt_size = self.scalar("<H", vtable, f"{what} vtable")
        if vt_size < 4 or vt_size % 2:
            raise CatrtError(f"malformed .tflite: {what} vtable size {vt_size} is invalid")
        self.need(vtable, vt_size, f"{what} vtable")
        table_size = self.scalar("<H", vtable + 2, f"{what} vtable")
        if table_size < 4:
            raise CatrtError(f"malformed .tflite: {what} table size {table_size} is invalid")
        self.need(pos, table_size, f"{what} table")
        return _Table(self, pos, vtable, vt_size, table_size, what)


class _Table:
    __slots__ = ("buf", "pos", "vtable", "vt_size", "table_size", "what")

    def __init__(self, buf: _Buf, pos: int, vtable: int, vt_size: int, table_size: int, what: str):
        self.buf, self.pos, self.vtable = buf, pos, vtable
        self.vt_size, self.table_size, self.what = vt_size, table_size, what

    def _field(self, slot: int, width: int, name: str) -> int:
        """Absolute position of a field, or 0 if absent."""
        entry = 4 + 2 * slot
        if entry + 2 > self.vt_size:
            return 0
        offset = struct.unpack_from("<H", self.buf.data, self.vtable + entry)[0]
        if offset == 0:
            return 0
        if offset + width > self.table_size:
            raise CatrtError(f"malformed .tflite: {self.what}.{name} lies outside its table")
        return self.pos + offset

    def scalar(self, slot: int, fmt: str, default, name: str):
        pos = self._field(slot, struct.calcsize(fmt), name)
        if pos == 0:
            return default
        return struct.unpack_from(fmt, self.buf.data, pos)[0]

    def ref(self, slot: int, name: str) -> int:
        """Target position of a reference field, or 0 if absent."""
        pos = self._field(slot, 4, name)
        if pos == 0:
            return 0
        rel = struct.unpack_from("<I", self.buf.data, pos)[0]
        if rel == 0:
            raise CatrtError(f"malformed .tflite: {self.what}.{name} has a null offset")
        target = pos + rel
        self.buf.need(target, 4, f"{self.what}.{name}")
        return target

    def table(self, slot: int, name: str) -> Optional["_Table"]:
        target = self.ref(slot, name)
        return self.buf.table(target, f"{self.what}.{name}") if target else None

    def vector(self, slot: int, elem_size: int, name: str, limit: int) -> Optional[tuple]:
        """(start of elements, length) of a vector field, or None if absent."""
        target = self.ref(slot, name)
        if target == 0:
            return None
        length = self.buf.u32(target, f"{self.what}.{name} length")
        if length > limit:
            raise CatrtError(f"malformed .tflite: {self.what}.{name} has {length} entries "
                             f"(limit {limit})")
        self.buf.need(target + 4, length * elem_size, f"{self.what}.{name} data")
        return target + 4, length

    def numbers(self, slot: int, dtype: str, name: str, limit: int) -> Optional[np.ndarray]:
        dt = np.dtype(dtype)
        vec = self.vector(slot, dt.itemsize, name, limit)
        if vec is None:
            return None
        start, length = vec
        return np.frombuffer(self.buf.data, dtype=dt, count=length, offset=start).astype(
            dt.newbyteorder("="))

    def string(self, slot: int, name: str, limit: int = 1 << 20) -> str:
        vec = self.vector(slot, 1, name, limit)
        if vec is None:
            return ""
        start, length = vec
        raw = bytes(self.buf.data[start:start + length])
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CatrtError(f"malformed .tflite: {self.what}.{name} is not UTF-8") from None

    def tables(self, slot: int, name: str, limit: int) -> Optional[list]:
        vec = self.vector(slot, 4, name, limit)
        if vec is None:
            return None
        start, length = vec
        out = []
        for i in range(length):
            entry = start + 4 * i
            rel = struct.unpack_from("<I", self.buf.data, entry)[0]
            if rel == 0:
                raise CatrtError(f"malformed .tflite: {self.what}.{name}[{i}] has a null offset")
            out.append(self.buf.table(entry + rel, f"{self.what}.{name}[{i}]"))
        return out


# ------------------------------------------------------------------------------------------------
# Model parsing

def unpack_int4(packed: np.ndarray, count: int) -> np.ndarray:
    """UnpackPackedIntToInt8 for 4 bits: element 2i is the low nibble of byte i, 2i+1 the high
    nibble, both sign-extended; an odd count leaves the last high nibble unused (§4)."""
    b = np.asarray(packed, dtype=np.uint8)
    out = np.empty(2 * b.size, dtype=np.int16)
    out[0::2] = b & 0x0F
    out[1::2] = b >> 4
    out = np.where(out > 7, out - 16, out).astype(np.int8)
    return out[:count]


def unpack_int2(packed: np.ndarray, count: int) -> np.ndarray:
    """UnpackPackedIntToInt8 for 2 bits: element 4i is bits 1..0 of byte i, then bits 3..2, 5..4,
    7..6, each sign-extended; a count that is not a multiple of 4 leaves the last pairs unused (§4)."""
    b = np.asarray(packed, dtype=np.uint8)
    out = np.empty(4 * b.size, dtype=np.int16)
    for k in range(4):
        out[k::4] = (b >> (2 * k)) & 0x3
    out = np.where(out > 1, out - 4, out).astype(np.int8)
    return out[:count]


def _read_buffers(buf: _Buf, model: _Table) -> list:
    """Each buffer as a bytes-like slice (empty when the buffer holds no data)."""
    tables = model.tables(4, "buffers", MAX_BUFFERS)
    if tables is None:
        raise CatrtError("malformed .tflite: the model has no buffers vector")
    out = []
    for i, t in enumerate(tables):
        vec = t.vector(0, 1, "data", MAX_FILE_BYTES)
        offset = t.scalar(1, "<Q", 0, "offset")
        size = t.scalar(2, "<Q", 0, "size")
        if offset > 1:
            # Data stored outside the flatbuffer, at an absolute file offset (large models).
            buf.need(offset, size, f"buffers[{i}] external data")
            out.append(memoryview(buf.data)[offset:offset + size])
        elif vec is not None:
            start, length = vec
            out.append(memoryview(buf.data)[start:start + length])
        else:
            out.append(memoryview(b""))
    return out


def _read_quantization(t: _Table, name: str, shape: tuple) -> Optional[Quantization]:
    q = t.table(4, "quantization")
    if q is None:
        return None
    if q.scalar(4, "<B", 0, "details_type") != 0:
        raise CatrtError(f"tensor {name!r}: custom quantization details are not supported")
    scale = q.numbers(2, "<f4", "scale", MAX_TENSOR_ELEMENTS)
    zero_point = q.numbers(3, "<i8", "zero_point", MAX_TENSOR_ELEMENTS)
    if scale is None or scale.size == 0:
        return None  # kTfLiteNoQuantization, as TFLite
    if zero_point is None or zero_point.size != scale.size:
        count = 0 if zero_point is None else zero_point.size
        raise CatrtError(f"tensor {name!r}: quantization has {count} zero points and "
                         f"{scale.size} scales; must be equal")
    axis = q.scalar(6, "<i", 0, "quantized_dimension")
    if shape:
        if not 0 <= axis < len(shape):
            raise CatrtError(f"tensor {name!r}: quantized_dimension {axis} is outside rank "
                             f"{len(shape)}")
        if scale.size != 1 and scale.size != shape[axis]:
            raise CatrtError(f"tensor {name!r}: {scale.size} scales for dimension {axis} of size "
                             f"{shape[axis]} (must be 1 or equal)")
    elif scale.size != 1:
        raise CatrtError(f"tensor {name!r}: scalar tensor with {scale.size} scales")
    if np.any(np.abs(zero_point) > 2 ** 31 - 1):
        raise CatrtError(f"tensor {name!r}: zero point outside int32")
    return Quantization(tuple(float(s) for s in scale), tuple(int(z) for z in zero_point),
                        int(axis))


def _read_tensor(index: int, t: _Table, buffers: list) -> Tensor:
    name = t.string(3, "name")
    label = name or f"#{index}"
    shape_arr = t.numbers(0, "<i4", "shape", MAX_RANK)
    shape = () if shape_arr is None else tuple(int(d) for d in shape_arr)
    if any(d < 0 for d in shape):
        raise CatrtError(f"tensor {label!r}: negative dimension in shape {shape}")
    count = 1
    for d in shape:
        count *= d
    if count > MAX_TENSOR_ELEMENTS:
        raise CatrtError(f"tensor {label!r}: {count} elements exceed the limit")
    type_code = t.scalar(1, "<b", 0, "type")
    dtype = TENSOR_TYPES.get(type_code)
    if dtype is None:
        raise CatrtError(f"tensor {label!r}: type {TENSOR_TYPE_NAMES.get(type_code, type_code)} "
                         "is not supported by catrt")
    if t.scalar(5, "<B", 0, "is_variable"):
        raise CatrtError(f"tensor {label!r}: variable tensors are not supported")
    if t.ref(6, "sparsity"):
        raise CatrtError(f"tensor {label!r}: sparse tensors are not supported")
    buffer_index = t.scalar(2, "<I", 0, "buffer")
    if buffer_index >= len(buffers):
        raise CatrtError(f"tensor {label!r}: buffer index {buffer_index} >= {len(buffers)} buffers")
    signature = t.numbers(7, "<i4", "shape_signature", MAX_RANK)
    quantization = _read_quantization(t, label, shape)
    data = None
    raw = buffers[buffer_index] if buffer_index else memoryview(b"")
    if len(raw):
        per_byte = PACKED_PER_BYTE.get(dtype)
        expected = -(-count // per_byte) if per_byte else count * _NUMPY_DTYPES[dtype].itemsize
        if len(raw) != expected:
            raise CatrtError(f"tensor {label!r}: buffer has {len(raw)} bytes but shape {shape} of "
                             f"{TENSOR_TYPE_NAMES[type_code]} needs {expected}")
        if dtype == "int4":
            data = unpack_int4(np.frombuffer(raw, dtype=np.uint8), count).reshape(shape)
        elif dtype == "int2":
            data = unpack_int2(np.frombuffer(raw, dtype=np.uint8), count).reshape(shape)
        else:
            dt = _NUMPY_DTYPES[dtype]
            data = np.frombuffer(raw, dtype=dt).astype(dt.newbyteorder("=")).reshape(shape)
        data.setflags(write=False)
    return Tensor(index=index, name=name, shape=shape, dtype=dtype, buffer=int(buffer_index),
                  data=data, quantization=quantization,
                  shape_signature=None if signature is None else tuple(int(d) for d in signature))


def _read_options(op_table: _Table, kind: str, label: str) -> dict:
    options_type = op_table.scalar(3, "<B", 0, "builtin_options_type")
    spec = OPTION_TABLES.get(kind)
    if spec is None:
        return {}
    expected_type, fields = spec
    options_table = op_table.table(4, "builtin_options") if options_type else None
    if options_type not in (0, expected_type):
        raise CatrtError(f"{label}: builtin options type {options_type} does not match the op "
                         f"(expected {expected_type})")
    out = {}
    for name, (kind_, slot, default) in fields.items():
        if options_table is None:
            out[name] = default
        elif kind_ == "i8":
            out[name] = options_table.scalar(slot, "<b", default, name)
        elif kind_ == "bool":
            out[name] = bool(options_table.scalar(slot, "<B", int(default), name))
        elif kind_ == "i32":
            out[name] = options_table.scalar(slot, "<i", default, name)
        elif kind_ == "f32":
            out[name] = float(options_table.scalar(slot, "<f", default, name))
        elif kind_ == "vec_i32":
            arr = options_table.numbers(slot, "<i4", name, MAX_RANK)
            out[name] = None if arr is None else tuple(int(v) for v in arr)
    return out


def _read_operator_codes(model: _Table) -> tuple:
    tables = model.tables(1, "operator_codes", MAX_OPERATOR_CODES) or []
    codes = []
    for i, t in enumerate(tables):
        deprecated = t.scalar(0, "<b", 0, "deprecated_builtin_code")
        builtin = t.scalar(3, "<i", 0, "builtin_code")
        version = t.scalar(2, "<i", 1, "version")
        custom = t.string(1, "custom_code")
        codes.append(OperatorCode(builtin_code=max(int(builtin), int(deprecated)),
                                  version=int(version), custom_code=custom))
    return tuple(codes)


def _read_index_vector(t: _Table, slot: int, name: str, what: str, n_tensors: int,
                       allow_optional: bool) -> tuple:
    arr = t.numbers(slot, "<i4", name, MAX_OP_IO)
    values = () if arr is None else tuple(int(v) for v in arr)
    low = -1 if allow_optional else 0
    for v in values:
        if not low <= v < n_tensors:
            raise CatrtError(f"{what}: {name} tensor index {v} is outside [{low}, {n_tensors})")
    return values


def read_model(model_bytes) -> Model:
    """Parse and validate a .tflite file (bytes-like). Raises CatrtError on any problem."""
    if isinstance(model_bytes, np.ndarray) and model_bytes.dtype == np.uint8:
        model_bytes = model_bytes.tobytes()
    if not isinstance(model_bytes, (bytes, bytearray, memoryview)):
        raise CatrtError(f"model must be bytes, got {type(model_bytes).__name__}")
    data = bytes(model_bytes)
    if len(data) >= MAX_FILE_BYTES:
        raise CatrtError(f"model of {len(data)} bytes exceeds the 2 GiB limit")
    try:
        return _read_model(_Buf(data))
    except CatrtError:
        raise
    except (struct.error, IndexError, ValueError, OverflowError, TypeError, MemoryError) as exc:
        # Safety net: every access above is bounds-checked, so this means a missed check.
        raise CatrtError(f"malformed .tflite: {type(exc).__name__}: {exc}") from None


def _read_model(buf: _Buf) -> Model:
    if buf.size < 8:
        raise CatrtError(f"malformed .tflite: {buf.size} bytes is too short for a flatbuffer")
    if buf.data[4:8] != FILE_IDENTIFIER:
        raise CatrtError(f"not a .tflite file: identifier {buf.data[4:8]!r}, "
                         f"expected {FILE_IDENTIFIER!r}")
    model = buf.table(buf.u32(0, "root offset"), "Model")
    version = model.scalar(0, "<I", 0, "version")
    if version != SCHEMA_VERSION:
        raise CatrtError(f"unsupported schema version {version} (expected {SCHEMA_VERSION})")
    description = model.string(3, "description")
    codes = _read_operator_codes(model)
    buffers = _read_buffers(buf, model)
    subgraphs = model.tables(2, "subgraphs", MAX_SUBGRAPHS)
    if not subgraphs:
        raise CatrtError("malformed .tflite: the model has no subgraph")
    if len(subgraphs) > 1:
        raise CatrtError(f"model has {len(subgraphs)} subgraphs; catrt runs single-subgraph "
                         "models only")
    sg = subgraphs[0]
    tensor_tables = sg.tables(0, "tensors", MAX_TENSORS) or []
    tensors = tuple(_read_tensor(i, t, buffers) for i, t in enumerate(tensor_tables))
    n = len(tensors)
    inputs = _read_index_vector(sg, 1, "inputs", "subgraph", n, allow_optional=False)
    outputs = _read_index_vector(sg, 2, "outputs", "subgraph", n, allow_optional=False)
    operators = []
    for i, t in enumerate(sg.tables(3, "operators", MAX_OPERATORS) or []):
        opcode_index = t.scalar(0, "<I", 0, "opcode_index")
        if opcode_index >= len(codes):
            raise CatrtError(f"op #{i}: opcode_index {opcode_index} >= {len(codes)} operator codes")
        opcode = codes[opcode_index]
        label = f"op #{i} {opcode.name}"
        op_inputs = _read_index_vector(t, 1, "inputs", label, n, allow_optional=True)
        op_outputs = _read_index_vector(t, 2, "outputs", label, n, allow_optional=False)
        options = _read_options(t, opcode.name, label)
        operators.append(Operator(index=i, opcode=opcode, inputs=op_inputs, outputs=op_outputs,
                                  options=options))
    metadata = {}
    for i, t in enumerate(model.tables(6, "metadata", MAX_BUFFERS) or []):
        name = t.string(0, "name")
        index = t.scalar(1, "<I", 0, "buffer")
        if index >= len(buffers):
            raise CatrtError(f"metadata {name!r}: buffer index {index} >= {len(buffers)} buffers")
        metadata[name] = bytes(buffers[index])
    return Model(version=int(version), description=description, subgraph_name=sg.string(4, "name"),
                 tensors=tensors, operators=tuple(operators), inputs=inputs, outputs=outputs,
                 operator_codes=codes, metadata=metadata)
