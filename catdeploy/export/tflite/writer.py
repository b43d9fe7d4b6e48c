"""IntProgram -> .tflite flatbuffer bytes, built with the TFLite schema's flatbuffers object API.

Layout decisions (see docs/tflite-int8-arithmetic.md §5):
- schema version 3, file identifier "TFL3", buffers[0] is the empty sentinel, tensors without
  constant data point at buffer 0;
- tensors are numbered by first use (program inputs, then each op's inputs and outputs in op
  order); tensors that nothing uses are not written; constant buffers follow the same order, and
  tensors with the same buffer_key share one buffer; metadata buffers come last;
- operator codes are (builtin, version) pairs in order of first use, with
  deprecated_builtin_code = min(code, 127);
- every constant buffer's data starts at a 16-byte aligned file offset (the vector is prepared
  with alignment 16 and the builder pads the whole file to a multiple of 16);
- int4 tensors are packed two per byte, element 2i in the low nibble, int2 tensors four per byte,
  element 4i in the lowest bit pair (TFLite's UnpackPackedIntToInt8 convention);
- metadata "min_runtime_version" (16-byte zero-padded string) is derived from the op versions
  unless the program's metadata sets it; other metadata entries are written in sorted key order.
Nothing depends on time or dict hashing, so equal programs give byte-identical files.
"""
from __future__ import annotations

import flatbuffers
import numpy as np

from catdeploy.errors import UserError
from catdeploy.export.tflite.ops import OP_SPECS
from catdeploy.export.tflite.ops import _float as float_op
from catdeploy.export.tflite.schema import schema
from catdeploy.export.tflite.validate import validate_program
from catdeploy.ir.int_program import IntProgram, IntTensor

SCHEMA_VERSION = 3
FILE_IDENTIFIER = b"TFL3"
BUFFER_ALIGNMENT = 16
MAX_FLATBUFFER_BYTES = 2**31 - 1
MIN_RUNTIME_VERSION_KEY = "min_runtime_version"
TENSOR_TYPES = {"float32": "FLOAT32", "int64": "INT64", "int32": "INT32", "int16": "INT16", "int8": "INT8",
                "int4": "INT4", "int2": "INT2"}
LITTLE_ENDIAN_DTYPES = {"float32": "<f4", "int64": "<i8", "int32": "<i4", "int16": "<i2", "int8": "i1"}


def write_tflite(program: IntProgram) -> bytes:
    """Serialise a validated IntProgram; raises UserError naming the culprit op or tensor."""
    validate_program(program)
    fb = schema()
    order = tensor_order(program)
    index = {name: i for i, name in enumerate(order)}

    buffers = [fb.BufferT()]
    buffer_of: dict[object, int] = {}
    tensors = []
    for name in order:
        t = program.tensors[name]
        buffer = 0
        if t.data is not None:
            key = ("key", t.buffer_key) if t.buffer_key is not None else ("tensor", name)
            if key not in buffer_of:
                buffer_of[key] = len(buffers)
                buffers.append(_AlignedBufferT(constant_bytes(t)))
            buffer = buffer_of[key]
        tensors.append(_tensor(fb, t, buffer))

    codes: list[tuple[str, int]] = []
    operators = []
    for op in program.ops:
        spec = OP_SPECS[op.kind]
        code = (op.kind, float_op.version(op, program.tensors) if float_op.is_float_op(op, program.tensors)
                else spec.version(op, program.tensors))
        if code not in codes:
            codes.append(code)
        options = spec.build_options(op, fb)
        operators.append(fb.OperatorT(
            opcodeIndex=codes.index(code),
            inputs=[index[n] if n else -1 for n in op.inputs],
            outputs=[index[n] for n in op.outputs],
            builtinOptionsType=getattr(fb.BuiltinOptions, spec.options_type) if options is not None else 0,
            builtinOptions=options,
        ))

    metadata = []
    for key, value in metadata_entries(program, codes):
        metadata.append(fb.MetadataT(name=key, buffer=len(buffers)))
        buffers.append(_AlignedBufferT(value))

    model = fb.ModelT(
        version=SCHEMA_VERSION,
        operatorCodes=[_operator_code(fb, kind, version) for kind, version in codes],
        subgraphs=[fb.SubGraphT(
            tensors=tensors,
            inputs=[index[n] for n in program.inputs],
            outputs=[index[n] for n in program.outputs],
            operators=operators,
            name="main",
        )],
        description="catdeploy",
        buffers=buffers,
        metadata=metadata,
    )
    payload = sum(len(b.payload) for b in buffers[1:])
    if payload > MAX_FLATBUFFER_BYTES - (1 << 24):
        raise UserError(f"the model's constants take {payload} bytes; a .tflite flatbuffer holds < 2 GiB")
    builder = flatbuffers.Builder(payload + 64 * len(order) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def tensor_order(program: IntProgram) -> list[str]:
    """Tensor names by first use: program inputs, then each op's inputs and outputs, in op order."""
    seen: dict[str, None] = {}
    for name in program.inputs:
        seen.setdefault(name)
    for op in program.ops:
        for name in (*op.inputs, *op.outputs):
            if name:
                seen.setdefault(name)
    for name in program.outputs:
        seen.setdefault(name)
    return list(seen)


def constant_bytes(t: IntTensor) -> bytes:
    """Little-endian bytes of a constant; int4 packed two per byte, low nibble first; int2 four
    per byte, lowest bit pair first."""
    data = np.asarray(t.data)
    if t.dtype == "int4":
        return pack_int4(data)
    if t.dtype == "int2":
        return pack_int2(data)
    return np.ascontiguousarray(data.astype(LITTLE_ENDIAN_DTYPES[t.dtype])).tobytes()


def pack_int4(values: np.ndarray) -> bytes:
    """Element 2i -> bits 0..3, element 2i+1 -> bits 4..7 of byte i; odd counts leave the last
    high nibble 0 (TFLite tensor_utils UnpackPackedIntToInt8 / util.cc byte size ceil(n/2))."""
    nibbles = (np.asarray(values).astype(np.int64).ravel() & 0xF).astype(np.uint8)
    if nibbles.size % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8).tobytes()


def pack_int2(values: np.ndarray) -> bytes:
    """Element 4i -> bits 0..1, 4i+1 -> bits 2..3, 4i+2 -> bits 4..5, 4i+3 -> bits 6..7 of byte i;
    a count that is not a multiple of 4 leaves the last byte's high pairs 0 (TFLite
    UnpackPackedIntToInt8 with bit width 2; byte size ceil(n/4))."""
    pairs = (np.asarray(values).astype(np.int64).ravel() & 0x3).astype(np.uint8)
    if pairs.size % 4:
        pairs = np.append(pairs, np.zeros(4 - pairs.size % 4, np.uint8))
    return (pairs[0::4] | (pairs[1::4] << 2) | (pairs[2::4] << 4) | (pairs[3::4] << 6)).astype(np.uint8).tobytes()


def metadata_entries(program: IntProgram, codes: list[tuple[str, int]]) -> list[tuple[str, bytes]]:
    """("min_runtime_version", 16-byte padded string) first, then the program's entries by key."""
    entries = {k: (v.encode("utf-8") if isinstance(v, str) else bytes(v)) for k, v in program.metadata.items()}
    runtime = entries.pop(MIN_RUNTIME_VERSION_KEY, None)
    if runtime is None:
        runtime = min_runtime_version(codes).encode("ascii")
    runtime = runtime.rstrip(b"\0")
    runtime = runtime + b"\0" * (16 - len(runtime)) if len(runtime) < 16 else runtime
    return [(MIN_RUNTIME_VERSION_KEY, runtime)] + sorted(entries.items())


def min_runtime_version(codes: list[tuple[str, int]]) -> str:
    """The newest 'runtime version' among the ops' versions (TFLite runtime_version.cc table)."""
    best = (1, 5, 0)
    for kind, version in codes:
        table = OP_SPECS[kind].runtime_versions
        known = [v for v in table if v <= version]
        text = table[max(known)] if known else "1.5.0"
        best = max(best, tuple(int(p) for p in text.split(".")))
    return ".".join(str(p) for p in best)


def _tensor(fb, t: IntTensor, buffer: int):
    quantization = None
    if t.scale is not None:
        quantization = fb.QuantizationParametersT(
            scale=np.asarray(t.scale, dtype=np.float32),
            zeroPoint=np.asarray(t.zero_point, dtype=np.int64),
            quantizedDimension=int(t.quantized_dimension) if len(t.scale) > 1 else 0,
        )
    return fb.TensorT(
        shape=np.asarray(t.shape, dtype=np.int32),
        type=getattr(fb.TensorType, TENSOR_TYPES[t.dtype]),
        buffer=buffer,
        name=t.name,
        quantization=quantization,
        hasRank=True,
    )


def _operator_code(fb, kind: str, version: int):
    code = getattr(fb.BuiltinOperator, kind)
    return fb.OperatorCodeT(deprecatedBuiltinCode=min(code, 127), version=version, builtinCode=code)


class _AlignedBufferT:
    """A BufferT whose data vector starts on a 16-byte boundary (packs like schema BufferT)."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def Pack(self, builder):  # noqa: N802 - flatbuffers object-API name
        fb = schema()
        builder.StartVector(1, len(self.payload), BUFFER_ALIGNMENT)
        builder.head = builder.head - len(self.payload)
        builder.Bytes[builder.head:builder.head + len(self.payload)] = self.payload
        builder.vectorNumElems = len(self.payload)
        data = builder.EndVector()
        fb.BufferStart(builder)
        fb.BufferAddData(builder, data)
        return fb.BufferEnd(builder)

