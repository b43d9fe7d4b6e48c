"""Archives from strangers: catrt.archive (the one bounded zip / .npz reader), the values of a .qg
checked before use, the .pt2 pre-check, and a bounded fuzz run of the .qg and golden readers
(bench/fuzz_archives.py; the long runs' figures are in docs/RELIABILITY.md)."""
from __future__ import annotations

import importlib.util
import io
import json
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from catrt import CatrtError
from catrt.archive import ArchiveError, ArchiveLimits, MiB, read_directory, read_members, read_npz, verify_members
from catrt.golden import make_golden, npz_bytes, read_golden
from catdeploy.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
SMALL = ArchiveLimits(label="test archive", max_members=8, max_member_bytes=4 * MiB, max_total_bytes=6 * MiB,
                      max_ratio=64, ratio_exempt_bytes=64 * 1024, max_array_elements=1 << 20,
                      max_array_bytes=4 * MiB)


def load_fuzz_archives():
    """bench/fuzz_archives.py as a module (bench/ is not a package)."""
    if "fuzz_archives" not in sys.modules:
        spec = importlib.util.spec_from_file_location("fuzz_archives", ROOT / "bench" / "fuzz_archives.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["fuzz_archives"] = module
        spec.loader.exec_module(module)
    return sys.modules["fuzz_archives"]


@pytest.fixture(scope="module")
def fa():
    return load_fuzz_archives()


def npy(array, pickle: bool = False) -> bytes:
    """.npy bytes; `pickle` only to build the hostile object arrays the reader must refuse."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=pickle)
    return buf.getvalue()


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text.strip(), text
    return text


# ------------------------------------------------------------------------------------------------
# catrt.archive


def test_npz_round_trip_matches_numpy():
    arrays = {"a": np.arange(12, dtype=np.int8).reshape(3, 4), "f": np.asfortranarray(np.ones((3, 5), np.float32)),
              "s": np.array(json.dumps({"k": 1})), "e": np.zeros((0, 3), np.int32), "b": np.array([True, False])}
    for writer in (np.savez, np.savez_compressed):
        buf = io.BytesIO()
        writer(buf, **arrays)
        got = read_npz(buf.getvalue(), SMALL)
        with np.load(io.BytesIO(buf.getvalue()), allow_pickle=False) as ref:
            assert set(got) == set(ref.files)
            for k in ref.files:
                assert got[k].dtype == ref[k].dtype and got[k].shape == ref[k].shape
                assert np.array_equal(got[k], ref[k]) and got[k].flags.f_contiguous == ref[k].flags.f_contiguous
                assert got[k].flags.writeable
    assert set(read_npz(npz_bytes(arrays), SMALL, ["a", "nope"])) == {"a"}


def test_zip64_archives_are_read(tmp_path):
    path = tmp_path / "z.npz"
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("x.npy", "w", force_zip64=True) as f:
            f.write(npy(np.arange(5)))
    assert read_npz(path, SMALL)["x"].tolist() == [0, 1, 2, 3, 4]


def _zip(members, method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("case, match", [
    ("count", r"9 members, over the limit of 8 \(member count\)"),
    ("member", "declares 5,242,880 bytes uncompressed, over the limit of 4,194,304 per member"),
    ("total", r"more than 6,291,456 bytes uncompressed in all \(total limit\)"),
    ("ratio", r"declares 3,000,000 bytes from [\d,]+ compressed \([\d,]+:1\), over the compression ratio limit of 64:1"),
    ("lying", "inflates past its declared 50,000 bytes"),
    ("larger", "inflates to 60,000 bytes, declares 60,001"),
    ("stored_lying", "is stored with 100,000 bytes but declares 100"),
    ("crc", "CRC mismatch"),
    ("bzip2", "compression method 12"),
    ("encrypted", "is encrypted"),
    ("duplicate", "appears twice"),
    ("not_zip", "not a zip archive"),
    ("truncated", "lies outside the file|central directory lies outside|not a zip archive"),
])
def test_archive_limits_refuse_in_one_line(fa, case, match):
    random_bytes = np.random.default_rng(0).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()
    data = {
        "count": lambda: _zip([(f"m{i}", b"x") for i in range(9)]),
        "member": lambda: _zip([("big", random_bytes + random_bytes[:2 << 20])]),
        "total": lambda: _zip([("a", random_bytes), ("b", random_bytes + random_bytes[:1])]),
        "ratio": lambda: _zip([("zeros", bytes(3_000_000))]),
        "lying": lambda: fa.set_declared_size(_zip([("m", bytes(60_000))]), "m", 50_000),    # under the
        "larger": lambda: fa.set_declared_size(_zip([("m", bytes(60_000))]), "m", 60_001),   # ratio limit
        "stored_lying": lambda: fa.set_declared_size(_zip([("m", bytes(100_000))], zipfile.ZIP_STORED), "m", 100),
        "crc": lambda: _zip([("m", b"hello world")], zipfile.ZIP_STORED).replace(b"hello world", b"hellO world"),
        "bzip2": lambda: _zip([("m", b"hello")], zipfile.ZIP_BZIP2),
        "encrypted": lambda: _set_flag(_zip([("m", b"hello")])),
        "duplicate": lambda: fa.pack([("m", b"a", 0), ("m", b"b", 0)]),
        "not_zip": lambda: b"PK\x03\x04 not really",
        "truncated": lambda: _zip([("m", random_bytes[:5000])])[:-30],
    }[case]()
    with pytest.raises(ArchiveError, match=match) as info:
        read_members(data, SMALL)
    assert one_line(info.value).startswith("test archive: ")


def _set_flag(data: bytes) -> bytes:
    out = bytearray(data)
    cd = data.rfind(b"PK\x01\x02")
    out[cd + 8] |= 1
    return bytes(out)


@pytest.mark.parametrize("array_bytes, match", [
    (lambda: npy(np.array([{"a": 1}], dtype=object), pickle=True), "dtype object is refused .*allow_pickle=False"),
    (lambda: _npy_header("|V8", (4,)) + bytes(32), "dtype |V8 is refused"),
    (lambda: _npy_header("<f4", (1 << 40,)), r"shape \(1099511627776,\) has 1,099,511,627,776 elements, over"),
    (lambda: _npy_header("<f8", (1 << 20,)), "is 8,388,608 bytes, over the limit of 4,194,304 per array"),
    (lambda: _npy_header("<i4", (10,)) + bytes(8), "holds 8 bytes of data, its header declares 40"),
    (lambda: _npy_header("<i4", (-1,)), "malformed shape"),
    (lambda: b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}   \n", "not a readable .npy header"),
])
def test_npy_headers_are_checked_before_any_allocation(array_bytes, match):
    import tracemalloc

    data = _zip([("x.npy", array_bytes())])
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError, match=match) as info:
            read_npz(data, SMALL)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    one_line(info.value)
    assert peak < 2 * MiB, peak


def _npy_header(descr: str, shape: tuple) -> bytes:
    text = repr({"descr": descr, "fortran_order": False, "shape": shape})
    text += " " * ((64 - (10 + len(text) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode()


def test_directory_is_parsed_without_zipfile_and_bounded(fa):
    # an end record that declares 65,535 members in a 1 KiB archive: refused before reading entries
    data = bytearray(_zip([("m", b"x")]))
    eocd = data.rfind(b"PK\x05\x06")
    data[eocd + 8:eocd + 12] = (65535).to_bytes(2, "little") * 2
    with pytest.raises(ArchiveError, match="65,535 members, over the limit of 8"):
        read_directory(bytes(data), SMALL)


# ------------------------------------------------------------------------------------------------
# golden files (catrt)


@pytest.fixture(scope="module")
def golden_case():
    model = load_fuzz_archives().fuzz_reader.build_seeds("tiny")["tiny_w8a8_int8"]
    return model, make_golden(model, n=3, seed=1)


def test_read_golden_accepts_bytes_and_paths(golden_case, tmp_path):
    model, arrays = golden_case
    path = tmp_path / "m.golden.npz"
    path.write_bytes(npz_bytes(arrays))
    a, b = read_golden(path, model), read_golden(path.read_bytes(), model)
    assert a.n == b.n == 3 and set(a.expected) == set(b.expected)
    assert all(np.array_equal(x, y) for x, y in zip(a.inputs, b.inputs))


@pytest.mark.parametrize("lie", [False, True])
def test_golden_bombs_are_refused(fa, golden_case, lie):
    _, arrays = golden_case
    bomb = fa.zeros_bomb_golden(npz_bytes(arrays), lie=lie)
    assert len(bomb) < 80_000
    with pytest.raises(CatrtError, match="inflates past its declared" if lie else "compression ratio limit") as info:
        read_golden(bomb)
    assert one_line(info.value).startswith("golden file: member 'input_0.npy'")


def test_golden_meta_over_its_limit_is_refused(golden_case):
    _, arrays = golden_case
    pad = np.random.default_rng(0).integers(0, 1 << 62, 1 << 16).astype(np.uint64).tobytes().hex()
    big_meta = np.array(json.dumps({"pad": pad}))   # 1 M hex digits: 4 MiB as UTF-32, not a bomb
    with pytest.raises(CatrtError, match=r"'meta' declares [\d,]+ bytes, over the limit"):
        read_golden(npz_bytes(dict(arrays, meta=big_meta)))


# ------------------------------------------------------------------------------------------------
# .qg values checked before use


@pytest.fixture(scope="module")
def qg_seeds(fa):
    return {"plain": fa._tiny_qg(0, "w4a4"), "cat": fa._with_cat(fa._tiny_qg(2, "w8a8"))}


def _rewrite(qg_bytes: bytes, edit_doc=None, edit_arrays=None) -> bytes:
    with zipfile.ZipFile(io.BytesIO(qg_bytes)) as zf:
        doc = json.loads(zf.read("quantized_graph.json"))
        with np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    if edit_doc:
        edit_doc(doc)
    if edit_arrays:
        edit_arrays(arrays)
    inner = io.BytesIO()
    np.savez(inner, **arrays)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("quantized_graph.json", json.dumps(doc))
        zf.writestr("arrays.npz", inner.getvalue())
    return buf.getvalue()


def _first(mapping):
    return sorted(mapping)[0]


def _set(path_keys, value):
    def edit(doc):
        target = doc
        for key in path_keys[:-1]:
            target = target[key] if not callable(key) else target[key(target)]
        last = path_keys[-1]
        target[last(target) if callable(last) else last] = value
    return edit


def _array(prefix, change):
    def edit(arrays):
        key = sorted(k for k in arrays if k.startswith(prefix))[0]
        arrays[key] = change(arrays[key])
    return edit


VALUE_CASES = {
    "weight_bits_9": (dict(edit_doc=_set(["weights", _first, "bits"], 9)), r"weights of '.*': bits 9 outside 2..8"),
    "weight_bits_1": (dict(edit_doc=_set(["weights", _first, "bits"], 1)), "bits 1 outside 2..8"),
    "act_bits_99": (dict(edit_doc=_set(["act_qparams", _first, "bits"], 99)), "activation grid of .*: bits 99 outside"),
    "plan_bits": (dict(edit_doc=_set(["plan", "weights", _first], 12)), r"plan weights '.*': bits 12 outside"),
    # found by bench/fuzz_archives.py: a list where a value name belongs reached the .tflite writer
    "plan_node_inputs": (dict(edit_doc=_set(["plan", "node_inputs", _first, 0], [0, 0])),
                         "plan node_inputs: not lists of value names"),
    "act_scale_nan": (dict(edit_doc=_set(["act_qparams", _first, "scale"], float("nan"))), "scale nan is not a finite"),
    "act_scale_huge": (dict(edit_doc=_set(["act_qparams", _first, "scale"], 1e308)), "scale 1e\\+308 is not a finite"),
    "act_scale_zero": (dict(edit_doc=_set(["act_qparams", _first, "scale"], 0.0)), "scale 0.0 is not a finite positive"),
    "act_zero_point": (dict(edit_doc=_set(["act_qparams", _first, "zero_point"], 300)), "zero point 300 outside"),
    "weight_scale_negative": (dict(edit_arrays=_array("wscale/", lambda a: -a)), "scale -.* is not a finite positive"),
    "weight_scale_inf": (dict(edit_arrays=_array("wscale/", lambda a: np.full_like(a, np.inf))), "scale inf"),
    "weight_zero_point": (dict(edit_arrays=_array("wzero/", lambda a: a + 1000)), "zero points outside the"),
    "weight_codes_off_grid": (dict(edit_arrays=_array("wcode/", lambda a: np.full_like(a, 127))),
                              "codes \\+ zero points span .* outside the"),
    "weight_codes_shape": (dict(edit_arrays=_array("wcode/", lambda a: a[:1])), r"codes: int8 \(1, .*expected shape"),
    "weight_scale_shape": (dict(edit_arrays=_array("wscale/", lambda a: np.append(a, a))), "scales: float32 .*expected"),
    "bias_dtype": (dict(edit_arrays=_array("bcode/", lambda a: a.astype(np.int64))), "bias codes are int64"),
    "graph_param_nan": (dict(edit_arrays=_array("graph/", lambda a: np.full_like(a, np.nan))), "is not finite"),
}
CAT_CASES = {
    "cat_gamma_size": (dict(edit_arrays=_array("cat/gamma", lambda a: a[:, :-1])), r"cat gamma: float64 \(2, 4\)"),
    "cat_centroids_size": (dict(edit_arrays=_array("cat/centroids", lambda a: a[:1])), "cat centroids"),
    "cat_clusters": (dict(edit_doc=_set(["cat", "clusters"], 3)), r"cat gamma: float64 \(2, 5\), expected shape \(3, 5\)"),
    "cat_layer": (dict(edit_doc=_set(["cat", "layer"], "nope")), "cat: layer 'nope' is not a weighted node"),
    "cat_alpha": (dict(edit_doc=_set(["cat", "alpha"], None)), "cat: alpha None"),
    "cat_range": (dict(edit_doc=_set(["cat", "output_range"], [1.0])), "cat output_range"),
    "cat_nan": (dict(edit_arrays=_array("cat/beta", lambda a: np.full_like(a, np.nan))), "cat beta: not finite"),
}


@pytest.mark.parametrize("case", list(VALUE_CASES) + list(CAT_CASES))
def test_qg_values_are_checked_before_use(fa, qg_seeds, tmp_path, case):
    from catdeploy.pipeline import load_quantized

    edits, match = VALUE_CASES.get(case) or CAT_CASES[case]
    seed = qg_seeds["cat" if case in CAT_CASES else "plain"]
    path = tmp_path / "bad.qg"
    path.write_bytes(_rewrite(fa._qg_bytes(seed), **edits))
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # refused before NumPy could warn about a value on stderr
        with pytest.raises(UserError, match=match) as info:
            load_quantized(path)
    assert one_line(info.value).startswith(f"{path}: invalid quantized graph: ")


def test_valid_qg_archives_still_load_and_round_trip(fa, qg_seeds, tmp_path):
    from catdeploy.quant.quantized_graph import load_quantized_graph, save_quantized_graph

    for name, qg in qg_seeds.items():
        path = tmp_path / f"{name}.qg"
        save_quantized_graph(qg, path)
        again = tmp_path / f"{name}.again.qg"
        save_quantized_graph(load_quantized_graph(path), again)
        assert path.read_bytes() == again.read_bytes(), name


@pytest.mark.parametrize("lie", [False, True])
def test_qg_bombs_are_refused(fa, qg_seeds, tmp_path, lie):
    from catdeploy.pipeline import load_quantized

    path = tmp_path / "bomb.qg"
    path.write_bytes(fa.zeros_bomb_qg(fa._qg_bytes(qg_seeds["plain"]), lie=lie))
    with pytest.raises(UserError, match="inflates past its declared" if lie else "compression ratio limit") as info:
        load_quantized(path)
    assert one_line(info.value).startswith(f"{path}: quantized graph archive: member 'arrays.npz'")


# ------------------------------------------------------------------------------------------------
# .pt2: members and sizes checked before torch reads the archive


@pytest.fixture(scope="module")
def pt2_file(fa, tmp_path_factory):
    import torch

    path = tmp_path_factory.mktemp("pt2") / "tiny.pt2"
    model = fa.fuzz_reader._tiny_torch_model(0)
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 16, 16),)), str(path))
    return path


def test_pt2_check_passes_a_real_program_and_refuses_bombs(fa, pt2_file, tmp_path, monkeypatch):
    import torch

    from catdeploy.data.user_model import PT2_LIMITS, build_user_model

    directory = verify_members(pt2_file, PT2_LIMITS)
    assert len(directory.members) > 10
    assert build_user_model(str(pt2_file)) is not None

    def torch_must_not_read(*args, **kwargs):
        raise AssertionError("torch.export.load was called on a refused archive")

    monkeypatch.setattr(torch.export, "load", torch_must_not_read)
    for lie, match in ((False, "compression ratio limit of 64:1"), (True, "inflates past its declared")):
        bomb = tmp_path / f"bomb_{lie}.pt2"
        bomb.write_bytes(fa.zeros_bomb_pt2(pt2_file.read_bytes(), lie=lie))
        with pytest.raises(UserError, match=match) as info:
            build_user_model(str(bomb))
        assert one_line(info.value).startswith(f"model {bomb}: torch.export archive: member ")


# ------------------------------------------------------------------------------------------------
# bounded fuzz runs (the long runs: docs/RELIABILITY.md)


@pytest.mark.parametrize("reader, executions", [("golden", 400), ("qg", 250)])
def test_bounded_archive_fuzz_run_finds_no_crash_and_no_hang(fa, reader, executions):
    seeds = fa.build_seeds(reader)
    result = fa.run_campaign(reader, seeds, executions=executions, seed=20240601)
    assert not result.crashes, result.crashes[:3]
    assert not result.hangs, result.hangs[:3]
    assert result.executions == executions
    assert result.rejected >= executions // 2 and result.ok >= 5, (result.ok, result.rejected)
    assert result.peak_rss_mib < fa.MEMORY_LIMIT_MB[reader]
