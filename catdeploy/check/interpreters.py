"""Run .tflite bytes on the installed TFLite interpreters, each in its own subprocess.

Interpreters: "tflite-runtime" (tflite_runtime), "litert" (ai_edge_litert), "tensorflow"
(tf.lite.Interpreter). Resolvers: "ref" (BUILTIN_REF), "builtin" (BUILTIN), "nodelegate"
(BUILTIN_WITHOUT_DEFAULT_DELEGATES), "auto" (AUTO).

TensorFlow and LiteRT bundle different TFLite builds that can clash in one process, so every
interpreter runs in `python -m catdeploy.check.interpreters worker ...`; requests and results travel
as .npz files (no pickle) in a temporary directory. One worker serves any number of requests;
if a kernel crashes the worker (a segfault), that request is reported as crashed and a new worker
carries on with the next one.

With keep_all, the interpreter is built with experimental_preserve_all_tensors=True and every
non-constant tensor is returned by name. (With that flag the XNNPACK delegate of AUTO/BUILTIN
takes each node as its own partition, so every tensor is materialised; should a delegate ever
hide tensors inside a partition, they are listed under "skipped" instead of returned.)
Inputs with more rows than the file's batch are run by resizing the inputs
(resize_tensor_input + allocate_tensors) to `batch` rows (default: all rows at once); if the
model cannot be resized (e.g. a RESHAPE with a fixed batch) it falls back to the file's batch.
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from catdeploy.errors import UserError

INTERPRETERS = ("tflite-runtime", "litert", "tensorflow")
RESOLVERS = ("ref", "builtin", "nodelegate", "auto")
_TOP_MODULE = {"tflite-runtime": "tflite_runtime", "litert": "ai_edge_litert", "tensorflow": "tensorflow"}
_SIGNALS = {int(sig) for sig in signal.Signals}
_RESOLVER_ENUM = {
    "ref": "BUILTIN_REF", "builtin": "BUILTIN",
    "nodelegate": "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "auto": "AUTO",
}


class InterpreterError(UserError):
    """An interpreter could not load or run a model (the message names interpreter and resolver)."""


@dataclass(frozen=True)
class RunRequest:
    """One model run: the inputs' first axis is the batch (rows), see run_interpreter."""

    model: bytes
    inputs: tuple[np.ndarray, ...]
    resolver: str = "ref"
    keep_all: bool = True
    batch: int | None = None
    model_name: str = "model.tflite"
    num_threads: int | None = None
    extra: dict = field(default_factory=dict, compare=False)   # caller's bookkeeping, untouched


def available_interpreters() -> list[str]:
    """Names of the interpreters whose package is installed (checked without importing them)."""
    return [name for name in INTERPRETERS if importlib.util.find_spec(_TOP_MODULE[name]) is not None]


def run_interpreter(model_bytes: bytes, inputs: Sequence[np.ndarray], interpreter: str,
                    resolver: str = "ref", keep_all: bool = True, batch: int | None = None, *,
                    model_name: str = "model.tflite", num_threads: int | None = None,
                    timeout: float | None = None) -> dict[str, Any]:
    """Run one model once; returns {"outputs": [...], "tensors": {name: array}, "version": str,
    "interpreter", "resolver", "skipped": [names]}. Raises InterpreterError if it cannot load or run."""
    request = RunRequest(bytes(model_bytes), tuple(np.asarray(x) for x in inputs), resolver,
                         keep_all, batch, model_name, num_threads)
    result = run_requests(interpreter, [request], timeout=timeout)[0]
    if result["error"]:
        raise InterpreterError(result["error"])
    return result


@dataclass(frozen=True)
class Launcher:
    """How to start a worker elsewhere than in this Python: `python` is the command prefix that
    replaces sys.executable (e.g. qemu-aarch64-static -L ROOT ROOT/usr/bin/python3.11, see
    ../shared/docs/arm-emulation.md), `pythonpath` the folders the worker imports from (this
    checkout for catdeploy.check.interpreters, the unpacked wheels), `packages` the interpreters there."""

    python: tuple[str, ...]
    pythonpath: tuple[str, ...]
    packages: tuple[str, ...] = INTERPRETERS
    arch: str = "aarch64"


def run_requests(interpreter: str, requests: Sequence[RunRequest],
                 timeout: float | None = None, launcher: Launcher | None = None) -> list[dict[str, Any]]:
    """Run many requests in one worker process of `interpreter` (started by `launcher`, default
    this Python). Each result has the keys of run_interpreter plus "error" (None, or the one-line
    message of a load or run failure)."""
    if launcher is None:
        _check_names(interpreter, [r.resolver for r in requests])
    elif interpreter not in launcher.packages:
        raise UserError(f"interpreter {interpreter!r} is not in the launcher's packages {launcher.packages}")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="catdeploy-interp-") as tmp:
        request_path = os.path.join(tmp, "request.npz")
        _write_request(request_path, interpreter, requests)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
        python = [sys.executable]
        if launcher is not None:
            python = list(launcher.python)
            env["PYTHONPATH"] = os.pathsep.join(launcher.pythonpath)
            env.pop("PYTHONHOME", None)
        while len(results) < len(requests):
            start = len(results)
            command = [*python, "-m", "catdeploy.check.interpreters", "worker", interpreter,
                       request_path, tmp, str(start)]
            try:
                proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise InterpreterError(f"{interpreter} worker timed out after {timeout} s") from None
            for r in range(start, len(requests)):
                path = os.path.join(tmp, f"result_{r}.npz")
                if not os.path.exists(path):
                    break
                results.append(_read_result(path, interpreter, requests[r]))
            if len(results) < len(requests):
                if proc.returncode == 0 or len(results) == start and not _started(tmp, start):
                    tail = [line for line in (proc.stderr or "").strip().splitlines() if line.strip()]
                    reason = tail[-1] if tail else "no message"
                    raise InterpreterError(f"{interpreter} worker failed (exit code {proc.returncode}): {reason}")
                # the worker died inside one request (e.g. a segfault in a kernel): report it, go on
                results.append(_crash_result(interpreter, requests, len(results), proc.returncode, tmp))
    return results


def run_batches(model_bytes: bytes, prepare, x: np.ndarray, interpreter: str, resolver: str = "ref",
                batch_size: int = 256) -> tuple[np.ndarray, str]:
    """(first output over all rows of x, interpreter version): `prepare(model_bytes, rows)` makes
    each batch's model input; all batches run in one worker process of `interpreter`."""
    requests = [RunRequest(bytes(model_bytes), (np.asarray(prepare(model_bytes, x[i:i + batch_size])),),
                           resolver, keep_all=False)
                for i in range(0, len(x), batch_size)]
    results = run_requests(interpreter, requests)
    for result in results:
        if result["error"]:
            raise InterpreterError(result["error"])
    return np.concatenate([np.asarray(r["outputs"][0]) for r in results]), results[0]["version"]


def _started(tmp: str, index: int) -> bool:
    return os.path.exists(os.path.join(tmp, f"started_{index}.json"))


def _crash_result(interpreter: str, requests: Sequence[RunRequest], index: int, returncode: int,
                  tmp: str) -> dict[str, Any]:
    request = requests[index]
    with open(os.path.join(tmp, f"started_{index}.json")) as f:
        version = json.load(f)["version"]
    if returncode < 0 and -returncode in _SIGNALS:
        how = f"signal {signal.Signals(-returncode).name}"
    else:
        how = f"exit code {returncode}"
    error = f"{interpreter} {version} ({request.resolver}) crashed ({how}) running {request.model_name}"
    return {"outputs": [], "tensors": {}, "version": version, "interpreter": interpreter,
            "resolver": request.resolver, "skipped": [], "error": error}


def _check_names(interpreter: str, resolvers: Sequence[str]) -> None:
    if interpreter not in INTERPRETERS:
        raise UserError(f"unknown interpreter {interpreter!r}; choose from {', '.join(INTERPRETERS)}")
    for resolver in resolvers:
        if resolver not in RESOLVERS:
            raise UserError(f"unknown resolver {resolver!r}; choose from {', '.join(RESOLVERS)}")
    if importlib.util.find_spec(_TOP_MODULE[interpreter]) is None:
        raise UserError(f"interpreter {interpreter!r} is not installed (package {_TOP_MODULE[interpreter]})")


def activation_tensors(model_bytes: bytes) -> list[tuple[int, str]]:
    """(index, name) of every tensor of subgraph 0 without constant data, in file order."""
    from catdeploy.export.tflite.schema import schema

    fb = schema()
    try:
        model = fb.Model.GetRootAs(model_bytes, 0)
        graph = model.Subgraphs(0)
        found = []
        for i in range(graph.TensorsLength()):
            tensor = graph.Tensors(i)
            buffer = model.Buffers(tensor.Buffer()) if tensor.Buffer() < model.BuffersLength() else None
            constant = buffer is not None and tensor.Buffer() != 0 and (buffer.DataLength() > 0 or buffer.Size() > 0)
            if not constant:
                found.append((i, (tensor.Name() or b"").decode("utf-8", "replace")))
        return found
    except Exception as exc:  # a malformed file: let the interpreter report it
        raise UserError(f"cannot parse the model's tensor table: {exc}") from None


# ----------------------------------------------------------------------------- request files

def _write_request(path: str, interpreter: str, requests: Sequence[RunRequest]) -> None:
    arrays: dict[str, np.ndarray] = {}
    models: dict[bytes, int] = {}
    entries = []
    for r, req in enumerate(requests):
        if req.model not in models:
            models[req.model] = len(models)
            arrays[f"model_{models[req.model]}"] = np.frombuffer(req.model, dtype=np.uint8)
        for i, x in enumerate(req.inputs):
            arrays[f"r{r}_in{i}"] = np.ascontiguousarray(x)
        if req.batch is not None and req.batch < 1:
            raise UserError(f"batch must be >= 1, got {req.batch}")
        try:
            read = activation_tensors(req.model) if req.keep_all else []
        except UserError:
            read = None   # no schema module or not a flatbuffer: the worker reads every tensor
        entries.append({
            "model": models[req.model], "n_inputs": len(req.inputs), "resolver": req.resolver,
            "keep_all": req.keep_all, "batch": req.batch, "model_name": req.model_name,
            "num_threads": req.num_threads, "read": read,
        })
    arrays["config"] = np.array(json.dumps({"interpreter": interpreter, "requests": entries}))
    np.savez(path, **arrays)


def _read_result(path: str, interpreter: str, request: RunRequest) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        return {
            "outputs": [data[key] for key in meta["outputs"]],
            "tensors": {name: data[key] for name, key in meta["tensors"]},
            "version": meta["version"],
            "interpreter": interpreter,
            "resolver": request.resolver,
            "skipped": meta["skipped"],
            "error": meta["error"],
        }


# ----------------------------------------------------------------------------- worker side

def _load_interpreter_module(name: str):
    """(Interpreter class, OpResolverType enum, version string) of one installed package."""
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


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines) if lines else type(exc).__name__


class _RunFailed(Exception):
    pass


def _build(cls, enum, entry, model: bytes, keep_all: bool):
    return cls(model_content=model, experimental_op_resolver_type=getattr(enum, _RESOLVER_ENUM[entry["resolver"]]),
               experimental_preserve_all_tensors=keep_all, num_threads=entry["num_threads"])


def _materialised(it) -> set[int] | None:
    """Tensor indices read or written by the nodes that actually run (a DELEGATE node hides the
    tensors inside its partition); None if the interpreter does not tell."""
    try:
        seen = set()
        for op in it._get_ops_details():
            seen.update(int(i) for i in op["inputs"] if i >= 0)
            seen.update(int(i) for i in op["outputs"] if i >= 0)
        return seen
    except Exception:
        return None


def _serve(entry: dict, model: bytes, inputs: list[np.ndarray], cls, enum, label: str):
    """Run one request; returns (outputs, {name: array}, skipped names)."""
    keep_all = bool(entry["keep_all"])
    try:
        it = _build(cls, enum, entry, model, keep_all)
        it.allocate_tensors()
    except Exception as exc:
        raise _RunFailed(f"{label} cannot load {entry['model_name']}: {_one_line(exc)}") from None
    details = it.get_input_details()
    if not inputs or any(x.ndim and x.shape[0] == 0 for x in inputs):
        raise _RunFailed(f"{label}: no input rows given for {entry['model_name']}")
    if len(details) != len(inputs):
        raise _RunFailed(f"{label}: {entry['model_name']} has {len(details)} inputs, {len(inputs)} were given")
    for d, x in zip(details, inputs):
        if np.dtype(d["dtype"]) != x.dtype:
            raise _RunFailed(f"{label}: input '{d['name']}' wants {np.dtype(d['dtype'])}, got {x.dtype}")
        if x.ndim != len(d["shape"]) or tuple(x.shape[1:]) != tuple(int(s) for s in d["shape"][1:]):
            raise _RunFailed(f"{label}: input '{d['name']}' has shape {tuple(d['shape'])}, got {x.shape}")
    rows = inputs[0].shape[0] if inputs and inputs[0].ndim else 1
    if any((x.shape[0] if x.ndim else 1) != rows for x in inputs):
        raise _RunFailed(f"{label}: inputs disagree on the number of rows")
    file_rows = int(details[0]["shape"][0]) if len(details[0]["shape"]) else 1

    runners = {file_rows: it}

    def runner_for(n: int):
        """The interpreter with inputs of n rows, or None if the model cannot take n rows."""
        if n not in runners:
            try:
                other = _build(cls, enum, entry, model, keep_all)
                for d, x in zip(other.get_input_details(), inputs):
                    other.resize_tensor_input(d["index"], [n, *x.shape[1:]], strict=False)
                other.allocate_tensors()
                runners[n] = other
            except Exception:
                runners[n] = None
        return runners[n]

    if not len(details[0]["shape"]):
        sizes = [rows]
    else:
        step = min(entry["batch"] or rows, rows)
        sizes = [step] * (rows // step) + ([rows % step] if rows % step else [])
        if any(runner_for(n) is None for n in set(sizes)):
            if rows % file_rows:
                raise _RunFailed(f"{label}: {entry['model_name']} cannot be resized to batch {step} and "
                                 f"{rows} rows are not a multiple of its batch {file_rows}")
            sizes = [file_rows] * (rows // file_rows)

    if entry["read"] is None:
        names = {d["index"]: d["name"] for d in it.get_tensor_details()} if keep_all else {}
    else:
        names = dict(entry["read"])
    out_parts: list[list[np.ndarray]] = []
    tensor_parts: dict[int, list[np.ndarray]] = {}
    skipped: list[str] = []
    start = 0
    for n in sizes:
        runner = runners.get(n, it)
        try:
            for d, x in zip(runner.get_input_details(), inputs):
                runner.set_tensor(d["index"], np.ascontiguousarray(x[start:start + n]) if x.ndim else x)
            runner.invoke()
        except Exception as exc:
            raise _RunFailed(f"{label} failed to run {entry['model_name']}: {_one_line(exc)}") from None
        out_parts.append([runner.get_tensor(d["index"]).copy() for d in runner.get_output_details()])
        if keep_all:
            live = _materialised(runner)
            for index in names:
                if live is not None and index not in live:
                    if start == 0:
                        skipped.append(names[index])
                    continue
                tensor_parts.setdefault(index, []).append(runner.get_tensor(index).copy())
        start += n

    def join(parts: list[np.ndarray]) -> np.ndarray:
        return parts[0] if len(parts) == 1 or parts[0].ndim == 0 else np.concatenate(parts, axis=0)

    outputs = [join([part[i] for part in out_parts]) for i in range(len(out_parts[0]))]
    seen_names: set[str] = set()
    tensors: dict[str, np.ndarray] = {}
    for index, parts in tensor_parts.items():
        name = names[index] if names[index] not in seen_names else f"{names[index]}#{index}"
        seen_names.add(name)
        tensors[name] = join(parts)
    return outputs, tensors, skipped


def worker_main(interpreter: str, request_path: str, result_dir: str, start: int = 0) -> None:
    """Serve requests start, start+1, ... of request_path; write result_dir/result_<r>.npz each.

    Before each request it writes result_dir/started_<r>.json, so that the parent can tell which
    request a crash (a segfault inside a TFLite kernel) happened in and restart after it."""
    with np.load(request_path, allow_pickle=False) as data:
        config = json.loads(str(data["config"]))
        arrays = {key: data[key] for key in data.files if key != "config"}
    cls, enum, version = _load_interpreter_module(interpreter)
    for r in range(start, len(config["requests"])):
        entry = config["requests"][r]
        with open(os.path.join(result_dir, f"started_{r}.json"), "w") as f:
            json.dump({"version": version}, f)
        label = f"{interpreter} {version} ({entry['resolver']})"
        model = arrays[f"model_{entry['model']}"].tobytes()
        inputs = [arrays[f"r{r}_in{i}"] for i in range(entry["n_inputs"])]
        meta = {"version": version, "outputs": [], "tensors": [], "skipped": [], "error": None}
        out_arrays: dict[str, np.ndarray] = {}
        try:
            outputs, tensors, skipped = _serve(entry, model, inputs, cls, enum, label)
        except _RunFailed as exc:
            meta["error"] = str(exc)
        else:
            for i, y in enumerate(outputs):
                out_arrays[f"out{i}"] = y
                meta["outputs"].append(f"out{i}")
            for j, (name, y) in enumerate(tensors.items()):
                out_arrays[f"t{j}"] = y
                meta["tensors"].append([name, f"t{j}"])
            meta["skipped"] = skipped
        out_arrays["meta"] = np.array(json.dumps(meta))
        partial = os.path.join(result_dir, f"partial_{r}.npz")
        np.savez(partial, **out_arrays)
        os.replace(partial, os.path.join(result_dir, f"result_{r}.npz"))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (4, 5) or args[0] != "worker":
        print("usage: python -m catdeploy.check.interpreters worker INTERPRETER REQUEST.npz RESULT_DIR [START]",
              file=sys.stderr)
        return 2
    worker_main(args[1], args[2], args[3], int(args[4]) if len(args) == 5 else 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def tflite_engine(interpreter: str, resolver: str):
    """The evaluator's Engine that runs `interpreter` itself with `resolver` (catdeploy.integer)."""
    from catdeploy.integer.evaluate import Engine

    def run(model_bytes: bytes, x, interpreter_name: str, resolver_name: str, batch_size: int):
        return run_batches(model_bytes, _input_maker(model_bytes), x, interpreter_name, resolver_name, batch_size)

    return Engine(interpreter, resolver, run_interpreter=run)


def run_tflite(model_bytes: bytes, x_nchw: np.ndarray, interpreter: str = "tflite-runtime", resolver: str = "ref",
               batch_size: int = 256) -> np.ndarray:
    """The first output of `interpreter` with `resolver` on float NCHW images x (quantized as the
    model's input tensor says), in batches of `batch_size`, in one worker process."""
    return run_batches(model_bytes, _input_maker(model_bytes), x_nchw, interpreter, resolver, batch_size)[0]


def _input_maker(model_bytes: bytes):
    """run_batches' `prepare` for `model_bytes`, its input tensor read once."""
    from catdeploy.integer.inputs import inputs_for, model_io

    io = model_io(model_bytes)
    return lambda _model_bytes, rows: inputs_for(io, rows)


def interpreter_builder(interpreter: str):
    """(build, version) of an installed interpreter ("tflite-runtime", "litert", "tensorflow"):
    build(model_path, resolver, num_threads=1) returns its Interpreter for the .tflite file under
    `resolver` ("ref", "builtin", "nodelegate", "auto"), not yet allocated. Call it in the process
    that times or probes the interpreter (the wheels' TFLite builds clash in one process)."""
    cls, enum, version = _load_interpreter_module(interpreter)

    def build(model_path: str, resolver: str, num_threads: int = 1):
        return cls(model_path=str(model_path), num_threads=num_threads,
                   experimental_op_resolver_type=getattr(enum, _RESOLVER_ENUM[resolver]))

    return build, version
