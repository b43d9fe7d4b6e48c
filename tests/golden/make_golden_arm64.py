"""aarch64 outputs of the single-op golden cases: the model and inputs of tests/golden/<case>.npz run
by the aarch64 wheels of tflite-runtime 2.14.0 and ai-edge-litert 2.1.0 (the Raspberry Pi's
interpreters) under qemu-user, every resolver, stored as tests/golden/arm64/<case>.npz. Only the
outputs and a meta record are stored (the model's sha256 ties them to the x86 file), so the
aarch64 profiles are checked in every test run without qemu (tests/runtime/test_golden_arm64.py).

    python tests/golden/make_golden_arm64.py              # the default set of cases
    python tests/golden/make_golden_arm64.py edge_hard_swish_sweep dw_int4_ties
    python tests/golden/make_golden_arm64.py --check      # rerun, compare, write nothing

Needs the arm64 root and unpacked wheels of ../shared/docs/arm-emulation.md (CATRT_ARM64_ROOT,
CATRT_ARM64_SITE, default /tmp/arm64/root and /tmp/arm64/site; bench/bench_arm.py).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from bench.bench_arm import DEFAULT_ROOT, DEFAULT_SITE, launcher, missing
from catdeploy.check.interpreters import RESOLVERS, RunRequest, run_requests
from tests.golden.make_golden import load_golden, store_or_check

GOLDEN_DIR = Path(__file__).resolve().parent
ARM64_DIR = GOLDEN_DIR / "arm64"
REFERENCE_RESOLVER = "ref"
# The edge-architecture ops, the packed INT4 / INT2 weights, and the shape-dependent NEON paths.
DEFAULT_CASES = (
    "edge_hard_swish_scales", "edge_hard_swish_sweep", "edge_logistic_scales", "edge_logistic_sweep",
    "edge_add_broadcast_neon", "edge_add_const_relu", "edge_mul_se_broadcast", "edge_mul_ties",
    "edge_mul_gt1_relu", "edge_mul_const_identity", "edge_leaky_relu_scales",
    "edge_leaky_relu_outside_xnnpack", "edge_prelu_channels", "edge_gather_shuffle", "edge_concat_requantized",
    "conv_int4_ties", "dw_int4_ties", "fc_int2_ties", "fc_int4_per_channel",
    "dw_neon_tail_ties", "add_neon_tail", "quantize_i8_ties_tail", "quantize_f32_tail", "dequantize_tail",
    "fc_batch1_ties", "conv_ties",
)


def model_and_inputs(case: str) -> tuple[bytes, tuple[np.ndarray, ...], dict]:
    data = load_golden(GOLDEN_DIR / f"{case}.npz")
    meta = json.loads(str(data["meta"]))
    return data["model"].tobytes(), tuple(data[f"input_{i}"] for i in range(len(meta["inputs"]))), meta


def run_on_arm64(cases: list[str], root: str, site: str) -> dict[str, dict[tuple[str, str], dict]]:
    run = launcher(root, site)
    built = {case: model_and_inputs(case) for case in cases}
    results: dict[str, dict] = {case: {} for case in cases}
    for interpreter in run.packages:
        requests = [RunRequest(built[case][0], built[case][1], resolver, keep_all=False,
                               model_name=f"{case}.tflite", extra={"case": case})
                    for case in cases for resolver in RESOLVERS]
        for request, result in zip(requests, run_requests(interpreter, requests, launcher=run)):
            results[request.extra["case"]][(interpreter, request.resolver)] = result
    return results


def npz_arrays(case: str, runs: dict[tuple[str, str], dict]) -> dict[str, np.ndarray]:
    model, _, source_meta = model_and_inputs(case)
    arrays: dict[str, np.ndarray] = {}
    versions, differs = {}, {}
    for (interpreter, resolver), result in sorted(runs.items()):
        versions[interpreter] = result["version"]
        if result["error"]:
            arrays[f"error__{interpreter}__{resolver}"] = np.array(result["error"])
            continue
        for i, y in enumerate(result["outputs"]):
            arrays[f"output__{interpreter}__{resolver}__{i}"] = y
        ref = runs.get((interpreter, REFERENCE_RESOLVER))
        if resolver != REFERENCE_RESOLVER and ref is not None and not ref["error"]:
            differs[f"{interpreter}/{resolver}"] = int(sum(
                np.count_nonzero(a != b) for a, b in zip(result["outputs"], ref["outputs"])))
    meta = {"case": case, "arch": "aarch64", "model_sha256": hashlib.sha256(model).hexdigest(),
            "ops": source_meta["ops"], "inputs": source_meta["inputs"], "outputs": source_meta["outputs"],
            "versions": versions, "runs": sorted(f"{i}/{r}" for i, r in runs),
            "elements_differing_from_ref": differs,
            "how": "qemu-aarch64-static, Debian bookworm arm64 Python 3.11, the wheels' aarch64 builds"}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return arrays


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help="golden case file stems (default: the edge / packed / NEON set)")
    parser.add_argument("--check", action="store_true", help="rerun and compare with the stored files")
    parser.add_argument("--root", default=DEFAULT_ROOT)
    parser.add_argument("--site", default=DEFAULT_SITE)
    args = parser.parse_args(argv)
    why = missing(args.root, args.site)
    if why:
        print(f"aarch64 emulation unavailable: {why}", file=sys.stderr)
        return 2
    cases = args.cases or list(DEFAULT_CASES)
    absent = [c for c in cases if not (GOLDEN_DIR / f"{c}.npz").exists()]
    if absent:
        parser.error(f"no x86 golden file for: {', '.join(absent)}")
    results = run_on_arm64(cases, args.root, args.site)
    ARM64_DIR.mkdir(exist_ok=True)
    failures = 0
    for case in cases:
        failures += not store_or_check(case, ARM64_DIR / f"{case}.npz", npz_arrays(case, results[case]), args.check)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
