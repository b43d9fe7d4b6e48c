"""catrt vs the real interpreters (OpResolverType.BUILTIN_REF), every tensor, exact equality."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import catrt
from catrt import CatrtError
from ._reference import INTERPRETERS
from ._runtime_cases import build_cases

CASE_NAMES = sorted(build_cases())
# Cases the reference resolver of a wheel refuses to load (op version not registered).
REFUSED_BY = {"tflite_runtime": {"int4_conv_v7", "int4_fc_v10"}}
# Cases a wheel's Prepare refuses, and catrt with that profile too.
BOTH_REFUSE = {"tflite_runtime": {"int4_fc_per_channel"}}
# Cases catrt refuses for a profile because that build computes garbage (see profiles.py).
CATRT_REFUSES = {"tflite_runtime": {"fc_per_channel_keep_num_dims"}}


def _equal(a, b) -> bool:
    if a is None or b is None:
        return False
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _clobbered_in_place(model: catrt.Model, ref: dict, got: dict) -> set:
    """Tensors whose reference value was overwritten by an in-place ADD (tflite-runtime 2.14 lets
    ADD write into one of its inputs even with experimental_preserve_all_tensors)."""
    names = {t.index: t.name for t in model.tensors}
    out = set()
    for op in model.operators:
        if op.kind == "ADD":
            result = names[op.outputs[0]]
            for i in op.inputs:
                operand = names[i]
                if (operand in ref and result in ref and _equal(ref[operand], ref[result])
                        and _equal(got.get(result), ref[result])
                        and not _equal(ref[operand], got.get(operand, ref[operand]))):
                    out.add(operand)
    return out


@pytest.mark.parametrize("interpreter", list(INTERPRETERS))
@pytest.mark.parametrize("case_name", CASE_NAMES)
def test_catrt_matches_reference_kernels(interpreter, case_name, cases, reference):
    if not reference.available(interpreter):
        pytest.skip(f"{interpreter} not installed")
    case = cases[case_name]
    profile = INTERPRETERS[interpreter][1]
    ref_error = reference.error(interpreter, case_name)
    if case_name.startswith("error_") or case_name in BOTH_REFUSE.get(interpreter, ()):
        assert ref_error is not None, "the real interpreter accepted a file it should refuse"
        with pytest.raises(CatrtError):
            catrt.Interpreter(case.model, profile)
        return
    if case_name in REFUSED_BY.get(interpreter, ()):
        assert ref_error is not None and "version" in ref_error
        return
    assert ref_error is None, ref_error
    if case_name in CATRT_REFUSES.get(interpreter, ()):
        with pytest.raises(CatrtError):
            catrt.Interpreter(case.model, profile)
        return
    interp = catrt.Interpreter(case.model, profile)
    got = interp.run(list(case.inputs), keep_all=True)
    ref = reference.tensors(interpreter, case_name)
    assert ref, "no tensors came back from the reference run"
    skip = set()
    if interpreter == "tflite_runtime":
        skip |= _clobbered_in_place(interp.model, ref, got)
        # 2.14 shows an INT4 constant as its packed bytes read as int8, not as values.
        skip |= {t.name for t in interp.model.tensors if t.dtype == "int4"}
    mismatched = {}
    for name, value in ref.items():
        if name in skip:
            continue
        assert name in got, f"catrt has no tensor {name!r}"
        if not _equal(value, got[name]):
            mismatched[name] = (f"{int(np.sum(value != got[name]))} of {value.size} differ"
                                if value.shape == got[name].shape else
                                f"shape {value.shape} vs {got[name].shape}")
    assert not mismatched, mismatched
    for d in interp.get_output_details():
        assert d.name in ref


def _run(case, profile):
    return catrt.Interpreter(case.model, profile).run(list(case.inputs))


def test_tie_cases_separate_rounding_variants(cases):
    """The tie-heavy cases would catch a wrong rounding: DR-up and SR-up give other bits."""
    for name in ("conv_ties_pow2", "dw_ties_pow2", "fc_ties_pow2_per_tensor", "requantize_ties"):
        base = catrt.profiles.REF_TFLITE214
        reference_out = _run(cases[name], base)
        for rounding in ("dr_up", "sr_up"):
            variant = dataclasses.replace(
                base, name=f"test-{rounding}", conv_rounding=rounding, depthwise_rounding=rounding,
                fully_connected_requant=rounding, requantize_rounding=rounding)
            other = _run(cases[name], variant)
            assert any(not np.array_equal(reference_out[k], other[k]) for k in reference_out), \
                (name, rounding)


def test_fc_profiles_differ_on_ties(cases):
    """FULLY_CONNECTED: LiteRT 2.1 (float64 rha) and tflite-runtime 2.14 (DR-away) disagree."""
    for name in ("fc_ties_pow2_per_tensor", "fc_ties_pow2_per_channel"):
        a = _run(cases[name], "ref-tflite214")["y"]
        b = _run(cases[name], "ref-litert21")["y"]
        assert np.sum(a != b) > 0, name
        assert np.array_equal(a, _run(cases[name], "ref-tf219")["y"])


def test_multiplier_probes_are_sensitive(cases):
    """The multiplier probes change if the multiplier is formed the other way (float32 vs double
    product), so their agreement with TFLite pins TFLite's formula per op: per-tensor
    FULLY_CONNECTED uses the float32 product, CONV_2D the double product."""
    from ._runtime_cases import _probe_multipliers
    from catrt.fixed_point import multiply_by_quantized_multiplier, quantize_multiplier
    double_m, float_m = _probe_multipliers()
    for name, used, other in (("fc_multiplier_float32_product", float_m, double_m),
                              ("conv_multiplier_double_product", double_m, float_m)):
        case = cases[name]
        model = catrt.read_model(case.model)
        bias = next(t for t in model.tensors if t.name == "b").data.astype(np.int64)
        expected = multiply_by_quantized_multiplier(bias, *quantize_multiplier(used))
        wrong = multiply_by_quantized_multiplier(bias, *quantize_multiplier(other))
        assert np.all(expected != wrong), name
        got = _run(case, "ref-tflite214")["y"].astype(np.int64).reshape(-1)
        assert np.array_equal(got, expected), name
