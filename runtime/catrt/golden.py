"""Golden files for the on-device check: seeded int8 inputs and, for every catrt profile, the
outputs that profile's interpreter build must produce for them (MODEL.golden.npz).

    arrays = make_golden(model_bytes, n=16)          # written by `catdeploy export --golden N`
    golden = read_golden(npz_bytes_or_path, model_bytes)   # validated, bounded (catrt.archive)

Format "catrt-golden/1", an .npz (zip of .npy, no pickles, no timestamps):

| key | meaning |
|---|---|
| `meta` | 0-d str, JSON: format, model_sha256, seed, n, inputs / outputs (tensor names in order), profiles ({name: {interpreter, version, resolver, arch}}) |
| `input_<i>` | [n, *shape[1:]] the seeded values fed to input i, one sample per invoke (batch of the file) |
| `expected__<profile>__<j>` | [n, *shape[1:]] output j of catrt with that profile, one sample per invoke |

Every sample is run on its own (the file's batch of 1), so element counts, and with them the
vector/scalar splits of the optimized kernels, are those a device sees when it runs one image.
NumPy only, like the rest of catrt.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .archive import MiB, ArchiveLimits, Source, read_directory, read_npz
from .errors import CatrtError
from .interpreter import Interpreter, first_accepting_interpreter
from .profiles import PROFILES, get_profile

FORMAT = "catrt-golden/1"
MAX_SAMPLES = 4096

# What a golden file may hold (docs/RELIABILITY.md). It is read on the device, a Raspberry Pi with
# 1-4 GB: at most 512 MiB of arrays in all, which holds 3,500 seeded samples of a 224x224x3 int8
# input (150 KiB each) or the full MAX_SAMPLES = 4,096 at up to 128x128x3 (one array, 192 MiB); the
# members are 'meta', one input_<i> per model input and one expected__<profile>__<j> per profile
# and output (about 20 profiles today; 4,096 covers 200 outputs of 20 profiles). 'meta' is a few
# KiB of JSON (the tensor and profile names).
GOLDEN_LIMITS = ArchiveLimits(label="golden file", max_members=4096, max_member_bytes=512 * MiB,
                              max_total_bytes=512 * MiB, max_array_elements=1 << 29,
                              max_array_bytes=512 * MiB)
MAX_META_BYTES = 4 * MiB


@dataclass(frozen=True)
class Golden:
    """A validated golden file."""

    meta: dict
    inputs: tuple            # one array per model input, [n, ...]
    expected: dict           # profile name -> tuple of arrays, one per output, [n, ...]

    @property
    def n(self) -> int:
        return int(self.meta["n"])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seeded_inputs(interp: Interpreter, n: int, seed: int) -> list:
    """n samples per input drawn uniformly from the input's integer range (int8: -128..127)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for d in interp.get_input_details():
        dtype = np.dtype(d.dtype)
        if not np.issubdtype(dtype, np.integer):
            raise CatrtError(f"golden: input {d.name!r} is {d.dtype}; golden files hold integer inputs")
        info = np.iinfo(dtype)
        shape = (n,) + tuple(int(s) for s in d.shape[1:])
        arrays.append(rng.integers(info.min, int(info.max) + 1, size=shape).astype(dtype))
    return arrays


def run_samples(interp: Interpreter, inputs: Sequence[np.ndarray]) -> list:
    """Outputs of running each sample on its own (a batch of 1), stacked: one array per output."""
    names = [d.name for d in interp.get_output_details()]
    per_sample = [interp.run([x[i:i + 1] for x in inputs]) for i in range(len(inputs[0]))]
    return [np.concatenate([out[name] for out in per_sample]) for name in names]


def make_golden(model_bytes: bytes, n: int = 16, seed: int = 0,
                profiles: Optional[Sequence[str]] = None) -> dict:
    """The arrays of MODEL.golden.npz for n seeded samples and the given profiles (default all)."""
    if not 1 <= int(n) <= MAX_SAMPLES:
        raise CatrtError(f"golden: n must be in 1..{MAX_SAMPLES}, got {n}")
    chosen = [get_profile(p) for p in (profiles or list(PROFILES))]
    try:
        base = first_accepting_interpreter(model_bytes, chosen)
    except CatrtError as exc:
        raise CatrtError(f"golden: none of the chosen profiles accepts the model ({exc})") from None
    inputs = seeded_inputs(base, int(n), int(seed))
    arrays = {f"input_{i}": x for i, x in enumerate(inputs)}
    meta_profiles = {}
    for profile in chosen:
        try:
            interp = base if profile is base.profile else Interpreter(model_bytes, profile)
        except CatrtError:
            continue    # this build refuses the model (e.g. INT4 in tflite-runtime 2.14's ref)
        for j, y in enumerate(run_samples(interp, inputs)):
            arrays[f"expected__{profile.name}__{j}"] = y
        meta_profiles[profile.name] = {"interpreter": profile.interpreter,
                                       "version": profile.interpreter_version,
                                       "resolver": profile.resolver, "arch": profile.arch}
    meta = {"format": FORMAT, "model_sha256": sha256(model_bytes), "seed": int(seed), "n": int(n),
            "inputs": [d.name for d in base.get_input_details()],
            "outputs": [d.name for d in base.get_output_details()], "profiles": meta_profiles}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return arrays


def npz_bytes(arrays: dict) -> bytes:
    """An .npz of `arrays` without timestamps (same arrays, same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
    return buffer.getvalue()


def _bad(message: str) -> CatrtError:
    return CatrtError(f"golden file: {message}")


def read_golden(source: Source, model_bytes: Optional[bytes] = None) -> Golden:
    """Parse and validate a golden file, given as bytes or a path (untrusted: read under
    GOLDEN_LIMITS by catrt.archive, no pickles, every key, dtype and shape checked; with
    model_bytes, the file must be for that model). Raises CatrtError."""
    try:
        members = read_directory(source, GOLDEN_LIMITS).by_name()
    except OSError:
        raise
    except MemoryError:
        raise _bad("out of memory reading the zip directory") from None
    if "meta.npy" not in members:
        raise _bad("no 'meta' entry")
    if members["meta.npy"].size > MAX_META_BYTES:
        raise _bad(f"'meta' declares {members['meta.npy'].size:,} bytes, over the limit of "
                   f"{MAX_META_BYTES:,} (meta size)")
    meta_array = read_npz(source, GOLDEN_LIMITS, ["meta"])["meta"]
    try:
        if meta_array.dtype.kind != "U" or meta_array.ndim != 0:
            raise ValueError
        meta = json.loads(str(meta_array[()]))
    except Exception:
        raise _bad("'meta' is not a JSON string") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _bad(f"format {meta.get('format') if isinstance(meta, dict) else None!r}, "
                   f"expected {FORMAT!r}")
    n = meta.get("n")
    names_in, names_out = meta.get("inputs"), meta.get("outputs")
    profiles = meta.get("profiles")
    if (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_SAMPLES
            or not isinstance(names_in, list) or not isinstance(names_out, list)
            or not isinstance(profiles, dict) or not names_out):
        raise _bad("'meta' lacks n, inputs, outputs or profiles")
    if model_bytes is not None and meta.get("model_sha256") != sha256(model_bytes):
        raise _bad("it was made for another model (sha256 differs)")
    input_keys = [f"input_{i}" for i in range(len(names_in))]
    expected_keys = {str(name): [f"expected__{name}__{j}" for j in range(len(names_out))] for name in profiles}
    wanted = input_keys + [key for keys in expected_keys.values() for key in keys]
    for key in wanted:              # before reading: the entries named by meta must all be there
        if f"{key}.npy" not in members:
            raise _bad(f"missing entry {key!r}")
    try:
        arrays = read_npz(source, GOLDEN_LIMITS, wanted)
    except MemoryError:
        raise _bad("out of memory reading the arrays") from None

    def load(key: str) -> np.ndarray:
        value = arrays[key]
        if value.dtype.kind not in "iuf" or value.ndim < 1 or value.shape[0] != n:
            raise _bad(f"entry {key!r} has dtype {value.dtype} and shape {value.shape}; "
                       f"expected numbers with {n} rows")
        return value

    inputs = tuple(load(key) for key in input_keys)
    expected = {name: tuple(load(key) for key in keys) for name, keys in expected_keys.items()}
    return Golden(meta=meta, inputs=inputs, expected=expected)
