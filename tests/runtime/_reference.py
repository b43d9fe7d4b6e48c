"""Running the test models under the real interpreters (BUILTIN_REF), one subprocess per wheel.

The real interpreters run in subprocesses (one per wheel, all cases at once, in parallel) so
that TensorFlow, tflite-runtime and ai-edge-litert never share a process.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

INTERPRETERS = {  # interpreter -> (module to look for, catrt profile)
    "tflite_runtime": ("tflite_runtime", "ref-tflite214"),
    "tensorflow": ("tensorflow", "ref-tf219"),
    "ai_edge_litert": ("ai_edge_litert", "ref-litert21"),
}


def installed(interpreter: str) -> bool:
    return importlib.util.find_spec(INTERPRETERS[interpreter][0]) is not None


class ReferenceResults:
    """Tensors (or the error message) of each case under each installed interpreter."""

    def __init__(self, data: dict) -> None:
        self._data = data

    def available(self, interpreter: str) -> bool:
        return interpreter in self._data

    def error(self, interpreter: str, case: str):
        npz = self._data[interpreter]
        key = f"{case}::error"
        return str(npz[key]) if key in npz.files else None

    def tensors(self, interpreter: str, case: str) -> dict:
        npz = self._data[interpreter]
        prefix = f"{case}::t::"
        return {k[len(prefix):]: npz[k] for k in npz.files if k.startswith(prefix)}


def run_reference(interpreters, cases: dict, workdir: Path) -> dict:
    payload = {}
    for name, case in cases.items():
        payload[f"{name}::model"] = np.frombuffer(case.model, dtype=np.uint8)
        for i, x in enumerate(case.inputs):
            payload[f"{name}::in{i}"] = x
    cases_path = workdir / "cases.npz"
    np.savez(cases_path, **payload)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1")
    procs = {}
    for interp in interpreters:
        out = workdir / f"{interp}.npz"
        procs[interp] = (out, subprocess.Popen(
            [sys.executable, str(HERE / "_reference_runner.py"), interp, str(cases_path), str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env))
    results = {}
    for interp, (out, proc) in procs.items():
        _, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"{interp} runner failed:\n{err.decode()[-3000:]}")
        results[interp] = np.load(out)
    return results
