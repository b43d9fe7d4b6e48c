"""Fuzz the archive readers (.qg quantized graphs, catrt golden files) with mutated REAL archives,
and measure zip bombs against them (beside bench/fuzz_reader.py, whose worker and watchdog it uses).

Seeds are archives written by catdeploy itself: .qg files of the small CNN of fuzz_reader (RTN
w4a4, w2a2 with symmetric weights, w8a8 with a CAT head) and golden files (`make_golden`) of
that CNN's exports. Each execution takes a seed, applies 1-4 stacked mutations and hands the
bytes to a worker process:

- qg:     catdeploy.pipeline.load_quantized (bounded read, every value checked, lowered) and the
          .tflite writer, what `catdeploy export` does; a one-line UserError is a rejection;
- golden: catrt.golden.read_golden (bounded read, meta, keys, dtypes and rows checked), what
          `python -m catrt check` does before it runs an interpreter; a one-line CatrtError is a
          rejection.

Anything else (another exception, a message over one line, a dead worker) is a crash; no answer
after --timeout seconds (10) is a hang. Mutations:

- zip:     an in-place overwrite of one located zip field (end record: member count, directory
           size and offset, comment length; directory entries and local headers: method, flags,
           CRC, compressed and uncompressed sizes, name and extra lengths, header offsets);
- member:  a re-packed archive with one member edited: an .npy header (shape: grown, shrunk,
           zeroed, huge, negative, a dim added or dropped; dtype: object, void, strings, other
           widths, big-endian; Fortran order), the data resized to the new header or not, array
           values (NaN, inf, 0, -1, huge, grid edges), a JSON value (the .qg document, the golden
           meta: deleted, wrong type, bits 1/9/99, 1e308, ...), a member dropped, duplicated,
           renamed, added, stored instead of deflated;
- bomb:    a member replaced by zeros that inflate 1000:1, with an honest header, a header that
           declares less than the data holds (lying), or more;
- bytes:   fuzz_reader's byte mutations (flips, interesting integers, truncation, splices, ...).

    .venv/bin/python bench/fuzz_archives.py --reader qg --seconds 1200 --seed 1 --out bench/results/fuzz_qg.json
    .venv/bin/python bench/fuzz_archives.py --reader golden --seconds 600 --seed 1 --out bench/results/fuzz_golden.json
    .venv/bin/python bench/fuzz_archives.py --bombs          # peak memory: bombs vs normal files

Python use (tests): build_seeds(reader) -> {name: bytes}; run_campaign(reader, seeds, executions=,
seconds=, seed=) -> fuzz_reader.CampaignResult; bomb builders (zeros_bomb_qg, ...) and peak_rss_run.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path += [p for p in (str(HERE), str(ROOT), str(ROOT / "runtime")) if p not in sys.path]

import fuzz_reader  # noqa: E402  (bench/ is not a package)
from fuzz_reader import CampaignResult, FieldRef, Worker, mutate_bytes, mutate_structured  # noqa: E402

READERS = ("qg", "golden")
TARGETS = {"qg": "fuzz_archives:exercise_qg", "golden": "fuzz_archives:exercise_golden"}
MEMORY_LIMIT_MB = {"qg": 6144, "golden": 2048}   # address space; torch alone maps about 3 GB
BOMB_BYTES = 50 << 20                              # 50 MB of zeros: about 50 KB deflated (1000:1)


# ================================================================================================
# Seeds: real archives written by catdeploy and catrt


def _tiny_qg(seed: int, bits: str, **plan):
    import numpy as np

    from catdeploy import api

    graph = api.capture(fuzz_reader._tiny_torch_model(seed), 16)
    images = np.random.default_rng(seed).normal(size=(16, 3, 16, 16)).astype(np.float32)
    return api.calibrate(graph, api.plan(graph, bits, **plan), images)


def _with_cat(qg):
    """qg with a hand-made 2-cluster CAT head on its classifier (no fit: fast and deterministic)."""
    import numpy as np

    from catdeploy.cat.select import with_cat
    from catdeploy.ir.queries import classifier_node
    from catdeploy.quant.cat_params import CatParams

    layer = classifier_node(qg.graph).name
    classes = qg.weight_codes[layer].shape[0]
    rng = np.random.default_rng(0)
    params = CatParams(alpha=0.5, gamma=rng.uniform(0.5, 1.5, (2, classes)), beta=rng.normal(0, 0.1, (2, classes)),
                       centroids=rng.normal(size=(2, classes)), cluster_sizes=np.array([8, 8]))
    return with_cat(qg, params, rng.normal(size=(32, classes)), layer)


def _qg_bytes(qg) -> bytes:
    from catdeploy.quant.quantized_graph import save_quantized_graph

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed.qg"
        save_quantized_graph(qg, path)
        return path.read_bytes()


def build_seeds(reader: str) -> dict:
    """{name: archive bytes} for "qg" or "golden" (a few seconds each)."""
    import torch

    torch.set_num_threads(1)
    if reader == "qg":
        return {"tiny_w4a4.qg": _qg_bytes(_tiny_qg(0, "w4a4")),
                "tiny_w2a2_symmetric.qg": _qg_bytes(_tiny_qg(1, "w2a2", symmetric_weights=True)),
                "tiny_w8a8_cat.qg": _qg_bytes(_with_cat(_tiny_qg(2, "w8a8")))}
    if reader == "golden":
        from catrt.golden import make_golden, npz_bytes

        models = fuzz_reader.build_seeds("tiny")
        return {f"{name}.golden.npz": npz_bytes(make_golden(models[name], n=n, seed=i))
                for i, (name, n) in enumerate((("tiny_w8a8_int8", 4), ("tiny_w4a4_strict", 2),
                                               ("tiny_w4a4_int4", 3)))}
    raise ValueError(f"unknown reader {reader!r} ({', '.join(READERS)})")


# ================================================================================================
# Zip structure: located fields, re-packing


def locate_zip_fields(data: bytes) -> list:
    """FieldRefs of the end record, every central-directory entry and every local header."""
    fields = []
    eocd = data.rfind(b"PK\x05\x06")
    if eocd < 0 or eocd + 22 > len(data):
        return fields
    for name, offset, fmt in (("eocd_count", 10, "<H"), ("eocd_count", 8, "<H"), ("eocd_directory_size", 12, "<I"),
                              ("eocd_directory_offset", 16, "<I"), ("eocd_comment_length", 20, "<H")):
        fields.append(FieldRef(name, eocd + offset, fmt))
    count, size, offset = struct.unpack_from("<HII", data, eocd + 10)
    pos = offset
    for _ in range(count):
        if pos + 46 > len(data) or data[pos:pos + 4] != b"PK\x01\x02":
            break
        for name, rel, fmt in (("entry_flags", 8, "<H"), ("entry_method", 10, "<H"), ("entry_crc", 16, "<I"),
                               ("entry_compressed_size", 20, "<I"), ("entry_size", 24, "<I"),
                               ("entry_name_length", 28, "<H"), ("entry_extra_length", 30, "<H"),
                               ("entry_header_offset", 42, "<I")):
            fields.append(FieldRef(name, pos + rel, fmt))
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, pos + 28)
        local = struct.unpack_from("<I", data, pos + 42)[0]
        if local + 30 <= len(data) and data[local:local + 4] == b"PK\x03\x04":
            for name, rel, fmt in (("local_method", 8, "<H"), ("local_compressed_size", 18, "<I"),
                                   ("local_size", 22, "<I"), ("local_name_length", 26, "<H"),
                                   ("local_extra_length", 28, "<H")):
                fields.append(FieldRef(name, local + rel, fmt))
        pos += 46 + name_length + extra_length + comment_length
    return fields


def unpack(data: bytes) -> list:
    """[(name, bytes, compress_type)] of a (seed-derived, parseable) zip archive."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(i.filename, zf.read(i), i.compress_type) for i in zf.infolist()]


def pack(members: list) -> bytes:
    """A zip archive of [(name, bytes, compress_type)], honest headers, fixed timestamps."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as zf:
        warnings.simplefilter("ignore")   # duplicate names are one of the mutations
        for name, payload, method in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            zf.writestr(info, payload)
    return buf.getvalue()


def set_declared_size(data: bytes, name: str, size: int) -> bytes:
    """`data` with the uncompressed size that member `name` declares (central directory and local
    header) replaced by `size`: a lying header when smaller than the real data."""
    out = bytearray(data)
    eocd = data.rfind(b"PK\x05\x06")
    count, _, pos = struct.unpack_from("<HII", data, eocd + 10)
    for _ in range(count):
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, pos + 28)
        if data[pos + 46:pos + 46 + name_length].decode() == name:
            struct.pack_into("<I", out, pos + 24, size)
            struct.pack_into("<I", out, struct.unpack_from("<I", data, pos + 42)[0] + 22, size)
        pos += 46 + name_length + extra_length + comment_length
    return bytes(out)


# ================================================================================================
# Zip bombs (acceptance: 1000:1, honest and lying headers; tests/reliability/test_archive_bombs.py)


def zeros_member(name: str, size: int = BOMB_BYTES) -> tuple:
    return name, bytes(size), zipfile.ZIP_DEFLATED


def bomb(members: list, target: str, lie: bool, size: int = BOMB_BYTES) -> bytes:
    """`members` with member `target` replaced by `size` zeros, deflated (about 1000:1). With
    `lie`, its header declares 1 MiB (under every ratio limit) instead of `size`."""
    replaced = [zeros_member(target, size) if name == target else (name, payload, method)
                for name, payload, method in members]
    if target not in {m[0] for m in members}:
        replaced.append(zeros_member(target, size))
    data = pack(replaced)
    return set_declared_size(data, target, 1 << 20) if lie else data


def zeros_bomb_qg(qg: bytes, lie: bool = False, size: int = BOMB_BYTES) -> bytes:
    """A real .qg whose arrays.npz inflates to `size` zeros."""
    return bomb(unpack(qg), "arrays.npz", lie, size)


def zeros_bomb_golden(golden: bytes, lie: bool = False, size: int = BOMB_BYTES) -> bytes:
    """A real golden file whose input_0.npy inflates to `size` zeros (an honest .npy header of
    that many rows would be refused too: this one is not even a header)."""
    return bomb(unpack(golden), "input_0.npy", lie, size)


def zeros_bomb_pt2(pt2: bytes, lie: bool = False, size: int = BOMB_BYTES) -> bytes:
    """A real .pt2 whose first weight member inflates to `size` zeros."""
    members = unpack(pt2)
    target = next(name for name, _, _ in members if "/data/weights/" in name or "/data/" in name)
    return bomb(members, target, lie, size)


PEAK_WRAPPER = r"""
import atexit, os, runpy, sys
def _peak():
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    with open(os.environ["PEAK_RSS_FILE"], "w") as out:
        out.write(str(kib))
atexit.register(_peak)
target, sys.argv = sys.argv[1], sys.argv[1:]
if target == "catdeploy":
    from catdeploy.cli import main
    main()
else:
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"""


def peak_rss_run(argv: list, timeout: float = 600) -> tuple:
    """(returncode, stdout, stderr, peak resident set in MiB) of `python -m argv[0] argv[1:]`
    ("catdeploy" runs the console script) in a fresh process; the peak is that process's own
    VmHWM, written at exit (ru_maxrss would include the parent's size at fork)."""
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        env = dict(os.environ, PEAK_RSS_FILE=str(peak_file),
                   PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "runtime"), os.environ.get("PYTHONPATH", "")]))
        proc = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *map(str, argv)], capture_output=True,
                              text=True, env=env, timeout=timeout)
        peak = int(peak_file.read_text()) / 1024 if peak_file.exists() else float("nan")
    return proc.returncode, proc.stdout, proc.stderr, peak


# ================================================================================================
# Member mutations (re-packed archives)


JSON_VALUES = (None, 0, -1, 1, 9, 99, 2 ** 40, 1e308, -1e-45, 0.0, 1.5, "x", [], {}, [1, 2], True, [0, 0])
NPY_DTYPES = ("|O", "|V8", "<U0", "<U4", "|S4", "<f8", "<f2", ">f4", "<i2", "<i8", "|u1", "|b1", "<c8", "garbage")


def _npy_parts(payload: bytes):
    """(dict header, data bytes) of an .npy payload, or None."""
    import numpy as np

    try:
        fp = io.BytesIO(payload)
        version = np.lib.format.read_magic(fp)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(fp)
        return {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran, "shape": shape}, \
            payload[fp.tell():]
    except Exception:
        return None


def _npy(header: dict, data: bytes) -> bytes:
    text = repr({k: header[k] for k in ("descr", "fortran_order", "shape")})
    text += " " * ((64 - (10 + len(text) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1") + data


def _edit_npy(rng: random.Random, payload: bytes) -> tuple:
    """An .npy payload with its header or values edited."""
    import numpy as np

    parts = _npy_parts(payload)
    if parts is None:
        return payload[:rng.randrange(len(payload) + 1)], "npy-truncate"
    header, data = parts
    kind = rng.choice(("shape", "shape", "dtype", "fortran", "values", "values", "values"))
    if kind == "shape":
        shape = list(header["shape"])
        choice = rng.choice(("grow", "shrink", "zero", "huge", "negative", "add", "drop"))
        i = rng.randrange(len(shape)) if shape else 0
        if choice == "grow" and shape:
            shape[i] = shape[i] * 2 + 1
        elif choice == "shrink" and shape:
            shape[i] //= 2
        elif choice == "zero" and shape:
            shape[i] = 0
        elif choice == "huge" and shape:
            shape[i] = rng.choice((1 << 31, 1 << 40, 1 << 62))
        elif choice == "negative" and shape:
            shape[i] = -shape[i] - 1
        elif choice == "add":
            shape.insert(i, rng.choice((1, 2, 3)))
        elif shape:
            shape.pop(i)
        header = dict(header, shape=tuple(shape))
        itemsize = np.dtype(header["descr"]).itemsize
        elements = 1
        for d in shape:
            elements *= max(d, 0)
        if rng.random() < 0.5 and elements * itemsize <= 4 << 20:   # resize the data to the new header
            data = (data + bytes(elements * itemsize))[:elements * itemsize]
        return _npy(header, data), f"npy-shape-{choice}"
    if kind == "dtype":
        return _npy(dict(header, descr=rng.choice(NPY_DTYPES)), data), "npy-dtype"
    if kind == "fortran":
        return _npy(dict(header, fortran_order=not header["fortran_order"]), data), "npy-fortran"
    dtype = np.dtype(header["descr"])
    if dtype.kind not in "iuf" or not data:
        return _npy(dict(header, shape=(1,) + tuple(header["shape"])), data), "npy-shape-add"
    values = np.frombuffer(data, dtype=dtype).copy()
    if not values.size:
        return payload, "npy-values-empty"
    if dtype.kind == "f":
        edge = rng.choice((np.nan, np.inf, -np.inf, 0.0, -1.0, 1e30, 1e-40, 3.5e38))
    else:
        info = np.iinfo(dtype)
        edge = rng.choice((info.min, info.max, -1, 0, 1, 7, 8, 15, 16, 127, -128, 256))
        edge = int(np.clip(edge, info.min, info.max))
    index = rng.randrange(values.size) if rng.random() < 0.7 else slice(None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # 3.5e38 into a float16 array: inf, as intended
        values[index] = edge
    return _npy(header, values.tobytes()), f"npy-values={edge}"


def _json_paths(obj, prefix=()):
    yield prefix
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        yield from _json_paths(value, prefix + (key,))


def _edit_json(rng: random.Random, doc):
    paths = list(_json_paths(doc))[1:]
    if not paths:
        return rng.choice(JSON_VALUES), "json-root"
    where = rng.choice(paths)
    parent = doc
    for key in where[:-1]:
        parent = parent[key]
    if rng.random() < 0.3:
        parent.pop(where[-1])
        return doc, f"json-delete {'/'.join(map(str, where))[:60]}"
    value = rng.choice(JSON_VALUES)
    parent[where[-1]] = value
    return doc, f"json-set {'/'.join(map(str, where))[:60]}={value!r}"


def _edit_meta(rng: random.Random, payload: bytes) -> tuple:
    """A golden file's meta.npy (a 0-d string holding JSON) with one JSON value edited."""
    import numpy as np

    parts = _npy_parts(payload)
    try:
        text = np.frombuffer(parts[1], dtype=np.dtype(parts[0]["descr"]))[0]
        doc, what = _edit_json(rng, json.loads(str(text)))
        value = np.array(json.dumps(doc))
        out = io.BytesIO()
        np.lib.format.write_array(out, value, allow_pickle=False)
        return out.getvalue(), what
    except Exception:
        return _edit_npy(rng, payload)


def _edit_members(rng: random.Random, members: list, edit_payload: Callable) -> tuple:
    """One member-level edit of [(name, bytes, method)]: a payload edit, or the member list."""
    members = list(members)
    kind = rng.choice(("payload", "payload", "payload", "payload", "drop", "duplicate", "rename", "add",
                       "stored", "reorder"))
    i = rng.randrange(len(members))
    name, payload, method = members[i]
    if kind == "payload":
        payload, what = edit_payload(rng, name, payload)
        members[i] = (name, payload, method)
        return members, what
    if kind == "drop":
        members.pop(i)
    elif kind == "duplicate":
        members.append(members[i])
    elif kind == "rename":
        members[i] = (rng.choice((name + ".bak", "../" + name, name.upper(), "", name[:-1])), payload, method)
    elif kind == "add":
        members.append((rng.choice(("x.npy", "junk", "a/b/c.npy")), bytes(rng.randrange(64)), zipfile.ZIP_STORED))
    elif kind == "stored":
        members[i] = (name, payload, zipfile.ZIP_STORED if method == zipfile.ZIP_DEFLATED else zipfile.ZIP_DEFLATED)
    else:
        rng.shuffle(members)
    return members, f"member-{kind} {name[:40]}"


def _golden_payload(rng: random.Random, name: str, payload: bytes) -> tuple:
    if name == "meta.npy" and rng.random() < 0.7:
        return _edit_meta(rng, payload)
    return _edit_npy(rng, payload)


def _qg_payload(rng: random.Random, name: str, payload: bytes) -> tuple:
    if name == "quantized_graph.json":
        try:
            doc, what = _edit_json(rng, json.loads(payload))
            return json.dumps(doc).encode(), what
        except ValueError:
            return payload[:rng.randrange(len(payload) + 1)], "json-truncate"
    if name == "arrays.npz":
        try:
            inner = unpack(payload)
        except Exception:
            return payload[:rng.randrange(len(payload) + 1)], "npz-truncate"
        inner, what = _edit_members(rng, inner, lambda r, n, p: _edit_npy(r, p))
        return pack(inner), f"arrays.npz {what}"
    return payload, "unknown member"


def mutate_member(rng: random.Random, data: bytes, reader: str) -> tuple:
    members = unpack(data)
    members, what = _edit_members(rng, members, _qg_payload if reader == "qg" else _golden_payload)
    return pack(members), what


def mutate_bomb(rng: random.Random, data: bytes) -> tuple:
    members = unpack(data)
    target = rng.choice([name for name, _, _ in members])
    size = rng.choice((1 << 20, 8 << 20, BOMB_BYTES))
    lie = rng.choice(("honest", "lying", "larger"))
    packed = bomb(members, target, lie == "lying", size)
    if lie == "larger":
        packed = set_declared_size(packed, target, size + rng.choice((1, 4096, 1 << 30)))
    return packed, f"bomb-{lie} {target[:40]} {size >> 20} MiB"


def mutate(rng: random.Random, seeds: dict, reader: str) -> tuple:
    """(mutated bytes, seed name, list of mutation descriptions): 1-4 stacked mutations."""
    name = rng.choice(sorted(seeds))
    data = seeds[name]
    other = seeds[rng.choice(sorted(seeds))]
    history = []
    parseable = True
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        r = rng.random()
        try:
            if r < 0.45 and parseable:
                data, what = mutate_member(rng, data, reader)
            elif r < 0.5 and parseable:
                data, what = mutate_bomb(rng, data)
                parseable = False
            elif r < 0.75:
                fields = locate_zip_fields(data)
                data, what = mutate_structured(rng, data, fields) if fields else mutate_bytes(rng, data, [], other)
                parseable = False
            else:
                data, what = mutate_bytes(rng, data, locate_zip_fields(data), other)
                parseable = False
        except Exception as exc:   # the mutator could not parse an earlier mutation: skip this one
            what = f"skipped ({type(exc).__name__})"
        history.append(what)
    return data, name, history


# ================================================================================================
# Worker targets (run inside fuzz_reader's worker process)


_SCRATCH: list = []


def _one_line(exc: BaseException) -> None:
    if "\n" in str(exc).strip():
        raise AssertionError(f"a {type(exc).__name__} message over several lines: {str(exc)[:200]!r}")


def exercise_qg(data: bytes) -> str:
    """`catdeploy export`'s reading: load_quantized (bounded read, checks, lowering) + the writer."""
    from catdeploy import api
    from catdeploy.errors import UserError
    from catdeploy.pipeline import load_quantized

    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="fuzz_qg_")) / "input.qg")
    path = _SCRATCH[0]
    path.write_bytes(data)
    try:
        api.export_tflite(api.lower(load_quantized(path)))
    except UserError as exc:
        _one_line(exc)
        raise
    return "exported"


def exercise_golden(data: bytes) -> str:
    """`python -m catrt check`'s reading: read_golden (bounded read, meta, keys, rows)."""
    from catrt import CatrtError
    from catrt.golden import read_golden

    try:
        read_golden(data)
    except CatrtError as exc:
        _one_line(exc)
        raise
    return "read"


def _user_error() -> tuple:
    from catdeploy.errors import UserError

    return (UserError,)


def _import_catdeploy() -> None:
    import catdeploy.api  # noqa: F401
    import catdeploy.pipeline  # noqa: F401


exercise_qg.rejected = _user_error   # fuzz_reader's worker: a UserError is a rejection, not a crash
exercise_qg.warm_up = _import_catdeploy


# ================================================================================================
# Campaign


def run_campaign(reader: str, seeds: dict, *, executions: Optional[int] = None, seconds: Optional[float] = None,
                 seed: int = 0, timeout: float = fuzz_reader.HANG_SECONDS, memory_limit_mb: Optional[int] = None,
                 crash_dir: Optional[Path] = None,
                 progress: Optional[Callable[[CampaignResult], None]] = None) -> CampaignResult:
    """Fuzz `reader` until `executions` inputs or `seconds` elapsed (whichever first)."""
    if executions is None and seconds is None:
        raise ValueError("give executions or seconds")
    rng = random.Random(seed)
    result = CampaignResult(seed=seed, seeds={k: len(v) for k, v in seeds.items()})
    worker = Worker(TARGETS[reader], MEMORY_LIMIT_MB[reader] if memory_limit_mb is None else memory_limit_mb)
    start = last_progress = time.monotonic()
    try:
        i = 0
        while (executions is None or i < executions) and (seconds is None or time.monotonic() - start < seconds):
            data, name, history = mutate(rng, seeds, reader)
            for h in history:
                key = h.split(" ")[0].split("=")[0].split("@")[0]
                result.mutation_kinds[key] = result.mutation_kinds.get(key, 0) + 1
            outcome = worker.execute(data, timeout)
            result.executions += 1
            if outcome["seconds"] > result.slowest_seconds:
                result.slowest_seconds, result.slowest_input = outcome["seconds"], [name] + history
                if crash_dir is not None:   # kept to replay: a slow input may be a load spike
                    Path(crash_dir).mkdir(parents=True, exist_ok=True)
                    (Path(crash_dir) / f"{reader}-slowest.bin").write_bytes(data)
            if outcome.get("maxrss_kib", 0) / 1024 > result.peak_rss_mib:
                result.peak_rss_mib, result.peak_rss_input = outcome["maxrss_kib"] / 1024, [name] + history
            status = outcome["status"]
            if status == "ok":
                result.ok += 1
                result.ran += 1
            elif status == "rejected":
                result.rejected += 1
                key = fuzz_reader._rejection_key(outcome["detail"].split(": ", 1)[-1])
                result.rejection_samples[key] = result.rejection_samples.get(key, 0) + 1
            else:
                record = {"execution": i, "seed_archive": name, "mutations": history, **outcome}
                (result.crashes if status == "crash" else result.hangs).append(record)
                if crash_dir is not None:
                    Path(crash_dir).mkdir(parents=True, exist_ok=True)
                    stem = Path(crash_dir) / f"{reader}-{status}-{seed}-{i:08d}"
                    stem.with_suffix(".bin").write_bytes(data)
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


# ================================================================================================
# Bomb measurements (the table in docs/RELIABILITY.md)


def measure_bombs(work: Path) -> list:
    """Rows (kind, file, bytes, exit code, stderr lines, peak MiB) for a normal file and its bombs
    of each kind, read by the command a user runs: catdeploy export (.qg), python -m catrt check
    (golden), catdeploy calibrate (.pt2)."""
    import torch

    from catdeploy.data.zoo import build_model

    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = build_model("mnasnet0_5", 10).eval()
    pt2 = work / "mnas.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 32, 32),)), str(pt2))
    qg = work / "mnas.qg"
    run = peak_rss_run(["catdeploy", "calibrate", pt2, "--data", "digits", "--samples", "16", "--bits", "w4a4",
                        "-o", qg, "--force"])
    assert run[0] == 0, run[2]
    tflite = work / "mnas.tflite"
    run = peak_rss_run(["catdeploy", "export", qg, "--golden", "8", "-o", tflite, "--force"])
    assert run[0] == 0, run[2]
    golden = work / "mnas.golden.npz"
    files = {"qg": qg, "golden": golden, "pt2": pt2}
    builders = {"qg": zeros_bomb_qg, "golden": zeros_bomb_golden, "pt2": zeros_bomb_pt2}
    commands = {"qg": lambda p: ["catdeploy", "export", p, "-o", work / "out.tflite", "--force"],
                "golden": lambda p: ["catrt", "check", tflite, p, "--interpreter", "litert", "--resolver", "ref"],
                "pt2": lambda p: ["catdeploy", "calibrate", p, "--data", "digits", "--samples", "16", "--bits",
                                  "w4a4", "-o", work / "out.qg", "--force"]}
    rows = []
    for kind, normal in files.items():
        variants = {"normal": normal.read_bytes()}
        for lie in (False, True):
            variants["lying header" if lie else "1000:1"] = builders[kind](normal.read_bytes(), lie)
        for label, data in variants.items():
            path = work / f"{label.replace(' ', '_').replace(':', '_')}.{normal.name}"
            path.write_bytes(data)
            code, out, err, peak = peak_rss_run(commands[kind](path))
            lines = [line for line in err.splitlines() if line.strip()]
            rows.append({"kind": kind, "file": label, "bytes": len(data), "exit": code,
                         "stderr_lines": len(lines), "message": lines[-1][:240] if lines else "",
                         "peak_mib": round(peak, 1)})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reader", choices=READERS + ("all",), default="all")
    parser.add_argument("--seconds", type=float, default=None, help="Time budget per reader.")
    parser.add_argument("--executions", type=int, default=None, help="Execution budget per reader.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the mutator.")
    parser.add_argument("--timeout", type=float, default=fuzz_reader.HANG_SECONDS, help="Hang threshold (s).")
    parser.add_argument("--memory-limit-mb", type=int, default=None, help="Address-space cap of the worker.")
    parser.add_argument("--out", type=Path, default=None, help="Write the summary JSON here.")
    parser.add_argument("--crash-dir", type=Path, default=None, help="Save crashing/hanging inputs.")
    parser.add_argument("--bombs", type=Path, nargs="?", const=Path(tempfile.gettempdir()) / "catdeploy_bombs",
                        default=None, help="Measure bombs vs normal files (peak memory) in this folder.")
    args = parser.parse_args(argv)
    if args.bombs is not None:
        rows = measure_bombs(args.bombs)
        text = json.dumps(rows, indent=1)
        args.out.write_text(text + "\n") if args.out else print(text)
        return 0
    if args.seconds is None and args.executions is None:
        parser.error("give --seconds and/or --executions (or --bombs)")
    summaries, failed = {}, False
    for reader in (READERS if args.reader == "all" else (args.reader,)):
        t0 = time.monotonic()
        seeds = build_seeds(reader)
        print(f"{reader} seeds ({time.monotonic() - t0:.1f} s): "
              + ", ".join(f"{k} {len(v)} B" for k, v in seeds.items()), file=sys.stderr, flush=True)

        def report(r: CampaignResult, reader=reader) -> None:
            print(f"[{reader} {r.duration_seconds:7.0f} s] {r.executions} execs, {r.rejected} rejected, {r.ok} ok, "
                  f"{len(r.crashes)} crashes, {len(r.hangs)} hangs, peak RSS {r.peak_rss_mib:.0f} MiB",
                  file=sys.stderr, flush=True)

        result = run_campaign(reader, seeds, executions=args.executions, seconds=args.seconds, seed=args.seed,
                              timeout=args.timeout, memory_limit_mb=args.memory_limit_mb,
                              crash_dir=args.crash_dir, progress=report)
        report(result)
        summary = result.summary()
        summary["hang_threshold_seconds"] = args.timeout
        summary["memory_limit_mb"] = args.memory_limit_mb or MEMORY_LIMIT_MB[reader]
        summaries[reader] = summary
        failed |= bool(result.crashes or result.hangs)
    summaries["command"] = " ".join([Path(sys.executable).name, "bench/fuzz_archives.py"] + sys.argv[1:])
    text = json.dumps(summaries, indent=1, default=str)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    else:
        print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
