"""What a .tflite weighs: with weights in int8 containers, packed INT4, packed INT4 + INT2, each also
gzip-compressed (what an over-the-air update ships).

Computed from the file's bytes, so the manifest (export) and `catdeploy inspect` (any .tflite) say
the same. Each layout is a real file: the flatbuffer is read with the schema's object API, the
filters of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED are re-stored in the layout's type, the
op versions and "min_runtime_version" follow the writer's rules, and the model is packed again
with 16-byte aligned buffers. For a catdeploy export, `relayout(bytes, "int4")` is byte for byte
the file `export --int4-weights` writes, and "int4_int2" the one `--int4-weights --int2-weights`
writes (tests/export/test_sizes.py).

Which filters a layout packs (lossless only; the rules of lower/ops/_weighted.py):
- "int4": every filter whose codes fit [-8, 7] (and, when the planned bit widths are known,
  whose width is <= 4); asymmetric 4-bit grids store q - z in [-15, 15] and mostly stay int8.
- "int4_int2": as "int4", but a FULLY_CONNECTED filter with codes in [-2, 1] (width <= 2 when known,
  int8 input, its buffer not shared) as INT2 (FULLY_CONNECTED v14).
"""
from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass

import flatbuffers
import numpy as np

from catdeploy.export.tflite.ops import OP_SPECS
from catdeploy.export.tflite.schema import schema
from catdeploy.export.tflite.writer import (FILE_IDENTIFIER, MIN_RUNTIME_VERSION_KEY, _AlignedBufferT,
                                            constant_bytes, min_runtime_version)
from catdeploy.ir.int_program import IntOp, IntTensor

LAYOUTS = ("int8", "int4", "int4_int2")
FILTER_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
GZIP_LEVEL = 9
# Which interpreters load each layout (measured: docs/PROFILES.md, docs/INTEGER_SPINE.md).
RUNS_ON = {
    "int8": "every interpreter and resolver",
    "int4": ("ai-edge-litert 2.1 and TF 2.19 (builtin / nodelegate / auto; INT4 DEPTHWISE_CONV_2D in no "
             "reference resolver); tflite-runtime 2.14: INT4 CONV_2D / DEPTHWISE_CONV_2D in its optimized "
             "kernels only, INT4 FULLY_CONNECTED refused"),
    "int4_int2": "ai-edge-litert 2.1 only (INT2 FULLY_CONNECTED v14)",
}
CONVENTION = ("bytes: the whole .tflite; gzip_bytes: gzip at level 9 with mtime 0 (zlib deflate, "
              "deterministic); int8 = every filter in an int8 container, int4 = filters whose codes fit "
              "[-8, 7] packed two per byte, int4_int2 = also FULLY_CONNECTED filters whose codes fit "
              "[-2, 1] packed four per byte")


def gzip_bytes(data: bytes) -> bytes:
    """gzip at level 9 with mtime 0: the same bytes for the same input, on every machine."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@dataclass(frozen=True)
class _Filter:
    """One filter tensor of a CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED op."""

    op_kind: str
    tensor: int
    buffer: int
    codes: np.ndarray          # int8, flattened row-major
    bits: int | None
    int16_input: bool


def relayout(model_bytes: bytes, layout: str, bits: dict[str, int] | None = None) -> bytes:
    """`model_bytes` with its filters stored as `layout` says ("int8", "int4", "int4_int2"); the same
    bytes when nothing changes. bits: planned bit width per tensor name (the manifest's), if known."""
    return _relayout(model_bytes, layout, bits or {})[0]


def tflite_sizes(model_bytes: bytes, bits: dict[str, int] | None = None) -> dict:
    """The sizes of `model_bytes` in each layout: bytes, gzip bytes, filter elements per storage type,
    planned <= 4-bit filter elements that stay int8 (codes outside [-8, 7]), where it loads."""
    bits = bits or {}
    layouts, seen = {}, {}
    written = None
    for layout in LAYOUTS:
        data, stats = _relayout(model_bytes, layout, bits)
        if data == model_bytes:
            written = written or layout
        if data not in seen:
            seen[data] = len(gzip_bytes(data))
        layouts[layout] = {"bytes": len(data), "gzip_bytes": seen[data], **stats, "runs_on": RUNS_ON[layout]}
    as_written = {"bytes": len(model_bytes),
                  "gzip_bytes": seen[model_bytes] if model_bytes in seen else len(gzip_bytes(model_bytes))}
    return {"as_written": as_written, "written_layout": written, "layouts": layouts, "convention": CONVENTION}


def filter_codes(model_bytes: bytes) -> dict[str, tuple[str, np.ndarray]]:
    """{filter tensor name: (stored type "int8" / "int4" / "int2", int8 codes flattened)} of every
    constant CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED filter (e.g. to compare code histograms)."""
    model, kinds, type_names = _read(model_bytes)
    out = {}
    for sg in model.subgraphs or []:
        for f in _filters(model, sg, kinds, type_names, {}):
            t = sg.tensors[f.tensor]
            name = t.name.decode() if isinstance(t.name, bytes) else t.name
            out[name] = (type_names[t.type].lower(), f.codes)
    return out


def _read(model_bytes: bytes):
    """(ModelT with every buffer inline, builtin op names by code, tensor type names by code)."""
    fb = schema()
    model = fb.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    for buffer in model.buffers or []:
        if buffer.offset > 1:  # stored after the flatbuffer (offset / size): written inline again
            buffer.data = np.frombuffer(model_bytes, np.uint8, count=buffer.size, offset=buffer.offset)
            buffer.offset = buffer.size = 0
    kinds = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(fb.TensorType).items() if not k.startswith("_")}
    return model, kinds, type_names


def _relayout(model_bytes: bytes, layout: str, bits: dict[str, int]) -> tuple[bytes, dict]:
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    fb = schema()
    model, kinds, type_names = _read(model_bytes)
    subgraph_filters = [_filters(model, sg, kinds, type_names, bits) for sg in model.subgraphs or []]
    users: dict[int, int] = {}
    for sg in model.subgraphs or []:
        for t in sg.tensors or []:
            if t.buffer:
                users[t.buffer] = users.get(t.buffer, 0) + 1
    filter_users: dict[int, int] = {}
    for filters in subgraph_filters:
        for f in filters:
            filter_users[f.buffer] = filter_users.get(f.buffer, 0) + 1
    # A buffer takes one type: the narrowest every tensor reading it can take (int8 when a tensor
    # other than a filter reads it too).
    target: dict[int, str] = {}
    for filters in subgraph_filters:
        for f in filters:
            want = (_narrowest(f, layout, shared=users[f.buffer] > 1)
                    if users[f.buffer] == filter_users[f.buffer] else "int8")
            target[f.buffer] = want if target.get(f.buffer, want) == want else "int8"
    stats = {"filter_elements": {"int8": 0, "int4": 0, "int2": 0}, "low_bit_filter_elements_int8": 0}
    changed = False
    for sg, filters in zip(model.subgraphs or [], subgraph_filters):
        for f in filters:
            dtype = target[f.buffer]
            stats["filter_elements"][dtype] += int(f.codes.size)
            if dtype == "int8" and f.bits is not None and f.bits <= 4:
                stats["low_bit_filter_elements_int8"] += int(f.codes.size)
            tensor = sg.tensors[f.tensor]
            if type_names[tensor.type].lower() != dtype:
                tensor.type = getattr(fb.TensorType, dtype.upper())
                data = constant_bytes(IntTensor("", (f.codes.size,), dtype, data=f.codes))
                model.buffers[f.buffer].data = np.frombuffer(data, np.uint8)
                changed = True
    if not changed:
        return model_bytes, stats
    _set_op_versions(model, kinds, type_names)
    model.buffers = [_AlignedBufferT(bytes(b.data)) if b.data is not None and len(b.data) else b
                     for b in model.buffers]
    builder = flatbuffers.Builder(len(model_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output()), stats


def _filters(model, sg, kinds: dict, type_names: dict, bits: dict[str, int]) -> list[_Filter]:
    """The constant int8 / int4 / int2 filters of the subgraph's filter ops."""
    from catrt.reader import unpack_int2, unpack_int4

    out, seen = [], set()
    for op in sg.operators or []:
        kind = _kind(model.operatorCodes[op.opcodeIndex], kinds)
        inputs = list(op.inputs) if op.inputs is not None else []
        if kind not in FILTER_OPS or len(inputs) < 2 or inputs[1] < 0 or inputs[1] in seen:
            continue
        seen.add(inputs[1])
        t = sg.tensors[inputs[1]]
        dtype = type_names.get(t.type, "").lower()
        data = model.buffers[t.buffer].data if t.buffer else None
        if dtype not in ("int8", "int4", "int2") or data is None or not len(data):
            continue
        count = int(np.prod(t.shape)) if t.shape is not None else 0
        raw = np.asarray(data, np.uint8)
        codes = (raw.view(np.int8) if dtype == "int8" else
                 unpack_int4(raw, count) if dtype == "int4" else unpack_int2(raw, count))
        if codes.size != count:
            continue
        name = t.name.decode() if isinstance(t.name, bytes) else t.name
        x = sg.tensors[inputs[0]] if inputs[0] >= 0 else None
        out.append(_Filter(kind, inputs[1], t.buffer, codes.copy(), bits.get(name),
                           x is not None and type_names.get(x.type) == "INT16"))
    return out


def _narrowest(f: _Filter, layout: str, shared: bool) -> str:
    low, high = (int(f.codes.min()), int(f.codes.max())) if f.codes.size else (0, 0)
    if f.int16_input:
        return "int8"  # int16 x int4 / int2 filters are other op versions (FC v13): not produced here
    if (layout == "int4_int2" and f.op_kind == "FULLY_CONNECTED" and not shared and low >= -2 and high <= 1
            and (f.bits is None or f.bits <= 2)):
        return "int2"
    if layout in ("int4", "int4_int2") and low >= -8 and high <= 7 and (f.bits is None or f.bits <= 4):
        return "int4"
    return "int8"


def _kind(code, kinds: dict) -> str:
    return kinds.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")


def _set_op_versions(model, kinds: dict, type_names: dict) -> None:
    """Filter ops get the writer's version for their new filter type; operator codes are rebuilt in
    order of first use (the writer's order) and min_runtime_version follows when every op is one
    the writer knows (else it is kept)."""
    fb = schema()
    codes: list = []
    pairs: list[tuple[str, int]] = []
    for sg in model.subgraphs or []:
        for op in sg.operators or []:
            old = model.operatorCodes[op.opcodeIndex]
            kind = _kind(old, kinds)
            version = old.version
            if kind in FILTER_OPS and kind in OP_SPECS:
                version = OP_SPECS[kind].version(*_int_op(kind, op, sg, type_names))
            key = (old.builtinCode, old.deprecatedBuiltinCode, old.customCode, version)
            index = next((i for i, c in enumerate(codes) if c[0] == key), None)
            if index is None:
                code = copy.copy(old)
                code.version = version
                index = len(codes)
                codes.append((key, code))
                pairs.append((kind, version))
            op.opcodeIndex = index
    model.operatorCodes = [c for _, c in codes]
    if not all(kind in OP_SPECS for kind, _ in pairs):
        return
    text = min_runtime_version(pairs).encode("ascii")
    for entry in model.metadata or []:
        name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
        if name == MIN_RUNTIME_VERSION_KEY:
            model.buffers[entry.buffer].data = np.frombuffer(text + b"\0" * (16 - len(text)), np.uint8)


def _int_op(kind: str, op, sg, type_names: dict) -> tuple[IntOp, dict[str, IntTensor]]:
    """The op's inputs as far as the writer's version rules read them (dtypes, shapes, options)."""
    tensors, names = {}, []
    for i in op.inputs if op.inputs is not None else []:
        if i < 0:
            names.append("")
            continue
        t = sg.tensors[i]
        name = f"t{i}"
        tensors[name] = IntTensor(name, tuple(int(d) for d in (t.shape if t.shape is not None else ())),
                                  type_names.get(t.type, "").lower())
        names.append(name)
    options = {}
    if getattr(op.builtinOptions, "keepNumDims", None) is not None:
        options["keep_num_dims"] = bool(op.builtinOptions.keepNumDims)
    return IntOp(kind, tuple(names), (), options), tensors
