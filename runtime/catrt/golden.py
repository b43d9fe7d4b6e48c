"""Golden files for the on-device check: seeded int8 inputs and, for every catrt profile, the
outputs that profile's interpreter build must produce for them (MODEL.golden.npz).

    arrays = make_golden(model_bytes, n=16)          # written by `catdeploy export --golden N`
    golden = read_golden(npz_bytes, model_bytes)      # validated; used by `python -m catrt check`

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

from .errors import CatrtError
from .interpreter import Interpreter, first_accepting_interpreter
from .profiles import PROFILES, get_profile

FORMAT = "catrt-golden/1"
MAX_SAMPLES = 4096


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


def read_golden(data: bytes, model_bytes: Optional[bytes] = None) -> Golden:
    """Parse and validate golden bytes (untrusted: no pickles, every key, dtype and shape checked;
    with model_bytes, the file must be for that model). Raises CatrtError."""
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
        files = set(npz.files)
    except Exception as exc:
        raise _bad(f"not a readable .npz ({type(exc).__name__}: {exc})") from None
    with npz:
        if "meta" not in files:
            raise _bad("no 'meta' entry")
        try:
            meta = json.loads(str(npz["meta"][()]))
        except Exception:
            raise _bad("'meta' is not a JSON string") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise _bad(f"format {meta.get('format') if isinstance(meta, dict) else None!r}, "
                       f"expected {FORMAT!r}")
        n = meta.get("n")
        names_in, names_out = meta.get("inputs"), meta.get("outputs")
        profiles = meta.get("profiles")
        if (not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES or not isinstance(names_in, list)
                or not isinstance(names_out, list) or not isinstance(profiles, dict)
                or not names_out):
            raise _bad("'meta' lacks n, inputs, outputs or profiles")
        if model_bytes is not None and meta.get("model_sha256") != sha256(model_bytes):
            raise _bad("it was made for another model (sha256 differs)")

        def load(key: str) -> np.ndarray:
            if key not in files:
                raise _bad(f"missing entry {key!r}")
            try:
                value = npz[key]
            except Exception as exc:
                raise _bad(f"entry {key!r} is unreadable ({type(exc).__name__})") from None
            if value.dtype.kind not in "iuf" or value.ndim < 1 or value.shape[0] != n:
                raise _bad(f"entry {key!r} has dtype {value.dtype} and shape {value.shape}; "
                           f"expected numbers with {n} rows")
            return value

        inputs = tuple(load(f"input_{i}") for i in range(len(names_in)))
        expected = {}
        for name in profiles:
            expected[str(name)] = tuple(load(f"expected__{name}__{j}") for j in range(len(names_out)))
    return Golden(meta=meta, inputs=inputs, expected=expected)
