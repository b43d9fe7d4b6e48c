"""Golden vectors for the edge-architecture ops (HARD_SWISH, LOGISTIC, MUL with broadcasting and
constants, ADD with a constant, GATHER as a channel permutation, CONCATENATION of requantized
inputs, LEAKY_RELU inside and outside XNNPACK's checks, PRELU): one IntProgram per case, written with write_tflite, run on every installed TFLite
interpreter under every resolver, stored as tests/golden/edge_<case>.npz in the format of
make_golden.py (README.md). tests/runtime/test_golden_files.py checks catrt against every file.

    python tests/golden/make_golden_edge_ops.py             # regenerate every case
    python tests/golden/make_golden_edge_ops.py --check     # rerun "ref", compare, write nothing

Activation ops get the whole int8 domain (all 256 codes) under several qparams each, so every
table entry and every fixed-point branch that the scales reach is compared.
"""
from __future__ import annotations

import argparse
import json
import sys
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from catdeploy.export.tflite import write_tflite
from catdeploy.check.interpreters import RESOLVERS, RunRequest, available_interpreters, run_requests
from catdeploy.ir.int_program import IntOp, IntTensor
from tests.golden.make_golden import (
    Case, act, f32, int8_inputs, int32_const, program, store_or_check,
)

GOLDEN_DIR = Path(__file__).resolve().parent
PREFIX = "edge_"
REFERENCE_RESOLVER = "ref"
ALL_CODES = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)


def int8_scalar(name: str, value: int, scale: float, zero_point: int, rank: int = 4) -> IntTensor:
    return IntTensor(name, (1,) * rank, "int8", (f32(scale),), (int(zero_point),),
                     data=np.full((1,) * rank, value, dtype=np.int8))


def unary_case(kind: str, qparams, description: str) -> Case:
    """One `kind` op per (input qparams, output qparams), each fed all 256 int8 codes."""
    tensors, ops, inputs, outputs = [], [], [], []
    for i, (q_in, q_out) in enumerate(qparams):
        tensors += [act(f"x{i}", (1, 256), *q_in), act(f"y{i}", (1, 256), *q_out)]
        ops.append(IntOp(kind, (f"x{i}",), (f"y{i}",), name=f"{kind.lower()}{i}"))
        inputs.append(f"x{i}")
        outputs.append(f"y{i}")
    return Case(program(tensors, ops, inputs, outputs), tuple(ALL_CODES for _ in qparams), description)


# (input scale, zero point), (output scale, zero point): reluish exponent > 0 (s_in >= 3/256),
# < 0, output exponent 0 (s_in / 128 / s_out just below 1), deep right shifts, saturation.
HARD_SWISH_QPARAMS = (
    ((0.05, -3), (0.04, -100)),
    ((0.1, 20), (0.03, -128)),        # reluish exponent 4; output saturates at 127
    ((0.002, 0), (0.0015, -60)),      # reluish exponent -2
    ((1.0, -128), (1 / 120, -128)),   # output multiplier 0.9375 (exponent 0)
    ((0.01, 5), (0.5, -1)),           # output exponent -12
    ((2.0 ** -4, 0), (2.0 ** -5, -10)),  # dyadic: fixed-point ties
    ((0.0235, 17), (0.0235, 17)),     # equal grids (a requantization-free hardswish)
    ((0.3, -50), (0.25, -120)),       # large input range (x/3 saturates early)
)

LOGISTIC_QPARAMS = (
    ((2.0 ** -4, 0), (1 / 256, -128)),
    ((0.0373, -9), (1 / 256, -128)),
    ((0.1, 30), (1 / 256, -128)),
    ((0.5, -128), (1 / 256, -128)),    # saturates at both ends
    ((1 / 256, 0), (1 / 256, -128)),   # tiny inputs: sigma ~ 0.5 + x / 4
    ((0.0625, -100), (1 / 256, -128)),
    ((0.02, 0), (1 / 256, 0)),         # any zero point is accepted by the reference kernel
)


def case_hard_swish_scales(rng):
    return unary_case("HARD_SWISH", HARD_SWISH_QPARAMS,
                      "HARD_SWISH on all 256 int8 codes under 8 qparam pairs: reluish exponent > 0 and "
                      "< 0, output exponent 0 and -12, dyadic ties, saturation")


def case_hard_swish_sweep(rng):
    """24 qparam pairs (input scales in [2^-8, 2], output scales 1/128 to 8 times smaller, accepted
    by HardSwishPrepare; every other pair dyadic, where the fixed-point steps land on ties), each
    on all 256 codes in a random order plus 7 more: 256 elements in the aarch64 NEON loop (half-up
    shifts, floor doubling high-mul), 7 in its reference tail."""
    tensors, ops, inputs, outputs, values = [], [], [], [], []
    for i in range(24):
        exponents = rng.uniform(-8.0, 1.0), rng.uniform(-3.0, 6.5)
        if i % 2:
            exponents = tuple(float(np.round(e)) for e in exponents)
        s_in = float(2.0 ** exponents[0])
        s_out = s_in / float(2.0 ** exponents[1])
        z_in, z_out = (int(v) for v in rng.integers(-128, 128, size=2))
        if s_in / (128 * s_out) >= 1:
            s_out = s_in / 100
        tensors += [act(f"x{i}", (1, 263), s_in, z_in), act(f"y{i}", (1, 263), s_out, z_out)]
        ops.append(IntOp("HARD_SWISH", (f"x{i}",), (f"y{i}",), name=f"hard_swish{i}"))
        inputs.append(f"x{i}")
        outputs.append(f"y{i}")
        codes = np.concatenate([rng.permutation(ALL_CODES.reshape(-1)), int8_inputs(rng, (7,))])
        values.append(codes.astype(np.int8).reshape(1, 263))
    return Case(program(tensors, ops, inputs, outputs), tuple(values),
                "HARD_SWISH under 24 qparam pairs (half dyadic), all 256 codes + 7 (the NEON loop's 8-element "
                "blocks and a 7-element reference tail on aarch64)")


def case_logistic_scales(rng):
    return unary_case("LOGISTIC", LOGISTIC_QPARAMS,
                      "LOGISTIC on all 256 int8 codes under 7 input grids (output 1/256): the float "
                      "LUT, saturation at both ends, tiny inputs, an output zero point other than -128")


def case_logistic_sweep(rng):
    """Dyadic input grids 2^-7 .. 2^-13 (three zero points each), where sigma * 256 lands on
    exact ties near 0 and XNNPACK's table (exp in double, half away after a float32 rescale) and
    TFLite's (float expf, 1 / (1 + e)) part ways, plus three random grids."""
    qparams = [((2.0 ** -k, z), (1 / 256, -128)) for k in range(7, 14) for z in (-64, 0, 127)]
    qparams += [((float(2.0 ** rng.uniform(-9.0, 1.0)), int(rng.integers(-128, 128))), (1 / 256, 0))
                for _ in range(3)]
    return unary_case("LOGISTIC", qparams,
                      "LOGISTIC on all 256 int8 codes under 21 dyadic input grids (ties of the table) and 3 "
                      "random ones: XNNPACK's reference-kernel table against TFLite's LUT")


def mul_case(shape_a, shape_b, qa, qb, qy, description, activation="NONE", x_range=(-128, 127)) -> Case:
    rng = np.random.default_rng(zlib.crc32(description.encode()))
    out_shape = tuple(np.broadcast_shapes(shape_a, shape_b))
    tensors = [act("a", shape_a, *qa), act("b", shape_b, *qb), act("y", out_shape, *qy)]
    op = IntOp("MUL", ("a", "b"), ("y",), dict(fused_activation=activation), name="mul")
    inputs = (int8_inputs(rng, shape_a, *x_range), int8_inputs(rng, shape_b, *x_range))
    return Case(program(tensors, [op], ["a", "b"], ["y"]), inputs, description)


def case_mul_se_broadcast(rng):
    return mul_case((2, 4, 4, 8), (2, 1, 1, 8), (0.045, -7), (1 / 256, -128), (0.03, 11),
                    "MUL [2, 4, 4, 8] x [2, 1, 1, 8] (squeeze-excitation: feature map times a LOGISTIC gate)")


def case_mul_ties(rng):
    return mul_case((1, 6, 6, 4), (1, 6, 6, 4), (2.0 ** -3, 3), (2.0 ** -4, -5), (2.0 ** -6, 1),
                    "MUL with s1 * s2 / s_out = 0.5 exactly: every odd product is a rounding tie",
                    x_range=(-20, 20))


def case_mul_gt1_relu(rng):
    return mul_case((1, 5, 5, 6), (1, 1, 1, 6), (0.2, 0), (0.15, 4), (0.02, -100),
                    "MUL with s1 * s2 / s_out = 1.5 (op version 3, left shift), broadcast, fused RELU",
                    activation="RELU", x_range=(-30, 30))


def case_mul_const_identity(rng):
    """MUL by a constant whose multiplier is exactly 1: codes copied onto a 1/6 scale (hardsigmoid)."""
    s_x = 0.0731
    s_c = f32(1 / 6)
    s_t = f32(np.float32(s_x) * np.float32(s_c))
    tensors = [act("x", (1, 4, 4, 8), s_x, -20), int8_scalar("c", 1, s_c, 0), act("y", (1, 4, 4, 8), s_t, -20)]
    op = IntOp("MUL", ("x", "c"), ("y",), dict(fused_activation="NONE"), name="mul")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, (1, 4, 4, 8)),),
                "MUL by a constant scalar with multiplier exactly 1.0 (M = 2^30, shift 1): output codes "
                "equal input codes")


def case_add_const_relu(rng):
    tensors = [act("x", (1, 4, 4, 8), f32(0.0731 / 6), -20), int8_scalar("half", 64, 2.0 ** -7, 0),
               act("y", (1, 4, 4, 8), f32(1 / 15), 112)]
    op = IntOp("ADD", ("x", "half"), ("y",), dict(fused_activation="RELU"), name="add")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, (1, 4, 4, 8)),),
                "ADD of a constant 0.5 with fused RELU into the 4-bit grid of [0, 1] (hardsigmoid's "
                "second op; int8 saturation is the upper clip)")


# (shape a, shape b, b constant?, qparams a, b, y, fused activation): every way BroadcastAddDispatch
# walks a broadcast (ProcessBroadcastShapes' y0..y4): runs of y4 > 1 elements with a NEON tail,
# runs of y3 against one scalar (AddScalarBroadcast, 8-lane blocks and a tail), rank extension,
# the generic fallback, and one node whose scales keep it out of XNNPACK (so builtin / auto run it
# too). Operands without the interpreter's leading batch of 2 are constants.
BROADCAST_ADDS = (
    ((2, 4, 4, 24), (2, 1, 1, 24), False, (2.0 ** -3, 3), (2.0 ** -4, -2), (2.0 ** -1, 1), "NONE"),  # y4 = 24
    ((2, 4, 4, 24), (2, 1, 1, 24), False, (0.045, -7), (0.031, 20), (0.06, -3), "NONE"),
    ((2, 1, 4, 20), (2, 3, 1, 20), False, (2.0 ** -5, 3), (2.0 ** -6, -1), (2.0 ** -4, 0), "RELU"),
    ((2, 3, 4, 1), (2, 1, 4, 12), False, (0.0731 / 6, -20), (2.0 ** -7, 0), (1 / 15, 112), "NONE"),
    ((2, 1, 1, 41), (1, 1, 1, 1), True, (0.02, -128), (2.0 ** -7, 0), (1 / 15, -128), "RELU"),  # y3 = 82
    ((2, 1, 1, 21), (1,), True, (0.013, 5), (0.1, -60), (0.05, 9), "NONE"),                # rank 4 + 1
    ((2, 1, 3, 1), (1, 2, 1, 3), True, (0.04, 1), (0.03, -2), (0.05, 0), "NONE"),          # generic
    ((2, 2, 2, 24), (2, 1, 1, 24), False, (1e-4, 0), (0.5, 3), (0.5, -1), "NONE"),        # no XNNPACK
)


def case_add_broadcast_neon(rng):
    tensors, ops, inputs, outputs, values = [], [], [], [], []
    for i, (shape_a, shape_b, b_constant, qa, qb, qy, activation) in enumerate(BROADCAST_ADDS):
        out_shape = tuple(np.broadcast_shapes(shape_a, shape_b))
        b = (IntTensor(f"b{i}", shape_b, "int8", (f32(qb[0]),), (qb[1],), data=int8_inputs(rng, shape_b))
             if b_constant else act(f"b{i}", shape_b, *qb))
        tensors += [act(f"a{i}", shape_a, *qa), b, act(f"y{i}", out_shape, *qy)]
        ops.append(IntOp("ADD", (f"a{i}", f"b{i}"), (f"y{i}",), dict(fused_activation=activation), name=f"add{i}"))
        inputs.append(f"a{i}")
        values.append(int8_inputs(rng, shape_a))
        if not b_constant:
            inputs.append(f"b{i}")
            values.append(int8_inputs(rng, shape_b))
        outputs.append(f"y{i}")
    return Case(program(tensors, ops, inputs, outputs), tuple(values),
                "broadcast ADD in every shape class of BroadcastAddDispatch (five-fold runs with NEON tails, "
                "scalar broadcast in 8-lane blocks, rank extension, the generic fallback, a node XNNPACK refuses)")


def case_gather_shuffle(rng):
    q = (0.05, -4)
    groups, channels = 2, 12
    perm = [(c % groups) * (channels // groups) + c // groups for c in range(channels)]
    tensors = [act("x", (2, 3, 3, channels), *q), int32_const("indices", perm), act("y", (2, 3, 3, channels), *q)]
    op = IntOp("GATHER", ("x", "indices"), ("y",), dict(axis=3, batch_dims=0), name="shuffle")
    return Case(program(tensors, [op], ["x"], ["y"]), (int8_inputs(rng, (2, 3, 3, channels)),),
                "GATHER on axis 3 as a channel shuffle (groups 2, 12 channels)")


def case_concat_requantized(rng):
    q_a, q_b, q_y = (0.031, -40), (0.07, 100), (0.05, -8)
    tensors = [act("a", (1, 3, 3, 4), *q_a), act("b", (1, 3, 3, 2), *q_b), act("a@y", (1, 3, 3, 4), *q_y),
               act("b@y", (1, 3, 3, 2), *q_y), act("y", (1, 3, 3, 6), *q_y)]
    ops = [IntOp("QUANTIZE", ("a",), ("a@y",), name="requantize a"),
           IntOp("QUANTIZE", ("b",), ("b@y",), name="requantize b"),
           IntOp("CONCATENATION", ("a@y", "b@y"), ("y",), dict(axis=3, fused_activation="NONE"), name="cat")]
    inputs = (int8_inputs(rng, (1, 3, 3, 4)), int8_inputs(rng, (1, 3, 3, 2)))
    return Case(program(tensors, ops, ["a", "b"], ["y"]), inputs,
                "CONCATENATION of two inputs requantized (int8 -> int8 QUANTIZE) onto the output grid")


def leaky_relu_case(settings, description: str) -> Case:
    """One LEAKY_RELU per (input qparams, output qparams, alpha), each fed all 256 int8 codes."""
    tensors, ops, inputs, outputs = [], [], [], []
    for i, (q_in, q_out, alpha) in enumerate(settings):
        tensors += [act(f"x{i}", (1, 256), *q_in), act(f"y{i}", (1, 256), *q_out)]
        ops.append(IntOp("LEAKY_RELU", (f"x{i}",), (f"y{i}",), dict(alpha=float(np.float32(alpha))),
                         name=f"leaky_relu{i}"))
        inputs.append(f"x{i}")
        outputs.append(f"y{i}")
    return Case(program(tensors, ops, inputs, outputs), tuple(ALL_CODES for _ in settings), description)


# (input scale, zero point), (output scale, zero point), alpha. All inside XNNPACK's checks
# (s_in / s_out in [1/256, 128], |s_in / s_out * alpha| in [1/256, 128]).
LEAKY_RELU_SETTINGS = (
    ((0.05, -3), (0.04, -100), 0.1),
    ((0.1, 20), (0.03, -128), 0.2),            # identity multiplier 3.33: positive side saturates
    ((2.0 ** -4, 0), (2.0 ** -3, -10), 0.25),  # dyadic: identity 0.5 and alpha 0.125 give ties
    ((2.0 ** -3, 5), (2.0 ** -4, 0), 0.5),     # identity 2 (left shift), alpha 1: saturation both sides
    ((0.0235, 17), (0.0235, 17), 0.01),        # equal grids, torch's default slope
    ((0.3, -50), (0.25, -120), 1.5),           # alpha above 1
    ((0.02, 0), (0.05, 10), -0.25),            # negative alpha
    ((2.0 ** -5, -7), (2.0 ** -5, 100), 1.0 / 3.0),
)
# Each refused by XNNPACK's delegate, so the built-in kernel runs in every resolver.
LEAKY_RELU_OUTSIDE_XNNPACK = (
    ((0.05, 3), (0.05, -5), 0.001),            # |negative scale| 0.001 < 1/256
    ((0.04, -20), (0.03, 7), 0.0),             # alpha 0
    ((0.001, 0), (0.3, -100), 0.5),            # s_in / s_out = 1/300 < 1/256
    ((2.0, 10), (0.01, 0), 0.1),               # s_in / s_out = 200 > 128
    ((0.05, -1), (0.06, 2), 1e-40),            # subnormal alpha (std::isnormal fails)
)


def case_leaky_relu_scales(rng):
    return leaky_relu_case(LEAKY_RELU_SETTINGS,
                           "LEAKY_RELU on all 256 int8 codes under 8 (qparams, alpha) settings inside "
                           "XNNPACK's checks: dyadic ties, identity multiplier >= 1 and left shift, "
                           "saturation, alpha 0.01, 1/3, above 1 and negative")


def case_leaky_relu_outside_xnnpack(rng):
    return leaky_relu_case(LEAKY_RELU_OUTSIDE_XNNPACK,
                           "LEAKY_RELU on all 256 int8 codes with alpha or scales that XNNPACK's delegate "
                           "refuses (|negative scale| < 1/256, alpha 0, scale ratio outside [1/256, 128], "
                           "subnormal alpha): the built-in kernel in every resolver")


def prelu_op(i: int, x_shape, q_in, q_out, alpha_codes, alpha_scale, alpha_zero_point=0):
    alpha_shape = (1,) * (len(x_shape) - 1) + (len(alpha_codes),)
    alpha = IntTensor(f"alpha{i}", alpha_shape, "int8", (f32(alpha_scale),), (int(alpha_zero_point),),
                      data=np.asarray(alpha_codes, np.int8).reshape(alpha_shape))
    tensors = [act(f"x{i}", x_shape, *q_in), alpha, act(f"y{i}", x_shape, *q_out)]
    return tensors, IntOp("PRELU", (f"x{i}", f"alpha{i}"), (f"y{i}",), name=f"prelu{i}")


def case_prelu_channels(rng):
    """PRELU with per-channel int8 slopes (negative, zero, above 1), broadcast on NHWC and [N, C]."""
    settings = [
        ((2, 4, 4, 8), (0.05, -3), (0.04, -20), [25, 50, -30, 0, 127, 64, 10, -127], 0.004),
        ((2, 6), (0.1, 10), (0.03, -128), [127, 1, -64, 90, 33, 7], 0.02),            # slopes to 2.54
        ((2, 3, 5, 4), (2.0 ** -3, 0), (2.0 ** -4, 0), [16, 48, -32, 8], 2.0 ** -7),  # dyadic: ties
    ]
    tensors, ops, inputs, outputs, feeds = [], [], [], [], []
    for i, (shape, q_in, q_out, codes, scale) in enumerate(settings):
        t, op = prelu_op(i, shape, q_in, q_out, codes, scale)
        tensors += t
        ops.append(op)
        inputs.append(f"x{i}")
        outputs.append(f"y{i}")
        feeds.append(int8_inputs(rng, shape, -60, 60) if i == 2 else int8_inputs(rng, shape))
    return Case(program(tensors, ops, inputs, outputs), tuple(feeds),
                "PRELU with per-channel int8 slopes (negative, zero, above 1) broadcast over [2, 4, 4, 8] and "
                "[2, 6] inputs, and dyadic scales whose products land on rounding ties")


CASES: dict[str, Callable[[np.random.Generator], Case]] = {
    name[len("case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")
}


def build_case(name: str) -> Case:
    return CASES[name](np.random.default_rng(zlib.crc32(name.encode())))


def run_cases(names, interpreters, resolvers) -> dict[str, dict]:
    built = {name: build_case(name) for name in names}
    models = {name: write_tflite(case.program) for name, case in built.items()}
    results: dict[str, dict] = {name: {} for name in names}
    for interpreter in interpreters:
        requests = [RunRequest(models[name], built[name].inputs, resolver, keep_all=False,
                               model_name=f"{name}.tflite", extra={"case": name})
                    for name in names for resolver in resolvers]
        for request, result in zip(requests, run_requests(interpreter, requests)):
            results[request.extra["case"]][(interpreter, request.resolver)] = result
    return results


def npz_arrays(name: str, runs: dict) -> dict[str, np.ndarray]:
    case = build_case(name)
    arrays: dict[str, np.ndarray] = {"model": np.frombuffer(write_tflite(case.program), dtype=np.uint8)}
    for i, x in enumerate(case.inputs):
        arrays[f"input_{i}"] = x
    versions, differs = {}, {}
    for (interpreter, resolver), result in sorted(runs.items()):
        versions[interpreter] = result["version"]
        if result["error"]:
            arrays[f"error__{interpreter}__{resolver}"] = np.array(result["error"])
            continue
        for i, y in enumerate(result["outputs"]):
            arrays[f"output__{interpreter}__{resolver}__{i}"] = y
    for (interpreter, resolver), result in sorted(runs.items()):
        ref = runs.get((interpreter, REFERENCE_RESOLVER))
        if resolver == REFERENCE_RESOLVER or result["error"] or ref is None or ref["error"]:
            continue
        differs[f"{interpreter}/{resolver}"] = int(sum(
            np.count_nonzero(a != b) for a, b in zip(result["outputs"], ref["outputs"])))
    meta = {"case": PREFIX + name, "description": case.description, "ops": [op.kind for op in case.program.ops],
            "inputs": list(case.program.inputs), "outputs": list(case.program.outputs), "versions": versions,
            "runs": sorted(f"{i}/{r}" for i, r in runs), "elements_differing_from_ref": differs}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return arrays


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help=f"case names (default: all): {', '.join(CASES)}")
    parser.add_argument("--check", action="store_true", help="rerun 'ref' and compare with the stored files")
    args = parser.parse_args(argv)
    names = args.cases or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    resolvers = [REFERENCE_RESOLVER] if args.check else list(RESOLVERS)
    results = run_cases(names, available_interpreters(), resolvers)
    failures = 0
    for name in names:
        failures += not store_or_check(name, GOLDEN_DIR / f"{PREFIX}{name}.npz", npz_arrays(name, results[name]),
                                       args.check)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
