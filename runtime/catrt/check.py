"""`python -m catrt check MODEL.tflite MODEL.golden.npz`: the on-device bit-exactness check.

Runs the TFLite interpreter installed on this machine (tflite-runtime, ai-edge-litert or
tensorflow) under each op resolver on the golden file's seeded inputs, one sample per invoke,
and compares every output with what catrt computed for that interpreter build, resolver and CPU
(catrt.profiles.profile_for). Dependencies: NumPy and the interpreter; catrt itself only to read
the golden file and choose the profile (it never runs the model here).

Exit status: 0 every checked output is bit-exact; 1 an output differs (the line names it);
2 bad input (unreadable or mismatched files, unknown option, no interpreter, no profile for an
explicitly requested resolver). Pairs without a catrt profile under `--resolver all` are listed
as not checked; at least one pair must be checked.
"""
from __future__ import annotations

import argparse
import importlib.util
import platform
import subprocess
import sys
from typing import Optional, Sequence

import numpy as np

from .errors import CatrtError
from .golden import Golden, read_golden
from .profiles import host_arch, profile_for

PACKAGES = {"tflite-runtime": "tflite_runtime", "litert": "ai_edge_litert", "tensorflow": "tensorflow"}
_ALIASES = {"tflite_runtime": "tflite-runtime", "ai_edge_litert": "litert", "ai-edge-litert": "litert",
            "tf": "tensorflow"}
RESOLVERS = {"ref": "BUILTIN_REF", "builtin": "BUILTIN",
             "nodelegate": "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "auto": "AUTO"}
EQUAL, DIFFERS, BAD_INPUT = 0, 1, 2


class BadInput(Exception):
    pass


def installed() -> list:
    return [name for name, pkg in PACKAGES.items() if importlib.util.find_spec(pkg) is not None]


def _load(name: str):
    """(Interpreter class, OpResolverType, version) of one interpreter package."""
    import warnings

    warnings.filterwarnings("ignore")
    if name == "tflite-runtime":
        import tflite_runtime
        from tflite_runtime.interpreter import Interpreter, OpResolverType
        return Interpreter, OpResolverType, tflite_runtime.__version__
    if name == "litert":
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        return Interpreter, OpResolverType, ai_edge_litert.__version__
    import tensorflow as tf
    return tf.lite.Interpreter, tf.lite.experimental.OpResolverType, tf.__version__


def _run(cls, enum, resolver: str, model: bytes, golden: Golden) -> list:
    """Outputs (one [n, ...] array per output) of the interpreter, one sample per invoke."""
    try:
        it = cls(model_content=model, experimental_op_resolver_type=getattr(enum, RESOLVERS[resolver]))
        it.allocate_tensors()
    except Exception as exc:
        raise RuntimeError(f"cannot load the model: {' '.join(str(exc).split())}") from None
    details_in = it.get_input_details()
    details_out = it.get_output_details()
    if len(details_in) != len(golden.inputs) or len(details_out) != len(golden.meta["outputs"]):
        raise BadInput(f"the model has {len(details_in)} inputs / {len(details_out)} outputs, the golden "
                       f"file {len(golden.inputs)} / {len(golden.meta['outputs'])}")
    for d, x in zip(details_in, golden.inputs):
        if np.dtype(d["dtype"]) != x.dtype or tuple(d["shape"][1:]) != x.shape[1:] or d["shape"][0] != 1:
            raise BadInput(f"input {d['name']!r} is {np.dtype(d['dtype'])} {tuple(d['shape'])}, the golden "
                           f"file has {x.dtype} rows of {x.shape[1:]}")
    outs: list = [[] for _ in details_out]
    for i in range(golden.n):
        for d, x in zip(details_in, golden.inputs):
            it.set_tensor(d["index"], np.ascontiguousarray(x[i:i + 1]))
        it.invoke()
        for j, d in enumerate(details_out):
            outs[j].append(it.get_tensor(d["index"]).copy())
    return [np.concatenate(o) for o in outs]


def _compare(name: str, j: int, got: np.ndarray, expected: np.ndarray) -> tuple[bool, str]:
    if got.shape != expected.shape or got.dtype != expected.dtype:
        return False, (f"output {name!r} ({j}): DIFFERS, {got.dtype}{list(got.shape)} given, "
                       f"{expected.dtype}{list(expected.shape)} expected")
    if got.dtype.kind == "f":
        bad = ~((got == expected) | (np.isnan(got) & np.isnan(expected)))
    else:
        bad = got != expected
    rows = int(np.count_nonzero(bad.reshape(len(bad), -1).any(axis=1)))
    if not rows:
        return True, f"output {name!r} ({j}): bit-exact on {len(got)} of {len(got)} inputs"
    first = tuple(int(v) for v in np.argwhere(bad)[0])
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))[bad]
    return False, (f"output {name!r} ({j}): DIFFERS on {rows} of {len(got)} inputs "
                   f"({int(bad.sum())} elements, max |diff| {diff.max():g}; first: input {first[0]} "
                   f"index {list(first[1:])} expected {expected[first].item()} got {got[first].item()})")


def check_one(interpreter: str, resolvers: Sequence[str], model: bytes, golden: Golden,
              explicit: bool, out=print) -> tuple[int, int]:
    """Check one interpreter package in this process; returns (status, pairs checked)."""
    cls, enum, version = _load(interpreter)
    arch = host_arch()
    status, checked = EQUAL, 0
    for resolver in resolvers:
        label = f"{interpreter} {version} {resolver} ({arch})"
        try:
            profile = profile_for(interpreter, resolver, version, arch)
        except CatrtError as exc:
            if explicit:
                raise BadInput(f"{label}: {exc}") from None
            out(f"{label}: not checked (catrt has no arithmetic profile for it)")
            continue
        if profile.name not in golden.expected:
            message = f"{label}: the golden file has no outputs for profile {profile.name}"
            if explicit:
                raise BadInput(message)
            out(f"{message}: not checked")
            continue
        try:
            got = _run(cls, enum, resolver, model, golden)
        except RuntimeError as exc:
            out(f"{label} profile {profile.name}: {exc}")
            status = max(status, DIFFERS)
            continue
        checked += 1
        for j, (name, expected) in enumerate(zip(golden.meta["outputs"], golden.expected[profile.name])):
            ok, line = _compare(name, j, got[j], expected)
            out(f"{label} profile {profile.name}: {line}")
            if not ok:
                status = max(status, DIFFERS)
    return status, checked


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m catrt check", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the .tflite file")
    parser.add_argument("golden", help="its MODEL.golden.npz (catdeploy export --golden N)")
    parser.add_argument("--interpreter", default="all",
                        help="tflite-runtime, litert, tensorflow or all installed (default)")
    parser.add_argument("--resolver", default="all", help="ref, builtin, nodelegate, auto or all (default)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return BAD_INPUT if exc.code else EQUAL
    try:
        resolvers = list(RESOLVERS) if args.resolver == "all" else [args.resolver]
        for r in resolvers:
            if r not in RESOLVERS:
                raise BadInput(f"--resolver {r!r} is not one of {', '.join(RESOLVERS)}, all")
        present = installed()
        if args.interpreter == "all":
            chosen = present
        else:
            name = _ALIASES.get(args.interpreter, args.interpreter)
            if name not in PACKAGES:
                raise BadInput(f"--interpreter {args.interpreter!r} is not one of {', '.join(PACKAGES)}, all")
            if name not in present:
                raise BadInput(f"--interpreter {name}: package {PACKAGES[name]} is not installed")
            chosen = [name]
        if not chosen:
            raise BadInput("no TFLite interpreter is installed (pip install tflite-runtime or ai-edge-litert)")
        try:
            with open(args.model, "rb") as f:
                model = f.read()
            # read from the file, member by member under catrt.archive's limits (never whole)
            golden = read_golden(args.golden, model)
        except OSError as exc:
            raise BadInput(f"{exc.filename or args.golden}: {exc.strerror}") from None
        except (CatrtError, MemoryError) as exc:
            raise BadInput(f"{args.golden}: {exc if isinstance(exc, CatrtError) else 'out of memory'}") from None
        print(f"{args.model}: {golden.n} golden inputs, outputs {golden.meta['outputs']}, "
              f"{platform.machine()}")
        explicit = args.resolver != "all"
        if len(chosen) == 1:
            status, checked = check_one(chosen[0], resolvers, model, golden, explicit)
            if not checked and status == EQUAL:
                raise BadInput("nothing was checked (no catrt profile for any requested pair)")
            return status
        # TensorFlow and LiteRT bundle clashing TFLite builds: one process per interpreter.
        status = EQUAL
        for name in chosen:
            proc = subprocess.run([sys.executable, "-m", "catrt", "check", args.model, args.golden,
                                   "--interpreter", name, "--resolver", args.resolver],
                                  capture_output=True, text=True)
            lines = proc.stdout.splitlines()[1:]   # drop the repeated header
            print("\n".join(lines)) if lines else None
            if proc.returncode == BAD_INPUT:
                print(proc.stderr.strip(), file=sys.stderr)
            status = max(status, proc.returncode)
        return status
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
