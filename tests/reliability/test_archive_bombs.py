"""Zip bombs of each kind (.qg, golden .npz, .pt2), 1000:1 with an honest header and with a lying
one (declaring 1 MiB), through the commands users run: `catdeploy export`, `python -m catrt
check` (also on the aarch64 Python under qemu when it is set up, ../shared/docs/arm-emulation.md)
and `catdeploy calibrate`. Each must exit 2 with one stderr line naming the limit, at a peak
resident set below twice that of the same command on the normal file (measured in the child
process itself, bench/fuzz_archives.py peak_rss_run). The bombs are built here: 50 MB of zeros,
about 50 KB deflated."""
from __future__ import annotations

from pathlib import Path

import pytest

from catrt.check import installed
from catrt.golden import make_golden, npz_bytes
from tests.reliability.test_archives import load_fuzz_archives

INTERPRETERS = installed()
LIMIT_PHRASES = {False: "over the compression ratio limit of 64:1", True: "inflates past its declared 1,048,576 bytes"}


@pytest.fixture(scope="module")
def fa():
    return load_fuzz_archives()


@pytest.fixture(scope="module")
def files(fa, tmp_path_factory):
    """A real .qg, .tflite + golden file and .pt2 of fuzz_reader's small CNN."""
    import torch

    from catdeploy import api

    d = tmp_path_factory.mktemp("bombs")
    qg = fa._tiny_qg(0, "w4a4")
    (d / "m.qg").write_bytes(fa._qg_bytes(qg))
    model = api.export_tflite(api.lower(qg))
    (d / "m.tflite").write_bytes(model)
    (d / "m.golden.npz").write_bytes(npz_bytes(make_golden(model, n=4, seed=0)))
    torch.export.save(torch.export.export(fa.fuzz_reader._tiny_torch_model(0), (torch.randn(1, 3, 16, 16),)),
                      str(d / "m.pt2"))
    return d


def _command(kind: str, d: Path, path: Path) -> list:
    if kind == "qg":
        return ["catdeploy", "export", path, "-o", d / "out" / f"{path.stem}.tflite"]
    if kind == "golden":
        return ["catrt", "check", d / "m.tflite", path, "--interpreter", INTERPRETERS[0], "--resolver", "ref"]
    return ["catdeploy", "calibrate", path, "--data", "digits", "--samples", "4", "--bits", "w4a4",
            "-o", d / "out" / f"{path.stem}.qg"]


_NORMAL_PEAKS: dict = {}


def _normal_peak(fa, kind: str, d: Path) -> float:
    if kind not in _NORMAL_PEAKS:
        (d / "out").mkdir(exist_ok=True)
        code, out, err, peak = fa.peak_rss_run(_command(kind, d, d / {"qg": "m.qg", "golden": "m.golden.npz",
                                                                     "pt2": "m.pt2"}[kind]))
        assert code == 0, out + err
        _NORMAL_PEAKS[kind] = peak
    return _NORMAL_PEAKS[kind]


@pytest.mark.parametrize("lie", [False, True], ids=["1000to1", "lying_header"])
@pytest.mark.parametrize("kind", ["qg", "golden", "pt2"])
def test_bomb_exits_2_in_one_line_with_bounded_memory(fa, files, kind, lie):
    if kind == "golden" and not INTERPRETERS:
        pytest.skip("python -m catrt check needs a TFLite interpreter")
    d = files
    normal = d / {"qg": "m.qg", "golden": "m.golden.npz", "pt2": "m.pt2"}[kind]
    build = {"qg": fa.zeros_bomb_qg, "golden": fa.zeros_bomb_golden, "pt2": fa.zeros_bomb_pt2}[kind]
    bomb = d / f"bomb_{lie}{normal.suffix if kind != 'golden' else '.golden.npz'}"
    bomb.write_bytes(build(normal.read_bytes(), lie=lie))
    inflated = 50 << 20
    if kind != "pt2":   # the .pt2 bomb keeps the program's other members (4 MB of weights)
        assert len(bomb.read_bytes()) * 500 < inflated
    baseline = _normal_peak(fa, kind, d)
    code, out, err, peak = fa.peak_rss_run(_command(kind, d, bomb))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, out + err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert str(bomb) in lines[0] and LIMIT_PHRASES[lie] in lines[0], lines[0]
    assert "Traceback" not in err and not list((d / "out").glob(f"{bomb.stem}*"))
    assert peak < 2 * baseline, (peak, baseline)


# ------------------------------------------------------------------------------------------------
# the Pi's Python: catrt check on the aarch64 interpreter under qemu-user


def test_catrt_check_refuses_golden_bombs_on_aarch64(fa, files, tmp_path):
    from bench.bench_arm import DEFAULT_ROOT, DEFAULT_SITE, PACKAGES, catrt_check, missing

    why = missing(DEFAULT_ROOT, DEFAULT_SITE)
    if why is not None:
        pytest.skip(f"aarch64 emulation unavailable: {why}")
    interpreter = next(name for name, pkg in PACKAGES.items() if Path(DEFAULT_SITE, pkg).is_dir())
    for lie in (False, True):
        bomb = tmp_path / f"bomb_{lie}.golden.npz"
        bomb.write_bytes(fa.zeros_bomb_golden((files / "m.golden.npz").read_bytes(), lie=lie))
        proc = catrt_check(files / "m.tflite", bomb, DEFAULT_ROOT, DEFAULT_SITE, interpreter)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert len(lines) == 1 and lines[0].startswith(f"error: {bomb}: golden file: member 'input_0.npy'"), lines
        assert LIMIT_PHRASES[lie] in lines[0]
