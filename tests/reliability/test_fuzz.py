"""The .tflite fuzz harness (bench/fuzz_reader.py) and a bounded fuzz run of catrt.

The bounded run mutates real exported models (bytes, located fields, re-packed objects) and feeds
each to catrt.Interpreter (construct + run) in a watched child process: nothing but CatrtError may
escape, nothing may take over 10 s. The long run's figures are in docs/RELIABILITY.md.
"""
from __future__ import annotations

import random
import struct

import numpy as np
import pytest

import catrt
from catrt import CatrtError

STRUCTURED_CATEGORIES = {
    "root_offset", "vtable_offset", "vtable_entry", "vtable_size", "offset", "vector_length",
    "shape", "tensor_type", "buffer_index", "quant_scale", "quant_zero_point", "opcode_index",
    "builtin_code", "op_io", "graph_io", "option", "options_type", "model_version",
}


def test_seeds_are_real_exports_that_catrt_runs(fuzz, fuzz_seeds):
    assert len(fuzz_seeds) >= 4
    kinds = set()
    for name, data in fuzz_seeds.items():
        assert fuzz.exercise(data) == "ran", name
        model = catrt.read_model(data)
        kinds |= {op.kind for op in model.operators}
        assert model.description == "catdeploy"
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "PAD", "MAX_POOL_2D",
            "AVERAGE_POOL_2D", "CONCATENATION", "RESHAPE", "QUANTIZE", "DEQUANTIZE"} <= kinds
    assert any(t.dtype == "int4" for t in catrt.read_model(fuzz_seeds["tiny_w4a4_int4"]).tensors)


def test_locator_finds_every_structured_field_category(fuzz, fuzz_seeds):
    data = fuzz_seeds["tiny_w8a8_int8"]
    fields = fuzz.locate_fields(data)
    assert STRUCTURED_CATEGORIES <= {f.category for f in fields}
    model = catrt.read_model(data)
    # the shape fields hold exactly the tensors' dimensions, in file order
    shapes = [struct.unpack_from(f.fmt, data, f.pos)[0] for f in fields if f.category == "shape"]
    assert shapes == [d for t in model.tensors for d in t.shape]
    indices = [struct.unpack_from(f.fmt, data, f.pos)[0] for f in fields
               if f.category == "opcode_index"]
    assert max(indices) < len(model.operator_codes)


def test_structured_mutation_overwrites_one_field_only(fuzz, fuzz_seeds):
    data = fuzz_seeds["tiny_w2a2_float_io"]
    fields = fuzz.locate_fields(data)
    rng = random.Random(5)
    for _ in range(200):
        mutated, what = fuzz.mutate_structured(rng, data, fields)
        assert len(mutated) == len(data)
        changed = [i for i in range(len(data)) if data[i] != mutated[i]]
        if changed:  # the new value may equal the old one
            assert changed[-1] - changed[0] < 8, what


def test_object_mutations_repack_into_flatbuffers(fuzz, fuzz_seeds):
    data = fuzz_seeds["tiny_w4a4_strict"]
    rng = random.Random(11)
    kinds = set()
    for _ in range(60):
        mutated, what = fuzz.mutate_object(rng, data, data)
        if what.startswith("object "):  # else it fell back to a byte mutation
            assert mutated[4:8] == b"TFL3", what
            kinds.add(what.split()[1])
    assert len(kinds) >= 12


def test_mutator_is_deterministic_for_a_seed(fuzz, fuzz_seeds):
    fields = {k: fuzz.locate_fields(v) for k, v in fuzz_seeds.items()}
    runs = []
    for _ in range(2):
        rng = random.Random(42)
        runs.append([fuzz.mutate(rng, fuzz_seeds, fields) for _ in range(40)])
    assert runs[0] == runs[1]


def test_watchdog_reports_crashes_hangs_and_deaths(fuzz, tmp_path):
    result = fuzz.run_campaign(
        {}, inputs=[b"ok", b"reject", b"raise", b"hang", b"ok", b"die", b"memory", b"ok"],
        timeout=2.0, memory_limit_mb=1024, crash_dir=tmp_path,
        target="tests.reliability._fuzz_targets:scripted")
    assert result.executions == 8
    assert result.ok == 3 and result.rejected == 1
    assert [h["execution"] for h in result.hangs] == [3]
    crashes = {c["execution"]: c["detail"] for c in result.crashes}
    assert sorted(crashes) == [2, 5, 6]
    assert crashes[2].startswith("KeyError")
    assert "worker died" in crashes[5]
    assert crashes[6].startswith("MemoryError")  # the address-space cap turns a runaway into this
    assert result.worker_starts == 3              # restarted after the hang and the death
    assert (tmp_path / "hang-0-00000003.tflite").read_bytes() == b"hang"
    assert (tmp_path / "crash-0-00000002.json").exists()
    assert 0 < result.peak_rss_mib < 1024


def test_bounded_fuzz_run_finds_no_crash_and_no_hang(fuzz, fuzz_seeds, tmp_path):
    result = fuzz.run_campaign(fuzz_seeds, executions=6000, seconds=30, seed=20240601,
                               crash_dir=tmp_path)
    summary = result.summary()
    assert result.crashes == [], result.crashes[:3]
    assert result.hangs == [], result.hangs[:3]
    assert result.executions >= 1000, summary
    assert result.ran >= 50 and result.rejected >= 500, summary   # both paths are exercised
    assert summary["crash_count"] == summary["hang_count"] == 0
    assert len(result.mutation_kinds) >= 30


# ------------------------------------------------------------------------------------------------
# Regression: a corrupted PAD padding made catrt compute on a tensor ~10^5 times larger than
# declared (a 15 s, 9 GB CONV_2D). Constant paddings must now agree with the declared output.

def _pad_model(paddings, out_shape) -> bytes:
    from tests.runtime._tiny_models import TinyModel

    m = TinyModel()
    x = m.tensor("x", [1, 4, 4, 2], "int8", [0.1], [0])
    p = m.tensor("paddings", [4, 2], "int32", data=np.asarray(paddings, np.int32))
    y = m.tensor("y", out_shape, "int8", [0.1], [0])
    m.op("PAD", [x, p], [y])
    m.inputs, m.outputs = [x], [y]
    return m.build()


def test_pad_with_consistent_constant_paddings_runs():
    model = _pad_model([[0, 0], [1, 1], [2, 0], [0, 0]], [1, 6, 6, 2])
    out = catrt.Interpreter(model).run([np.ones((2, 4, 4, 2), np.int8)])["y"]
    assert out.shape == (2, 6, 6, 2) and int(out.sum()) == 2 * 32


@pytest.mark.parametrize("paddings, out_shape", [
    ([[0, 0], [2097153, 1], [1, 1], [0, 0]], [1, 6, 6, 2]),   # the fuzzer's finding
    ([[0, 65536], [1, 1], [1, 1], [0, 0]], [1, 6, 6, 2]),       # batch padded
    ([[0, 0], [1, 1], [1, 1], [0, 0]], [1, 6, 6]),              # rank differs
])
def test_pad_paddings_disagreeing_with_declared_output_are_rejected(paddings, out_shape):
    with pytest.raises(CatrtError, match=r"op #0 PAD: paddings .* declared"):
        catrt.Interpreter(_pad_model(paddings, out_shape))
