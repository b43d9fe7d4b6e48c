"""The CLI error table (docs/RELIABILITY.md): every bad input gives exit code 2 (130 for Ctrl-C),
exactly one stderr line naming the culprit, no traceback, and no output or temp file left behind.

Each row runs the real command (typer's CliRunner in-process; SIGINT in a subprocess) on crafted
files: random-init torchvision checkpoints, corrupted copies of them, Fashion-MNIST folders with
a bad IDX magic or a truncated gzip, npz calibration data with NaN/Inf, broken .qg and .tflite.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from catdeploy.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
# The `catdeploy` console script, run with this interpreter.
CLI = [sys.executable, "-c", "import sys; from catdeploy.cli import main; sys.argv[0] = 'catdeploy'; main()"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *fragments, code=2) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def files_in(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------------------------
# Crafted inputs


def _idx_images(n: int) -> bytes:
    return struct.pack(">IIII", 2051, n, 28, 28) + bytes(n * 28 * 28)


def _idx_labels(n: int) -> bytes:
    return struct.pack(">II", 2049, n) + bytes(n)


def _fashion_folder(folder: Path, corrupt_images) -> Path:
    folder.mkdir()
    for split in ("train", "t10k"):
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(corrupt_images(_idx_images(64)))
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_labels(64)))
    return folder


def _npz(path: Path, bad_value: float) -> Path:
    x = np.random.default_rng(0).random((64, 28, 28), dtype=np.float32)
    x[5, 3, 7] = bad_value
    np.savez(path, x=x, y=np.zeros(64, np.int64))
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from catdeploy.data.zoo import build_model

    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("hostile")
    torch.manual_seed(0)
    state = build_model("mnasnet0_5").state_dict()
    torch.save(state, d / "mnas.pt")
    raw = (d / "mnas.pt").read_bytes()
    (d / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    (d / "corrupt.pt").write_bytes(np.random.default_rng(1).integers(0, 256, 4096, np.uint8).tobytes())
    for name, value in (("nan.pt", float("nan")), ("inf.pt", float("inf"))):
        bad = {k: v.clone() for k, v in state.items()}
        bad["layers.0.weight"][0, 0, 0, 0] = value
        torch.save(bad, d / name)
    torch.save(build_model("mobilenet_v3_small").state_dict(), d / "mbv3.pt")  # another architecture
    torch.save(build_model("convnext_tiny").state_dict(), d / "convnext.pt")  # layer norm, permute
    (d / "empty").mkdir()
    _fashion_folder(d / "bad_magic", lambda b: gzip.compress(struct.pack(">I", 0x1234) + b[4:]))
    _fashion_folder(d / "truncated_gzip", lambda b: gzip.compress(b)[: len(gzip.compress(b)) // 2])
    _npz(d / "nan.npz", float("nan"))
    _npz(d / "inf.npz", float("inf"))
    return d


@pytest.fixture(scope="module")
def exported(inputs, tmp_path_factory):
    """A real .qg and .tflite of the random-init mnasnet0_5 (calibrated on 64 digits images)."""
    d = tmp_path_factory.mktemp("exported")
    r = invoke("calibrate", "mnasnet0_5", "--weights", inputs / "mnas.pt", "--data", "digits",
               "--samples", 64, "-o", d / "m.qg")
    assert r.exit_code == 0, r.stderr
    r = invoke("export", d / "m.qg", "--target", "tflite", "-o", d / "m.tflite")
    assert r.exit_code == 0, r.stderr
    return d


# ------------------------------------------------------------------------------------------------
# The table: (id, arguments, fragments the one error line must contain). "{d}" is the inputs
# folder, "{out}" a fresh empty output folder that must stay empty.


@dataclass(frozen=True)
class Row:
    id: str
    args: tuple
    fragments: tuple


def _calibrate(model="mnasnet0_5", weights="{d}/mnas.pt", data="digits", *extra):
    return ("calibrate", model, "--weights", weights, "--data", data, "--samples", "16",
            "-o", "{out}/m.qg", *extra)


ROWS = [
    Row("unknown_model", _calibrate(model="resnet_9000"), ("unknown model 'resnet_9000'",)),
    Row("missing_weights", _calibrate(weights="{d}/nope.pt"), ("--weights", "nope.pt", "not found")),
    Row("corrupt_weights", _calibrate(weights="{d}/corrupt.pt"),
        ("--weights", "corrupt.pt", "weights_only=True", "corrupt")),
    Row("truncated_weights", _calibrate(weights="{d}/truncated.pt"),
        ("--weights", "truncated.pt", "corrupt or truncated")),
    Row("wrong_architecture_weights", _calibrate(weights="{d}/mbv3.pt"),
        ("--weights", "mbv3.pt", "mnasnet0_5", "wrong architecture")),
    Row("nan_in_weights", _calibrate(weights="{d}/nan.pt"),
        ("--weights", "nan.pt", "layers.0.weight", "NaN or Inf")),
    Row("inf_in_weights", _calibrate(weights="{d}/inf.pt"),
        ("--weights", "inf.pt", "layers.0.weight", "NaN or Inf")),
    Row("dataset_missing", _calibrate(data="fashion-mnist", *()) + ("--data-root", "{d}/empty"),
        ("fashion-mnist", "not found", "empty")),
    Row("dataset_bad_idx_magic", _calibrate(data="fashion-mnist") + ("--data-root", "{d}/bad_magic"),
        ("train-images-idx3-ubyte.gz", "magic")),
    Row("dataset_truncated_gzip",
        _calibrate(data="fashion-mnist") + ("--data-root", "{d}/truncated_gzip"),
        ("train-images-idx3-ubyte.gz", "truncated gzip")),
    Row("dataset_npz_missing", _calibrate(data="npz:{d}/nope.npz"), ("nope.npz",)),
    Row("nan_in_calibration_data", _calibrate(data="npz:{d}/nan.npz"), ("nan.npz", "NaN or Inf")),
    Row("inf_in_calibration_data", _calibrate(data="npz:{d}/inf.npz"), ("inf.npz", "NaN or Inf")),
    Row("bits_setting_unknown", _calibrate() + ("--bits", "w9a9"), ("--bits", "w9a9")),
    Row("weight_bits_out_of_range", _calibrate() + ("--weight-bits", "layers.0=1"),
        ("layers.0", "bit width 1 out of range")),
    Row("act_bits_out_of_range", _calibrate() + ("--act-bits", "layers.*=9"),
        ("layers.*", "bit width 9 out of range")),
    Row("unsupported_op", _calibrate(model="convnext_tiny", weights="{d}/convnext.pt"),
        ("unsupported ops", "aten.native_layer_norm at features.0.1/layer_norm", "aten.permute")),
    Row("export_missing_qg", ("export", "{d}/nope.qg", "-o", "{out}/m.tflite"),
        ("nope.qg",)),
    Row("export_corrupt_qg", ("export", "{d}/corrupt.pt", "-o", "{out}/m.tflite"),
        ("corrupt.pt", "corrupt")),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_error_table(row, inputs, tmp_path):
    args = [a.format(d=inputs, out=tmp_path) for a in row.args]
    assert_one_line_error(invoke(*args), *row.fragments)
    assert files_in(tmp_path) == []   # nothing written, no temp file


def test_existing_output_without_force_is_kept(inputs, tmp_path):
    target = tmp_path / "m.qg"
    target.write_bytes(b"precious")
    line = assert_one_line_error(invoke(*[a.format(d=inputs, out=tmp_path) for a in _calibrate()]),
                                 "m.qg", "already exists", "--force")
    assert str(target) in line
    assert target.read_bytes() == b"precious" and files_in(tmp_path) == ["m.qg"]


def test_export_existing_output_or_manifest_without_force(exported, tmp_path):
    (tmp_path / "m.tflite").write_bytes(b"old")
    assert_one_line_error(invoke("export", exported / "m.qg", "-o", tmp_path / "m.tflite"),
                          "m.tflite", "already exists", "--force")
    (tmp_path / "m.tflite").unlink()
    (tmp_path / "m.tflite.json").write_text("{}")
    assert_one_line_error(invoke("export", exported / "m.qg", "-o", tmp_path / "m.tflite"),
                          "m.tflite.json", "already exists", "--force")
    assert files_in(tmp_path) == ["m.tflite.json"]


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in: chmod 500 unless we are root (root ignores
    modes); then /sys or /proc, which refuse new files even to root."""
    if os.geteuid() != 0:
        folder = tmp_path / "read_only"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    for candidate in (Path("/sys"), Path("/proc")):
        if candidate.is_dir():
            return candidate
    pytest.skip("no folder that root cannot write to")


def test_unwritable_output_fails_before_any_work(inputs, tmp_path):
    folder = _unwritable_folder(tmp_path)
    args = [a.format(d=inputs, out=folder) for a in _calibrate()]
    start = time.monotonic()
    assert_one_line_error(invoke(*args), "-o", str(folder / "m.qg"), "not writable")
    assert time.monotonic() - start < 20   # refused up front, not after calibrating
    assert not (folder / "m.qg").exists()


def test_output_that_is_a_folder(inputs, tmp_path):
    (tmp_path / "m.qg").mkdir()
    args = [a.format(d=inputs, out=tmp_path) for a in _calibrate()] + ["--force"]
    assert_one_line_error(invoke(*args), "m.qg", "is a folder")


@pytest.mark.parametrize("damage", ["json_list", "graph_not_object", "missing_weights",
                                    "truncated", "pickled_array"])
def test_export_of_damaged_qg_archive(exported, tmp_path, damage):
    good = (exported / "m.qg").read_bytes()
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        doc = json.loads(zf.read("quantized_graph.json"))
        arrays = zf.read("arrays.npz")
    if damage == "json_list":
        doc = []
    elif damage == "graph_not_object":
        doc["graph"] = 5
    elif damage == "missing_weights":
        doc["weights"].pop(sorted(doc["weights"])[0])
    elif damage == "pickled_array":
        buf = io.BytesIO()
        np.savez(buf, **{"graph/x": np.array([{"a": 1}], dtype=object)})
        arrays = buf.getvalue()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("quantized_graph.json", json.dumps(doc))
        zf.writestr("arrays.npz", arrays)
    data = buf.getvalue()
    if damage == "truncated":
        data = good[: len(good) // 2]
    src = tmp_path / "in" / "bad.qg"
    src.parent.mkdir()
    src.write_bytes(data)
    out = tmp_path / "out"
    out.mkdir()
    assert_one_line_error(invoke("export", src, "-o", out / "m.tflite"), str(src))
    assert files_in(out) == []


def _without_outputs(model: bytes) -> bytes:
    """A well-formed .tflite whose graph declares no outputs (catrt accepts it)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as fb

    m = fb.ModelT.InitFromPackedBuf(model, 0)
    m.subgraphs[0].outputs = np.zeros(0, np.int32)
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.mark.parametrize("command", ["verify", "inspect", "eval"])
@pytest.mark.parametrize("damage", ["empty", "truncated", "not_tflite", "no_outputs"])
def test_damaged_tflite(exported, tmp_path, command, damage):
    good = (exported / "m.tflite").read_bytes()
    if damage == "no_outputs":
        data = _without_outputs(good)
    else:
        data = {"empty": b"", "truncated": good[: len(good) // 3],
                "not_tflite": good[:4] + b"XXXX" + good[8:]}[damage]
    path = tmp_path / "bad.tflite"
    path.write_bytes(data)
    args = [command, path, "--data", "digits", "--samples", 4]
    line = assert_one_line_error(invoke(*args), str(path))
    assert "tflite" in line or "outputs" in line


# ------------------------------------------------------------------------------------------------
# Ctrl-C


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _deliverable_sigint() -> None:
    """Ctrl-C as a terminal delivers it. A run started from a background job (`make test &`)
    inherits SIGINT ignored, and a CI runner may start us with SIGINT blocked; both are inherited
    across exec, and either way the child would never see the signal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def _sigint_state(pid: int) -> dict:
    """SigBlk / SigIgn bits of SIGINT in /proc/PID/status."""
    status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if ":\t" in line)
    bit = 1 << (signal.SIGINT - 1)
    return {key: bool(int(status[key].strip(), 16) & bit) for key in ("SigBlk", "SigIgn")}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_sigint_during_export_exits_130_and_leaves_nothing(inputs, tmp_path):
    out = tmp_path / "m.tflite"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        CLI + ["export", "mnasnet0_5", "--weights", str(inputs / "mnas.pt"), "--data", "digits",
               "--samples", "512", "--target", "tflite", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
        preexec_fn=_deliverable_sigint)
    try:
        deadline = time.monotonic() + 120
        # well inside the command (torch imported, calibrating) before interrupting
        while proc.poll() is None and _cpu_seconds(proc.pid) < 4.0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        assert _sigint_state(proc.pid) == {"SigBlk": False, "SigIgn": False}
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=180)  # generous: a loaded 2-core CI box unwinds slowly
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = stderr.decode().strip().splitlines()
    assert proc.returncode == 130, stderr.decode()
    assert lines == ["interrupted"], stderr.decode()
    assert stdout == b""
    assert files_in(tmp_path) == []


def test_ctrl_c_inside_an_extension_import_is_still_an_interrupt(capsys):
    """Ctrl-C landing while scipy's compiled HiGHS wrapper initialises surfaces as
    ``ImportError: initialization failed`` caused by the KeyboardInterrupt (seen in CI): the command
    still ends "interrupted", exit 130; an ImportError of its own stays an error."""
    import typer

    from catdeploy.cli.app import EXIT_INTERRUPTED, report_errors

    @report_errors
    def interrupted_import():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    with pytest.raises(typer.Exit) as exit_info:
        interrupted_import()
    assert exit_info.value.exit_code == EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err.strip().splitlines() == ["interrupted"]

    @report_errors
    def broken_import():
        raise ImportError("initialization failed")

    with pytest.raises(ImportError):
        broken_import()


def test_interrupt_while_writing_leaves_no_partial_file(exported, tmp_path, monkeypatch):
    """Ctrl-C inside the atomic write (before the rename) or between the model and its manifest:
    neither the model, nor the manifest, nor a temp file remains."""
    from catdeploy import pipeline, util_io

    qg = pipeline.load_quantized(exported / "m.qg")
    real_replace = os.replace

    def interrupted_replace(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(util_io.os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        pipeline.export_quantized(qg, tmp_path / "m.tflite")
    assert files_in(tmp_path) == []

    calls = []

    def replace_then_interrupt(src, dst):
        calls.append(dst)
        if str(dst).endswith(".json"):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(util_io.os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        pipeline.export_quantized(qg, tmp_path / "m.tflite")
    assert len(calls) == 2 and files_in(tmp_path) == []


def test_disk_error_while_writing_is_one_line(exported, tmp_path, monkeypatch):
    from catdeploy import util_io

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(util_io.os, "fsync", full_disk)
    line = assert_one_line_error(invoke("export", exported / "m.qg", "-o", tmp_path / "m.tflite"),
                                 "m.tflite", "cannot write", "No space left")
    assert line and files_in(tmp_path) == []
