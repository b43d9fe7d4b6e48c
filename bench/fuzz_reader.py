"""Fuzz catrt's .tflite reader and interpreter with mutated REAL exported models.

Seeds are .tflite files written by catdeploy's own exporter (captured torch models, calibrated,
lowered, written). Each execution takes a seed, applies 1-4 stacked mutations and hands the bytes
to a worker process that builds catrt.Interpreter (read + validate + prepare) and, when the inputs
are small, runs it on a deterministic random input (keep_all=True). Mutations:

- bytes:      bit flips, byte sets, "interesting" integers at random positions, chunk delete,
              duplicate and insert, truncation, splices of two seeds;
- structured: an in-place overwrite of one located flatbuffer field (root/vtable/reference
              offsets, vtable entries, vector lengths, tensor shapes, tensor types, buffer indices,
              quantization scales / zero points / dimensions, opcode indices, builtin codes,
              op and graph tensor indices, builtin option values) with an edge value;
- object:     a re-packed model with a length-changing edit (a dim dropped or added, a
              quantization array shortened, an op input removed, ops swapped or duplicated, a
              second subgraph, ...), via the TFLite schema's object API.

The worker is a child process with a watchdog: an exception other than catrt.CatrtError is a
crash, a worker that dies (signal, out-of-memory kill) is a crash, an execution over --timeout
seconds (default 10) is a hang. The worker's address space is capped (--memory-limit-mb) so that
a runaway allocation shows up as MemoryError (which catrt must turn into CatrtError) instead of
taking the machine down. Crashing and hanging inputs are saved with their mutation history.

    .venv/bin/python bench/fuzz_reader.py --seconds 1500 --seed 1 --seeds full \
        --out bench/results/fuzz.json --crash-dir bench/results/fuzz_crashes

Python use (tests): build_seeds("tiny") -> {name: bytes}; run_campaign(seeds, executions=...,
seconds=..., seed=...) -> CampaignResult.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import random
import resource
import select
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
HANG_SECONDS = 10.0
DEFAULT_MEMORY_LIMIT_MB = 2048
MAX_RUN_INPUT_ELEMENTS = 1 << 20       # inputs larger than this are constructed but not run
WORKER_TARGET = "fuzz_reader:exercise"
STARTUP_SECONDS = 600.0                # a worker's imports, before its first input is timed
READY = b'{"status": "ready"}\n'

# ================================================================================================
# Seeds: real exported models


def _tiny_torch_model(seed: int):
    """A small CNN with every op kind catdeploy lowers: conv+bn+relu, max pool, residual add,
    depthwise conv (relu6), avg pool, concat, global average pool, flatten, linear."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
            self.pool = nn.MaxPool2d(3, 2, 1)
            self.block = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 1, 1))
            self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1, groups=8), nn.ReLU6())
            self.avg = nn.AvgPool2d(2, 1)
            self.head = nn.Linear(16, 5)

        def forward(self, x):
            x = self.pool(self.stem(x))
            x = torch.relu(x + self.block(x))
            y = self.avg(torch.cat([x, self.dw(x)], dim=1))
            y = torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1)
            return self.head(y)

    model = Tiny()
    for m in model.modules():  # non-trivial BN statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _export(model, input_size: int, bits: str, io: str, samples: int, seed: int,
            int4_weights: bool = False, **plan) -> bytes:
    import numpy as np

    from catdeploy import api
    from catdeploy.integer import program_bytes
    from catdeploy.lower.options import LoweringOptions
    from catdeploy.quant.options import CalibrationOptions

    graph = api.capture(model, input_size)
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(samples, 3, input_size, input_size)).astype(np.float32)
    qg = api.calibrate(graph, api.plan(graph, bits, **plan), images, CalibrationOptions(seed=seed))
    return program_bytes(qg, LoweringOptions(io=io, int4_weights=int4_weights))


def build_seeds(kind: str = "tiny") -> dict:
    """{name: .tflite bytes}. "tiny": four exports of a small CNN (a few seconds; 8-bit, 2-bit with
    float I/O, strict 4-bit, packed INT4 weights);
    "full": those plus a random-init torchvision mnasnet0_5 at 32x32 (about 10 s more)."""
    import torch

    torch.set_num_threads(1)
    seeds = {
        "tiny_w8a8_int8": _export(_tiny_torch_model(0), 16, "w8a8", "int8", 32, 0),
        "tiny_w2a2_float_io": _export(_tiny_torch_model(1), 16, "w2a2", "float", 32, 1),
        "tiny_w4a4_strict": _export(_tiny_torch_model(2), 16, "w4a4", "int8", 32, 2, strict=True),
        "tiny_w4a4_int4": _export(_tiny_torch_model(3), 16, "w4a4", "int8", 32, 3, int4_weights=True,
                                  symmetric_weights=True),
    }
    if kind == "full":
        from catdeploy.data.zoo import build_model

        torch.manual_seed(0)
        seeds["mnasnet0_5_w4a4"] = _export(build_model("mnasnet0_5", 10), 32, "w4a4", "int8", 32, 0)
    elif kind != "tiny":
        raise ValueError(f"unknown seed set {kind!r} (tiny or full)")
    return seeds


# ================================================================================================
# Field locator: where the interesting bytes of a (valid) .tflite are


@dataclass(frozen=True)
class FieldRef:
    """One scalar of the flatbuffer: its category, absolute byte position and struct format."""

    category: str
    pos: int
    fmt: str


def _u16(data: bytes, pos: int) -> int:
    return struct.unpack_from("<H", data, pos)[0]


def _u32(data: bytes, pos: int) -> int:
    return struct.unpack_from("<I", data, pos)[0]


def _option_formats() -> dict:
    """BuiltinOptions union type -> {vtable slot: struct format} (from catrt's option tables)."""
    from catrt.reader import OPTION_TABLES

    widths = {"i8": "<b", "bool": "<B", "i32": "<i", "f32": "<f", "vec_i32": "vec"}
    out: dict = {}
    for union_type, fields in OPTION_TABLES.values():
        out[union_type] = {slot: widths[kind] for kind, slot, _ in fields.values()}
    return out


# table name -> {slot: (category, kind, detail)}; kind: scalar fmt | "table" | "tables" | "vector"
# | "string" | "options"
_SCHEMA = {
    "Model": {0: ("model_version", "<I", None), 1: ("operator_codes", "tables", "OperatorCode"),
              2: ("subgraphs", "tables", "SubGraph"), 3: ("string", "string", None),
              4: ("buffers", "tables", "Buffer"), 5: ("metadata_buffer", "vector", "<i"),
              6: ("metadata", "tables", "Metadata")},
    "OperatorCode": {0: ("builtin_code", "<b", None), 1: ("string", "string", None),
                     2: ("op_version", "<i", None), 3: ("builtin_code", "<i", None)},
    "SubGraph": {0: ("tensors", "tables", "Tensor"), 1: ("graph_io", "vector", "<i"),
                 2: ("graph_io", "vector", "<i"), 3: ("operators", "tables", "Operator"),
                 4: ("string", "string", None)},
    "Tensor": {0: ("shape", "vector", "<i"), 1: ("tensor_type", "<b", None),
               2: ("buffer_index", "<I", None), 3: ("string", "string", None),
               4: ("quantization", "table", "Quantization"), 5: ("is_variable", "<B", None),
               7: ("shape", "vector", "<i")},
    "Quantization": {0: ("quant_minmax", "vector", "<f"), 1: ("quant_minmax", "vector", "<f"),
                     2: ("quant_scale", "vector", "<f"), 3: ("quant_zero_point", "vector", "<q"),
                     4: ("quant_details", "<B", None), 6: ("quant_dimension", "<i", None)},
    "Operator": {0: ("opcode_index", "<I", None), 1: ("op_io", "vector", "<i"),
                 2: ("op_io", "vector", "<i"), 3: ("options_type", "<B", None),
                 4: ("options", "options", None), 5: ("custom_options", "vector", "<B")},
    "Buffer": {0: ("buffer_data", "vector", None), 1: ("buffer_offset", "<Q", None),
               2: ("buffer_size", "<Q", None)},
    "Metadata": {0: ("string", "string", None), 1: ("buffer_index", "<I", None)},
}
MAX_ELEMENTS_RECORDED = 64


def locate_fields(data: bytes) -> list:
    """Every scalar field of a valid .tflite that a structured mutation may target."""
    options = _option_formats()
    fields: list = [FieldRef("root_offset", 0, "<I")]

    def vtable_slots(pos: int) -> tuple:
        vtable = pos - struct.unpack_from("<i", data, pos)[0]
        fields.append(FieldRef("vtable_offset", pos, "<i"))
        fields.append(FieldRef("vtable_size", vtable, "<H"))
        fields.append(FieldRef("vtable_size", vtable + 2, "<H"))
        n = (_u16(data, vtable) - 4) // 2
        slots = {}
        for slot in range(n):
            entry = vtable + 4 + 2 * slot
            offset = _u16(data, entry)
            if offset:
                fields.append(FieldRef("vtable_entry", entry, "<H"))
                slots[slot] = pos + offset
        return slots

    def ref(at: int) -> int:
        fields.append(FieldRef("offset", at, "<I"))
        return at + _u32(data, at)

    def vector(at: int, elem_fmt: Optional[str], category: str) -> None:
        start = ref(at)
        fields.append(FieldRef("vector_length", start, "<I"))
        if elem_fmt is None:
            return
        size = struct.calcsize(elem_fmt)
        for i in range(min(_u32(data, start), MAX_ELEMENTS_RECORDED)):
            fields.append(FieldRef(category, start + 4 + size * i, elem_fmt))

    def table(pos: int, name: str, options_type: int = 0) -> None:
        slots = vtable_slots(pos)
        if name == "Options":
            for slot, fmt in options.get(options_type, {}).items():
                if slot in slots:
                    if fmt == "vec":
                        vector(slots[slot], "<i", "option")
                    else:
                        fields.append(FieldRef("option", slots[slot], fmt))
            return
        options_type_here = 0
        if name == "Operator" and 3 in slots:
            options_type_here = data[slots[3]]
        for slot, at in slots.items():
            category, kind, detail = _SCHEMA[name].get(slot, ("unknown", None, None))
            if kind is None:
                continue
            if kind == "table":
                table(ref(at), detail)
            elif kind == "tables":
                start = ref(at)
                fields.append(FieldRef("vector_length", start, "<I"))
                for i in range(_u32(data, start)):
                    table(ref(start + 4 + 4 * i), detail)
            elif kind == "vector":
                vector(at, detail, category)
            elif kind == "string":
                vector(at, None, category)
            elif kind == "options":
                table(ref(at), "Options", options_type_here)
            else:
                fields.append(FieldRef(category, at, kind))

    table(_u32(data, 0), "Model")
    return fields


# ================================================================================================
# Mutations


INTERESTING_INTS = (0, 1, -1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 1023, 4096,
                    0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, -0x80000000, 0xFFFFFFFF,
                    1 << 40, -(1 << 62))
INTERESTING_FLOATS = (0.0, -0.0, -1.0, float("nan"), float("inf"), float("-inf"), 1e-45, 1e-38,
                      3.4e38, 1e-7, 1e7, 0.5)


def _int_range(fmt: str) -> tuple:
    bits = 8 * struct.calcsize(fmt)
    if fmt[-1].isupper():
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _wrap(value: int, fmt: str) -> int:
    lo, hi = _int_range(fmt)
    span = hi - lo + 1
    return (int(value) - lo) % span + lo


def _new_value(rng: random.Random, f: FieldRef, data: bytes, peers: list):
    current = struct.unpack_from(f.fmt, data, f.pos)[0]
    if f.fmt[-1] in "fd":
        choice = rng.random()
        if choice < 0.6:
            return rng.choice(INTERESTING_FLOATS)
        if choice < 0.9:
            return current * rng.choice((2.0, 0.5, -1.0, 1e6, 1e-6, 1.0000001))
        return rng.uniform(-10, 10)
    choice = rng.random()
    if choice < 0.45:
        value = rng.choice(INTERESTING_INTS)
    elif choice < 0.75:
        value = current + rng.choice((1, -1, 2, -2, rng.randint(-16, 16), current, -2 * current))
    elif choice < 0.9 and peers:
        value = struct.unpack_from(f.fmt, data, rng.choice(peers).pos)[0]
    else:
        lo, hi = _int_range(f.fmt)
        value = rng.randint(lo, hi)
    return _wrap(value, f.fmt)


def mutate_structured(rng: random.Random, data: bytes, fields: list) -> tuple:
    """Overwrite one located field in place; returns (bytes, description)."""
    by_category: dict = {}
    for f in fields:
        if f.pos + struct.calcsize(f.fmt) <= len(data):
            by_category.setdefault(f.category, []).append(f)
    category = rng.choice(sorted(by_category))
    f = rng.choice(by_category[category])
    value = _new_value(rng, f, data, [p for p in by_category[category] if p.fmt == f.fmt])
    out = bytearray(data)
    struct.pack_into(f.fmt, out, f.pos, value)
    return bytes(out), f"field {category}@{f.pos}{f.fmt}={value!r}"


def _random_position(rng: random.Random, data: bytes, fields: list) -> int:
    if fields and rng.random() < 0.6:  # bias toward the structure, away from weight payloads
        f = rng.choice(fields)
        return min(len(data) - 1, f.pos + rng.randrange(struct.calcsize(f.fmt)))
    return rng.randrange(len(data))


def mutate_bytes(rng: random.Random, data: bytes, fields: list, other: bytes) -> tuple:
    """One byte-level mutation; returns (bytes, description)."""
    if not data:
        return other[: rng.randrange(len(other) + 1)], "truncate-empty"
    out = bytearray(data)
    kind = rng.choice(("flip", "set", "interesting", "truncate", "delete", "duplicate", "insert",
                       "splice", "flip"))
    pos = _random_position(rng, data, fields)
    if kind == "flip":
        out[pos] ^= 1 << rng.randrange(8)
    elif kind == "set":
        out[pos] = rng.randrange(256)
    elif kind == "interesting":
        fmt = rng.choice(("<b", "<h", "<i", "<H", "<I", "<q"))
        width = struct.calcsize(fmt)
        pos = min(pos, max(0, len(out) - width))
        if len(out) >= width:
            struct.pack_into(fmt, out, pos, _wrap(rng.choice(INTERESTING_INTS), fmt))
    elif kind == "truncate":
        cut = rng.choice((rng.randrange(len(data)), pos, len(data) - rng.randint(1, 16)))
        del out[max(0, cut):]
    elif kind == "delete":
        del out[pos:pos + rng.choice((1, 2, 4, 8, rng.randint(1, 256)))]
    elif kind == "duplicate":
        n = rng.choice((4, 8, 16, rng.randint(1, 512)))
        out[pos:pos] = data[pos:pos + n]
    elif kind == "insert":
        out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 4, 8))))
    elif kind == "splice":
        cut_other = rng.randrange(len(other) + 1)
        out = out[:pos] + bytearray(other[cut_other:])
    return bytes(out), f"{kind}@{pos}"


def _schema():
    from ai_edge_litert import schema_py_generated as fb

    return fb


def _pack(model) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _edit_list(rng: random.Random, values, what: str, n_tensors: int) -> tuple:
    """A length-changing or index edit of an int list (shape or tensor indices)."""
    import numpy as np

    items = [] if values is None else [int(v) for v in np.asarray(values).reshape(-1)]
    kind = rng.choice(("drop", "add", "set", "dup", "clear", "swap"))
    if kind == "drop" and items:
        del items[rng.randrange(len(items))]
    elif kind == "add":
        items.insert(rng.randrange(len(items) + 1), rng.choice((-1, 0, 1, 2, 3, n_tensors, 1 << 16)))
    elif kind == "set" and items:
        items[rng.randrange(len(items))] = rng.choice((-2, -1, 0, 1, n_tensors - 1, n_tensors,
                                                       rng.randrange(max(1, n_tensors))))
    elif kind == "dup" and items:
        items.append(rng.choice(items))
    elif kind == "clear":
        items = []
    elif kind == "swap" and len(items) > 1:
        i, j = rng.sample(range(len(items)), 2)
        items[i], items[j] = items[j], items[i]
    return np.asarray(items, dtype=np.int32), f"{what}:{kind}"


def mutate_object(rng: random.Random, data: bytes, other: bytes) -> tuple:
    """Unpack a valid model with the schema object API, apply one semantic edit, repack."""
    import numpy as np

    fb = _schema()
    model = fb.ModelT.InitFromPackedBuf(data, 0)
    sg = model.subgraphs[0]
    n = len(sg.tensors)
    kind = rng.choice(("shape", "shape", "type", "buffer", "quant_len", "quant_dim", "buffer_len",
                       "op_inputs", "op_outputs", "op_order", "op_dup", "op_delete", "opcode",
                       "options", "graph_io", "subgraph", "tensor_dup", "io_swap"))
    tensor = rng.choice(sg.tensors)
    op = rng.choice(sg.operators) if sg.operators else None
    if kind == "shape":
        tensor.shape, what = _edit_list(rng, tensor.shape, "shape", 1 << 12)
    elif kind == "type":
        tensor.type = rng.randrange(20)
        what = f"type={tensor.type}"
    elif kind == "buffer":
        tensor.buffer = rng.choice((0, rng.randrange(len(model.buffers)), len(model.buffers)))
        what = f"buffer={tensor.buffer}"
    elif kind == "quant_len" and tensor.quantization is not None:
        q = tensor.quantization
        attr = rng.choice(("scale", "zeroPoint"))
        arr = getattr(q, attr)
        arr = np.zeros(0) if arr is None else np.asarray(arr)
        length = rng.choice((0, 1, max(0, arr.size - 1), arr.size + 1, 2 * arr.size + 1))
        new = np.resize(arr, length) if arr.size else np.ones(length)
        setattr(q, attr, new.astype(np.float32 if attr == "scale" else np.int64))
        what = f"{attr}_len={length}"
    elif kind == "quant_dim" and tensor.quantization is not None:
        tensor.quantization.quantizedDimension = rng.choice((-1, 1, 2, 3, 4, 100))
        what = f"quantized_dimension={tensor.quantization.quantizedDimension}"
    elif kind == "buffer_len":
        with_data = [b for b in model.buffers if b.data is not None and len(b.data)]
        if not with_data:
            return mutate_bytes(rng, data, [], other)
        b = rng.choice(with_data)
        size = len(b.data) + rng.choice((-1, 1, -len(b.data), 7))
        b.data = np.resize(np.asarray(b.data, np.uint8), max(0, size))
        what = f"buffer_data_len={size}"
    elif kind in ("op_inputs", "op_outputs") and op is not None:
        attr = "inputs" if kind == "op_inputs" else "outputs"
        new, what = _edit_list(rng, getattr(op, attr), attr, n)
        setattr(op, attr, new)
    elif kind == "op_order" and len(sg.operators) > 1:
        i, j = rng.sample(range(len(sg.operators)), 2)
        sg.operators[i], sg.operators[j] = sg.operators[j], sg.operators[i]
        what = f"swap ops {i},{j}"
    elif kind == "op_dup" and op is not None:
        sg.operators.insert(rng.randrange(len(sg.operators) + 1), copy.deepcopy(op))
        what = "duplicate op"
    elif kind == "op_delete" and op is not None:
        sg.operators.remove(op)
        what = "delete op"
    elif kind == "opcode":
        code = rng.choice(model.operatorCodes)
        code.builtinCode = rng.choice((0, 1, 2, 3, 4, 6, 9, 14, 17, 18, 22, 25, 32, 34, 36, 39,
                                       40, 55, 56, 57, 114, 117, 150, 300))
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        if code.builtinCode == 32:
            code.customCode = rng.choice(("", "FlexConv", "\u00e9"))
        what = f"builtin_code={code.builtinCode}"
    elif kind == "options" and op is not None and op.builtinOptions is not None:
        opts = op.builtinOptions
        names = [k for k, v in vars(opts).items()]
        if not names:
            return mutate_bytes(rng, data, [], other)
        name = rng.choice(names)
        current = getattr(opts, name)
        if isinstance(current, bool):
            setattr(opts, name, not current)
        elif isinstance(current, int):
            byte_field = name in ("padding", "fusedActivationFunction", "weightsFormat") or name.endswith("Type")
            setattr(opts, name, _wrap(rng.choice(INTERESTING_INTS + (current + 1, current - 1)),
                                      "<b" if byte_field else "<i"))  # enum fields (e.g. *Type) are bytes
        else:
            new, _ = _edit_list(rng, current, name, 8)
            setattr(opts, name, new)
        what = f"options.{name}={getattr(opts, name)!r}"[:120]
    elif kind == "graph_io":
        attr = rng.choice(("inputs", "outputs"))
        new, what = _edit_list(rng, getattr(sg, attr), "graph_" + attr, n)
        setattr(sg, attr, new)
    elif kind == "subgraph":
        if rng.random() < 0.5:
            model.subgraphs.append(copy.deepcopy(sg))
            what = "second subgraph"
        else:
            model.subgraphs = []
            what = "no subgraph"
    elif kind == "tensor_dup":
        sg.tensors.append(copy.deepcopy(tensor))
        what = "duplicate tensor"
    elif kind == "io_swap" and op is not None and op.inputs is not None and len(op.inputs):
        inputs = np.array(op.inputs, dtype=np.int32)  # the unpacked array is read-only
        has_output = op.outputs is not None and len(op.outputs)
        inputs[rng.randrange(len(inputs))] = int(op.outputs[0]) if has_output else -1
        op.inputs, what = inputs, "input=output"
    else:
        model.version = rng.choice((0, 2, 4))
        what = f"version={model.version}"
    return _pack(model), f"object {kind} ({what})"


def mutate(rng: random.Random, seeds: dict, fields_of: dict) -> tuple:
    """(mutated bytes, seed name, list of mutation descriptions): 1-4 stacked mutations."""
    name = rng.choice(sorted(seeds))
    data = seeds[name]
    other = seeds[rng.choice(sorted(seeds))]
    history = []
    structure_intact = True  # object/structured mutations need a parseable layout
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        r = rng.random()
        if r < 0.45:
            fields = fields_of[name] if structure_intact else []
            if fields:
                data, what = mutate_structured(rng, data, fields)
            else:
                data, what = mutate_bytes(rng, data, [], other)
        elif r < 0.65 and structure_intact:
            try:
                data, what = mutate_object(rng, data, other)
            except Exception as exc:  # a schema value the object API cannot pack: skip it
                what = f"object edit skipped ({type(exc).__name__})"
        else:
            data, what = mutate_bytes(rng, data, fields_of[name] if structure_intact else [], other)
        history.append(what)
        structure_intact = False  # later mutations work on bytes, not on the located fields
    return data, name, history


# ================================================================================================
# Worker (child process): construct + run, report the outcome


def exercise(data: bytes) -> str:
    """Build a catrt.Interpreter and run it on a small deterministic input. Returns "ran" or
    "constructed"; raises CatrtError for a rejected file (anything else is a bug in catrt)."""
    import numpy as np

    import catrt

    key = zlib.crc32(data)
    profiles = sorted(catrt.PROFILES)
    interp = catrt.Interpreter(data, profile=profiles[key % len(profiles)])
    rng = np.random.default_rng(key)
    batch = 1 + (key >> 8) % 2  # batch 2 exercises the batch-resize paths
    inputs = []
    for d in interp.get_input_details():
        shape = tuple(d.shape)
        if shape:
            shape = (batch,) + shape[1:]
        n = 1
        for s in shape:
            n *= s
        if n == 0 or n > MAX_RUN_INPUT_ELEMENTS:
            return "constructed"
        dtype = np.dtype(d.dtype)
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            lo, hi = max(info.min, -128), min(info.max, 127)
            inputs.append(rng.integers(lo, hi + 1, size=shape).astype(dtype))
        else:
            inputs.append(rng.normal(size=shape).astype(dtype))
    interp.run(inputs, keep_all=True)
    return "ran"


def _resolve_target(spec: str) -> Callable:
    module_name, _, func = spec.partition(":")
    if module_name == "fuzz_reader":
        return globals()[func]
    import importlib

    return getattr(importlib.import_module(module_name), func)


def _peak_rss_kib() -> int:
    """Peak resident set size of this process since it started (VmHWM). ru_maxrss would also
    count the parent's RSS at fork time, which Linux carries across exec."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def worker_main(target_spec: str, memory_limit_mb: int) -> None:
    """Loop: read [u32 length][bytes] from stdin, answer one JSON line on the private stdout."""
    if memory_limit_mb > 0:
        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    reply = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints go to stderr, never into the protocol
    stdin = sys.stdin.buffer
    import catrt  # noqa: F401  - import once, before the first input

    target = _resolve_target(target_spec)
    from catrt import CatrtError

    # the one-line errors a target may raise for a rejected input, from its `rejected()` when it
    # has one (fuzz_archives' .qg target: catdeploy's UserError); anything else is a crash
    rejected = getattr(target, "rejected", lambda: (CatrtError,))()
    warm_up = getattr(target, "warm_up", None)
    if warm_up is not None:
        warm_up()  # heavy imports (torch) before the first input, outside its time budget
    reply.write(READY)
    reply.flush()
    while True:
        header = stdin.read(4)
        if len(header) < 4:
            return
        (length,) = struct.unpack("<I", header)
        data = stdin.read(length)
        try:
            outcome = {"status": "ok", "detail": target(data)}
        except rejected as exc:
            outcome = {"status": "rejected", "detail": str(exc)[:300]}
        except BaseException as exc:  # noqa: BLE001 - anything else is what we hunt
            tb = traceback.extract_tb(exc.__traceback__)[-4:]
            where = " <- ".join(f"{Path(fr.filename).name}:{fr.lineno} {fr.name}" for fr in reversed(tb))
            outcome = {"status": "crash", "detail": f"{type(exc).__name__}: {str(exc)[:300]}",
                       "where": where}
        outcome["maxrss_kib"] = _peak_rss_kib()
        reply.write((json.dumps(outcome) + "\n").encode())
        reply.flush()


class Worker:
    """A worker process with a watchdog; restarted after a hang or a death."""

    def __init__(self, target: str, memory_limit_mb: int) -> None:
        self.target, self.memory_limit_mb = target, memory_limit_mb
        self.proc: Optional[subprocess.Popen] = None
        self.stderr = None
        self.starts = 0

    def _start(self) -> None:
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = "1"
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parent), str(ROOT)] + [env.get("PYTHONPATH", "")])
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", "--target", self.target,
             "--memory-limit-mb", str(self.memory_limit_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env)
        self.starts += 1
        ready, _, _ = select.select([self.proc.stdout], [], [], STARTUP_SECONDS)
        if not ready or self.proc.stdout.readline() != READY:
            tail = self._stderr_tail()
            self.stop()
            raise RuntimeError(f"the fuzz worker did not start within {STARTUP_SECONDS:.0f} s: {tail}")

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            self.proc = None
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None

    def _stderr_tail(self) -> str:
        if self.stderr is None:
            return ""
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-600:]

    def execute(self, data: bytes, timeout: float) -> dict:
        """{"status": ok|rejected|crash|hang, "detail", "seconds", "maxrss_kib"?}."""
        if self.proc is None:
            self._start()
        start = time.monotonic()
        try:
            self.proc.stdin.write(struct.pack("<I", len(data)) + data)
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            line = self.proc.stdout.readline() if ready else None
        except (BrokenPipeError, OSError):
            line = b""
        seconds = time.monotonic() - start
        if line is None:
            self.stop()
            return {"status": "hang", "detail": f"no answer after {timeout:.0f} s", "seconds": seconds}
        if not line:
            code = self.proc.wait()
            tail = self._stderr_tail()
            self.stop()
            return {"status": "crash", "detail": f"worker died (exit code {code}) {tail}".strip(),
                    "seconds": seconds}
        outcome = json.loads(line)
        outcome["seconds"] = seconds
        return outcome


# ================================================================================================
# Campaign


@dataclass
class CampaignResult:
    seed: int
    seeds: dict                  # name -> size in bytes
    executions: int = 0
    ok: int = 0                  # constructed (and run when small) without error
    ran: int = 0
    rejected: int = 0            # CatrtError
    crashes: list = field(default_factory=list)
    hangs: list = field(default_factory=list)
    peak_rss_mib: float = 0.0
    peak_rss_input: list = field(default_factory=list)      # mutations of the input that set it
    slowest_seconds: float = 0.0
    slowest_input: list = field(default_factory=list)
    duration_seconds: float = 0.0
    worker_starts: int = 0
    mutation_kinds: dict = field(default_factory=dict)
    rejection_samples: dict = field(default_factory=dict)   # first words -> count

    def summary(self) -> dict:
        out = asdict(self)
        out["crash_count"], out["hang_count"] = len(self.crashes), len(self.hangs)
        out["executions_per_second"] = round(self.executions / max(self.duration_seconds, 1e-9), 1)
        top = sorted(self.rejection_samples.items(), key=lambda kv: -kv[1])[:25]
        out["rejection_samples"] = dict(top)
        return out


def _rejection_key(message: str) -> str:
    words = [w for w in message.replace(":", " ").split() if not any(c.isdigit() for c in w)]
    return " ".join(words[:6])


def _save(directory: Optional[Path], stem: str, data: bytes) -> None:
    if directory is not None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / f"{stem}.tflite").write_bytes(data)


def run_campaign(seeds: dict, *, executions: Optional[int] = None, seconds: Optional[float] = None,
                 seed: int = 0, timeout: float = HANG_SECONDS,
                 memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB, crash_dir: Optional[Path] = None,
                 target: str = WORKER_TARGET, inputs: Optional[list] = None,
                 progress: Optional[Callable[[CampaignResult], None]] = None) -> CampaignResult:
    """Fuzz until `executions` inputs or `seconds` elapsed (whichever first). `inputs`, when
    given, replaces the mutator with a fixed list of byte strings (for tests of the watchdog)."""
    if executions is None and seconds is None and inputs is None:
        raise ValueError("give executions, seconds or inputs")
    rng = random.Random(seed)
    fields_of = {name: locate_fields(data) for name, data in seeds.items()}
    result = CampaignResult(seed=seed, seeds={k: len(v) for k, v in seeds.items()})
    worker = Worker(target, memory_limit_mb)
    start = time.monotonic()
    last_progress = start
    try:
        i = 0
        while True:
            if inputs is not None and i >= len(inputs):
                break
            if executions is not None and i >= executions:
                break
            if seconds is not None and time.monotonic() - start >= seconds:
                break
            if inputs is not None:
                data, name, history = inputs[i], "given", ["given"]
            else:
                data, name, history = mutate(rng, seeds, fields_of)
            for h in history:
                key = h.split("@")[0].split(" (")[0].split("=")[0]
                result.mutation_kinds[key] = result.mutation_kinds.get(key, 0) + 1
            outcome = worker.execute(data, timeout)
            result.executions += 1
            if outcome["seconds"] > result.slowest_seconds:
                result.slowest_seconds = outcome["seconds"]
                result.slowest_input = [name] + history
                _save(crash_dir, "slowest", data)
            if outcome.get("maxrss_kib", 0) / 1024 > result.peak_rss_mib:
                result.peak_rss_mib = outcome["maxrss_kib"] / 1024
                result.peak_rss_input = [name] + history
                _save(crash_dir, "peak-rss", data)
            status = outcome["status"]
            if status == "ok":
                result.ok += 1
                result.ran += outcome["detail"] == "ran"
            elif status == "rejected":
                result.rejected += 1
                key = _rejection_key(outcome["detail"])
                result.rejection_samples[key] = result.rejection_samples.get(key, 0) + 1
            else:
                record = {"execution": i, "seed_model": name, "mutations": history, **outcome}
                (result.crashes if status == "crash" else result.hangs).append(record)
                if crash_dir is not None:
                    crash_dir = Path(crash_dir)
                    crash_dir.mkdir(parents=True, exist_ok=True)
                    stem = crash_dir / f"{status}-{seed}-{i:08d}"
                    stem.with_suffix(".tflite").write_bytes(data)
                    stem.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
            i += 1
            now = time.monotonic()
            if progress is not None and now - last_progress >= 30:
                result.duration_seconds = now - start
                progress(result)
                last_progress = now
    finally:
        worker.stop()
        result.duration_seconds = time.monotonic() - start
        result.worker_starts = worker.starts
    return result


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--target", default=WORKER_TARGET, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=None, help="Time budget.")
    parser.add_argument("--executions", type=int, default=None, help="Execution budget.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the mutator.")
    parser.add_argument("--seeds", default="tiny", help="Seed models: tiny or full (adds mnasnet0_5).")
    parser.add_argument("--timeout", type=float, default=HANG_SECONDS, help="Hang threshold (s).")
    parser.add_argument("--memory-limit-mb", type=int, default=DEFAULT_MEMORY_LIMIT_MB,
                        help="Address-space cap of the worker (0: none).")
    parser.add_argument("--out", type=Path, default=None, help="Write the summary JSON here.")
    parser.add_argument("--crash-dir", type=Path, default=None, help="Save crashing/hanging inputs.")
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.target, args.memory_limit_mb)
        return 0
    if args.seconds is None and args.executions is None:
        parser.error("give --seconds and/or --executions")
    sys.path.insert(0, str(ROOT))
    t0 = time.monotonic()
    seeds = build_seeds(args.seeds)
    print(f"seeds ({time.monotonic() - t0:.1f} s): " + ", ".join(f"{k} {len(v)} B" for k, v in seeds.items()),
          file=sys.stderr, flush=True)

    def report(r: CampaignResult) -> None:
        print(f"[{r.duration_seconds:7.0f} s] {r.executions} execs, {r.rejected} rejected, {r.ok} ok, "
              f"{len(r.crashes)} crashes, {len(r.hangs)} hangs, peak RSS {r.peak_rss_mib:.0f} MiB",
              file=sys.stderr, flush=True)

    result = run_campaign(seeds, executions=args.executions, seconds=args.seconds, seed=args.seed,
                          timeout=args.timeout, memory_limit_mb=args.memory_limit_mb,
                          crash_dir=args.crash_dir, progress=report)
    report(result)
    summary = result.summary()
    summary["command"] = " ".join([Path(sys.executable).name, "bench/fuzz_reader.py"] + sys.argv[1:])
    summary["hang_threshold_seconds"] = args.timeout
    summary["memory_limit_mb"] = args.memory_limit_mb
    text = json.dumps(summary, indent=1, default=str)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    else:
        print(text)
    return 1 if result.crashes or result.hangs else 0


if __name__ == "__main__":
    sys.exit(main())
