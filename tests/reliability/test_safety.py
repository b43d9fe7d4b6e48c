"""Safety of untrusted inputs: no code loading, no archive extraction, no network.

- A static scan (AST) of catdeploy/ and runtime/: no pickle/marshal/shelve loading, no eval/exec,
  torch.load only with weights_only=True, np.load never with allow_pickle=True, no yaml.load, no
  shell=True subprocesses.
- A QuantizedGraph archive is read member by member in memory: "../" or absolute member names are
  never written anywhere, object arrays are refused.
- calibrate + export + verify (with the TFLite interpreter subprocesses) under an audit hook that
  refuses and records every DNS lookup and internet-socket connect.
"""
from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from catdeploy.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_DIRS = [ROOT / "catdeploy", ROOT / "runtime" / "catrt"]


def _product_files() -> list:
    files = sorted(p for d in PRODUCT_DIRS for p in d.rglob("*.py"))
    assert len(files) > 50
    return files


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _is_true(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


FORBIDDEN_CALLS = {
    "eval", "exec", "compile", "__import__", "pickle.load", "pickle.loads", "pickle.Unpickler",
    "cPickle.load", "cPickle.loads", "marshal.load", "marshal.loads", "shelve.open", "dill.load",
    "dill.loads", "joblib.load", "yaml.load", "yaml.unsafe_load", "yaml.full_load",
    "numpy.lib.format.read_array", "torch.jit.load", "torch.package.PackageImporter",
}


def unsafe_calls(source: str, filename: str = "<string>") -> list:
    """Every call in `source` that could execute code from data: (line, description)."""
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name in FORBIDDEN_CALLS:
            problems.append((node.lineno, f"{name}()"))
        elif name.endswith("torch.load"):
            weights_only = _keyword(node, "weights_only")
            if not _is_true(weights_only):
                problems.append((node.lineno, "torch.load without weights_only=True"))
        elif name in ("np.load", "numpy.load"):
            if _is_true(_keyword(node, "allow_pickle")):
                problems.append((node.lineno, f"{name}(allow_pickle=True)"))
        elif name.startswith("subprocess.") and _is_true(_keyword(node, "shell")):
            problems.append((node.lineno, f"{name}(shell=True)"))
        elif name in ("os.system", "os.popen"):
            problems.append((node.lineno, f"{name}()"))
    return problems


def test_scanner_catches_each_unsafe_pattern():
    bad = textwrap.dedent("""
        import pickle, torch, numpy as np, subprocess, yaml
        pickle.loads(b"")
        eval("1")
        exec("x = 1")
        torch.load("w.pt")
        torch.load("w.pt", weights_only=False)
        np.load("a.npz", allow_pickle=True)
        subprocess.run("ls", shell=True)
        yaml.load("a: 1")
    """)
    assert [line for line, _ in unsafe_calls(bad)] == [3, 4, 5, 6, 7, 8, 9, 10]
    good = textwrap.dedent("""
        import torch, numpy as np
        model.eval()
        torch.load("w.pt", map_location="cpu", weights_only=True)
        np.load("a.npz", allow_pickle=False)
        np.load("a.npz")
    """)
    assert unsafe_calls(good) == []


def test_no_code_loading_in_product_code():
    problems = []
    for path in _product_files():
        for line, what in unsafe_calls(path.read_text(), str(path)):
            problems.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert problems == []


def test_every_torch_load_in_product_code_is_weights_only():
    calls = []
    for path in _product_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _dotted(node.func).endswith("torch.load"):
                calls.append((path.name, _is_true(_keyword(node, "weights_only"))))
    assert calls and all(ok for _, ok in calls), calls   # the zoo loads weights; all safely


# ------------------------------------------------------------------------------------------------
# QuantizedGraph archives


@pytest.fixture(scope="module")
def qg_archive(tmp_path_factory):
    """A real .qg archive: the fuzz harness's tiny CNN, calibrated with RTN."""
    import torch

    from catdeploy import api
    from catdeploy.quant.quantized_graph import save_quantized_graph
    from tests.reliability.conftest import load_fuzz_harness

    torch.set_num_threads(1)
    graph = api.capture(load_fuzz_harness()._tiny_torch_model(0), 16)
    images = np.random.default_rng(0).normal(size=(16, 3, 16, 16)).astype(np.float32)
    qg = api.calibrate(graph, api.plan(graph, "w4a4"), images)
    path = tmp_path_factory.mktemp("qg") / "tiny.qg"
    save_quantized_graph(qg, path)
    return path


def _rebuild(archive: Path, extra: dict, drop=()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(buf, "w") as dst:
        for name in src.namelist():
            if name not in drop:
                dst.writestr(name, src.read(name))
        for name, data in extra.items():
            info = zipfile.ZipInfo(name)   # ZipInfo keeps the hostile name verbatim
            dst.writestr(info, data)
    return buf.getvalue()


def _snapshot(folder: Path) -> set:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_qg_members_with_traversal_names_are_never_written(qg_archive, tmp_path, monkeypatch):
    from catdeploy.pipeline import load_quantized

    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    evil = {"../evil.txt": b"x", "../../evil2.txt": b"y", "/tmp/catdeploy_evil_abs.txt": b"z",
            "quantized_graph.json/../../evil3.txt": b"w"}
    path = work / "evil.qg"
    path.write_bytes(_rebuild(qg_archive, evil))
    monkeypatch.chdir(work)

    def no_extract(*args, **kwargs):
        raise AssertionError("QuantizedGraph loading must not extract archive members")

    monkeypatch.setattr(zipfile.ZipFile, "extract", no_extract)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", no_extract)
    before = _snapshot(tmp_path)
    qg = load_quantized(path)      # the hostile extra members are ignored
    assert qg.graph.nodes
    assert _snapshot(tmp_path) == before
    assert not Path("/tmp/catdeploy_evil_abs.txt").exists()


def test_qg_with_only_hostile_members_is_rejected(qg_archive, tmp_path):
    from catdeploy.pipeline import load_quantized

    path = tmp_path / "only_evil.qg"
    path.write_bytes(_rebuild(qg_archive, {"../quantized_graph.json": b"{}", "../arrays.npz": b""},
                              drop=("quantized_graph.json", "arrays.npz")))
    with pytest.raises(UserError, match="missing members"):
        load_quantized(path)
    assert _snapshot(tmp_path) == {"only_evil.qg"}


def test_qg_object_arrays_are_refused(qg_archive, tmp_path):
    from catdeploy.pipeline import load_quantized

    buf = io.BytesIO()
    np.savez(buf, **{"graph/x": np.array([{"__reduce__": 1}], dtype=object)})
    path = tmp_path / "pickled.qg"
    path.write_bytes(_rebuild(qg_archive, {"arrays.npz": buf.getvalue()}, drop=("arrays.npz",)))
    with pytest.raises(UserError, match="allow_pickle=False"):
        load_quantized(path)


def test_damaged_qg_json_never_escapes_as_a_traceback(qg_archive, tmp_path):
    """A seeded run of 150 JSON edits (deletions, wrong types, odd numbers) of a real archive:
    loading + lowering + writing the .tflite raises UserError or succeeds, nothing else."""
    import random

    from catdeploy import api
    from catdeploy.pipeline import load_quantized

    with zipfile.ZipFile(qg_archive) as zf:
        doc = json.loads(zf.read("quantized_graph.json"))

    def paths(obj, prefix=()):
        yield prefix
        items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
        for key, value in items:
            yield from paths(value, prefix + (key,))

    every = list(paths(doc))[1:]
    rng = random.Random(7)
    outcomes = {"ok": 0, "user_error": 0}
    for i in range(150):
        edited = json.loads(json.dumps(doc))
        where = rng.choice(every)
        parent = edited
        for key in where[:-1]:
            parent = parent[key]
        if rng.random() < 0.3:
            parent.pop(where[-1])
        else:
            parent[where[-1]] = rng.choice([None, 0, -1, 99, 1e308, "x", [], {}, [1, 2], True])
        path = tmp_path / f"edit{i}.qg"
        path.write_bytes(_rebuild(qg_archive, {"quantized_graph.json": json.dumps(edited)},
                                  drop=("quantized_graph.json",)))
        try:
            api.export_tflite(api.lower(load_quantized(path)))
            outcomes["ok"] += 1
        except UserError as exc:
            assert "\n" not in str(exc).strip(), exc   # the CLI prints it as one line
            outcomes["user_error"] += 1
        path.unlink()
    assert outcomes["user_error"] >= 20, outcomes


# ------------------------------------------------------------------------------------------------
# Network


NETWORK_GUARD = '''
"""Installed via PYTHONPATH by test_safety: refuse and record any network access."""
import os
import sys

_LOG = os.environ["CATDEPLOY_NETWORK_LOG"]


def _guard(event, args):
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
                 "urllib.Request", "http.client.connect", "ftplib.connect", "smtplib.connect"):
        pass
    elif event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        address = args[1] if len(args) > 1 else None
        if not isinstance(address, tuple):   # AF_UNIX paths and the like stay local
            return
    else:
        return
    with open(_LOG, "a") as log:
        log.write(f"{os.getpid()} {event} {args[1:]!r}\\n")
    raise OSError(f"network access refused by test_safety: {event}")


sys.addaudithook(_guard)
'''


def test_pipeline_makes_no_network_access(tmp_path):
    import torch

    from catdeploy.data.zoo import build_model

    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NETWORK_GUARD)
    log = tmp_path / "network.log"
    torch.manual_seed(0)
    torch.save(build_model("mnasnet0_5").state_dict(), tmp_path / "m.pt")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(guard), str(ROOT)]),
               CATDEPLOY_NETWORK_LOG=str(log), OMP_NUM_THREADS="1")
    # the guard works: a lookup in a child process is refused and logged
    probe = subprocess.run([sys.executable, "-c", "import socket; socket.getaddrinfo('example.com', 80)"],
                           env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "refused by test_safety" in probe.stderr
    assert "socket.getaddrinfo" in log.read_text()
    log.unlink()

    script = textwrap.dedent(f"""
        from typer.testing import CliRunner
        from catdeploy.cli import app
        d = {str(tmp_path)!r}
        runner = CliRunner()
        for args in (
            ["calibrate", "mnasnet0_5", "--weights", d + "/m.pt", "--data", "digits",
             "--samples", "16", "-o", d + "/m.qg"],
            ["export", d + "/m.qg", "--target", "tflite", "-o", d + "/m.tflite"],
            ["verify", d + "/m.tflite", "--data", "digits", "--samples", "4",
             "--interpreter", "tflite-runtime,litert", "--resolver", "ref"],
        ):
            result = runner.invoke(app, args)
            print(args[0], result.exit_code, result.stderr.strip()[-300:], flush=True)
            assert result.exit_code == 0, result.exception
    """)
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    assert (tmp_path / "m.tflite").stat().st_size > 0
    assert not log.exists(), log.read_text()
