"""verify: run catrt and each TFLite interpreter on the same int8 inputs, compare every tensor bit for bit.

A run is named by interpreter, its version and resolver; catrt runs with the arithmetic profile that
models that interpreter's kernels (catrt.profiles). Only resolvers with a catrt profile can be
bit-exact by design; the others are still compared and reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from catdeploy.errors import UserError

RESOLVERS = ("ref", "builtin", "nodelegate", "auto")
INTERPRETERS = ("tflite-runtime", "litert", "tensorflow")


@dataclass
class RunReport:
    interpreter: str
    version: str
    resolver: str
    profile: str
    tensors_compared: int = 0
    mismatched_elements: int = 0
    elements_compared: int = 0
    max_abs_diff: int = 0
    first_mismatch: dict | None = None
    per_tensor: dict[str, int] = field(default_factory=dict)
    top1_agreement: float | None = None
    error: str | None = None
    refused_by_both: bool = False   # the interpreter cannot load the model and catrt's profile refuses it too

    @property
    def bit_exact(self) -> bool:
        return self.error is None and self.mismatched_elements == 0 and self.tensors_compared > 0

    def to_dict(self) -> dict:
        return {
            "interpreter": self.interpreter, "version": self.version, "resolver": self.resolver,
            "profile": self.profile, "tensors_compared": self.tensors_compared,
            "elements_compared": self.elements_compared,
            "mismatched_elements": self.mismatched_elements, "max_abs_diff": self.max_abs_diff,
            "first_mismatch": self.first_mismatch, "top1_agreement": self.top1_agreement,
            "bit_exact": self.bit_exact, "error": self.error, "refused_by_both": self.refused_by_both,
        }


def compare_tensors(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray], names: list[str],
                    report: RunReport, output_name: str) -> None:
    for name in names:
        if name not in theirs or name not in ours:
            continue
        a, b = np.asarray(ours[name]), np.asarray(theirs[name])
        if a.shape != b.shape:
            report.mismatched_elements += int(max(a.size, b.size))
            report.per_tensor[name] = int(max(a.size, b.size))
            report.first_mismatch = report.first_mismatch or {"tensor": name, "shape_catrt": list(a.shape),
                                                              "shape_tflite": list(b.shape)}
            report.tensors_compared += 1
            continue
        diff = np.abs(a.astype(np.int64) - b.astype(np.int64)) if a.dtype.kind in "iu" else np.abs(
            a.astype(np.float64) - b.astype(np.float64))
        bad = int(np.count_nonzero(diff))
        report.tensors_compared += 1
        report.elements_compared += int(a.size)
        report.per_tensor[name] = bad
        if bad:
            report.mismatched_elements += bad
            report.max_abs_diff = max(report.max_abs_diff, int(np.ceil(diff.max())))
            if report.first_mismatch is None:
                idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff > 0)), diff.shape))
                report.first_mismatch = {"tensor": name, "index": list(idx),
                                         "catrt": a[idx].item(), "tflite": b[idx].item()}
    if output_name in ours and output_name in theirs:
        ya, yb = np.asarray(ours[output_name]), np.asarray(theirs[output_name])
        if ya.shape == yb.shape and ya.ndim == 2:
            report.top1_agreement = float(np.mean(np.argmax(ya, 1) == np.argmax(yb, 1)))


def probe_model(model_bytes: bytes) -> bytes:
    """The same model with every non-constant tensor also listed as a subgraph output.

    TFLite 2.14+ may run ADD and other ops in place, overwriting an input tensor's buffer even with
    experimental_preserve_all_tensors; graph outputs are never overwritten. Only the output list
    changes: same ops, same tensors, same kernels, same arithmetic.
    """
    import flatbuffers

    from catdeploy.export.tflite.schema import schema
    from catdeploy.check.interpreters import activation_tensors

    fb = schema()
    model = fb.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    sub = model.subgraphs[0]
    outputs = [int(i) for i in sub.outputs]
    for index, _ in activation_tensors(model_bytes):
        if index not in outputs and index not in [int(i) for i in sub.inputs]:
            outputs.append(index)
    sub.outputs = np.array(outputs, np.int32)
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def catrt_profile(interpreter: str, resolver: str, version: str | None = None,
                  arch: str | None = None) -> tuple[str, str]:
    """(catrt profile to run, label for the report): the profile of that interpreter build,
    resolver and CPU architecture (catrt.profiles.profile_for; arch None = this machine). A
    combination without a profile (another wheel version, an unmodelled CPU) is compared with
    the interpreter's reference profile and labelled so."""
    from catrt import CatrtError
    from catrt.profiles import profile_for

    try:
        name = profile_for(interpreter, resolver, version, arch).name
        return name, name
    except CatrtError:
        pass
    try:
        name = profile_for(interpreter, "ref", version, arch).name
    except CatrtError:
        name = profile_for(interpreter, "ref").name
    return name, f"{name} (no {resolver} profile for {version or 'this version'})"


def verify_models(cases: list[tuple[bytes, np.ndarray]], interpreters: list[str], resolvers: list[str],
                  progress=None, launcher=None) -> list[list[RunReport]]:
    """verify_model for many (model bytes, int8 inputs) cases, one worker process per interpreter.
    With a catdeploy.check.interpreters.Launcher the interpreters run there (e.g. the aarch64 wheels
    under qemu) and catrt uses the profiles of the launcher's CPU architecture."""
    from catrt import CatrtError
    from catdeploy.integer.runner import catrt_interpreter

    from catdeploy.check.interpreters import RunRequest, activation_tensors, available_interpreters, run_requests

    installed = available_interpreters() if launcher is None else list(launcher.packages)
    arch = None if launcher is None else launcher.arch
    for interp in interpreters:
        if interp not in installed:
            raise UserError(f"--interpreter {interp}: not installed (installed: {', '.join(installed) or 'none'})")
    probes = [probe_model(model_bytes) for model_bytes, _ in cases]
    names = [[name for _, name in activation_tensors(model_bytes)] for model_bytes, _ in cases]
    catrt_runs: dict[tuple[int, str], dict] = {}
    reports: list[list[RunReport]] = [[] for _ in cases]
    for interp in interpreters:
        requests = [RunRequest(probes[c], (np.asarray(inputs),), resolver, True)
                    for c, (_, inputs) in enumerate(cases) for resolver in resolvers]
        results = iter(run_requests(interp, requests, launcher=launcher))
        for c, (model_bytes, inputs) in enumerate(cases):
            for resolver in resolvers:
                result = next(results)
                profile_name, label = catrt_profile(interp, resolver, result.get("version") or None, arch)
                report = RunReport(interp, result.get("version") or "?", resolver, label)
                if result.get("error"):
                    report.error = result["error"]
                    try:
                        catrt_interpreter(model_bytes, profile_name)
                    except CatrtError:  # e.g. an op version that resolver does not register
                        report.refused_by_both = True
                else:
                    key = (c, profile_name)
                    try:
                        if key not in catrt_runs:
                            catrt_runs[key] = catrt_interpreter(model_bytes, profile_name).run(
                                [inputs], keep_all=True)
                        output_name = catrt_interpreter(model_bytes, profile_name).get_output_details()[0].name
                    except CatrtError as exc:   # e.g. an op whose arithmetic that profile does not model
                        report.error = f"catrt ({profile_name}): {exc}"
                    else:
                        compare_tensors(catrt_runs[key], result["tensors"], names[c], report, output_name)
                reports[c].append(report)
                if progress is not None:
                    progress(report)
    return reports


def verify_model(model_bytes: bytes, inputs: np.ndarray, interpreters: list[str], resolvers: list[str],
                 progress=None, launcher=None) -> list[RunReport]:
    """Compare catrt with every (interpreter, resolver) on `inputs` (one batch for the model's input).

    Intermediate tensors are read from probe_model(model_bytes), the final outputs likewise (the
    probe's arithmetic is the model's)."""
    return verify_models([(model_bytes, inputs)], interpreters, resolvers, progress, launcher)[0]
