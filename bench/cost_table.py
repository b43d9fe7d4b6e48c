"""The cost table of benchmarks.md (table 4), from the results the other benches wrote: calibration
wall time and peak memory per model, method, preset and bit setting (bench/results/recon.json),
W8A8 conversion time against TensorFlow's converter (bench/results/peer.json),
export time and file size int8 container vs packed INT4 (bench/results/lowbit_cost.json). The catrt
throughput ratio and the CAT head cost have their own sections (catrt speed, CAT ablation).

    python bench/cost_table.py
"""
from __future__ import annotations

import json
import sys

from bench_common import BENCH, write_doc

RESULTS = BENCH / "results"
BEGIN, END = "<!-- cost:begin -->", "<!-- cost:end -->"
METHODS = ("rtn", "adaround", "brecq", "qdrop", "pdquant")


def calibration_lines(rows: list[dict]) -> list[str]:
    lines = ["### Calibration wall time and peak memory", "",
             "Seconds of `calibrate` (RTN ranges on 1024 images, then the method; 2-core machine) and the peak RSS of "
             "the process in MiB, from the rows of the reconstruction table (bench/results/recon.json; `*` = measured "
             "while other work shared the 2 cores, an upper bound; (Nt) = torch threads). Blank = not measured.", "",
             "| model | convention | preset | bits | " + " | ".join(METHODS) + " |",
             "|---|---|---|---|" + "---|" * len(METHODS)]
    groups: dict[tuple, dict] = {}
    for r in rows:
        preset = "fast" if r["method"] == "rtn" else r["preset"]
        groups.setdefault((r["model"], r["convention"], r["bits"]), {}).setdefault(preset, {})[r["method"]] = r
    for (model, convention, bits), by_preset in sorted(groups.items()):
        rtn = by_preset.get("fast", {}).get("rtn")
        for preset in sorted(p for p in by_preset if any(m != "rtn" for m in by_preset[p])) or ["fast"]:
            cells = []
            for method in METHODS:
                r = rtn if method == "rtn" else by_preset[preset].get(method)
                cells.append("" if r is None else f"{r['calib_seconds']:.0f}{'*' if r.get('other_load') else ''} "
                             f"({r.get('torch_threads', 0)}t), {r['peak_rss_mib']:.0f} MiB")
            lines.append(f"| {model} | {convention} | {preset} | {bits} | " + " | ".join(cells) + " |")
    return lines


def export_lines(rows: list[dict]) -> list[str]:
    lines = ["### Export time and file size (int8 containers vs packed INT4)", "",
             "From bench/results/lowbit_cost.json: `export s` = lowering + writing the .tflite (calibration excluded); "
             "INT4 = `--int4-weights` on the symmetric-weight W4A4 calibration.", "",
             "| model | checkpoint | export | size KiB | export s | size / W8A8 | size / int8-container W4A4 |",
             "|---|---|---|---:|---:|---:|---:|"]
    for row in rows:
        e = row["exports"]
        for name, x in e.items():
            container = e.get("w4a4_sym") if name == "w4a4_sym_int4" else None
            lines.append(f"| {row['model']} | `{row['weights_sha256'][:16]}` | {name} | {x['size_bytes'] / 1024:.0f} | "
                         f"{x['export_s']:.2f} | {x['size_bytes'] / e['w8a8']['size_bytes']:.3f} | "
                         + (f"{x['size_bytes'] / container['size_bytes']:.3f}" if container else "") + " |")
    return lines


def peer_lines(rows: list[dict]) -> list[str]:
    lines = ["### W8A8 conversion time against the peer (same run)", "",
             "From bench/results/peer.json (the peer comparison's run): ours = `calibrate --bits w8a8` (RTN, 1024 images) "
             "+ export; theirs = onnx2tf (SavedModel) + TensorFlow's converter with the same 1024 images.", "",
             "| model | date | ours calibrate + export s | theirs onnx2tf + converter s | ours / theirs |",
             "|---|---|---:|---:|---:|"]
    for r in rows:
        ours = r["ours"]["calibrate_s"] + r["ours"]["export_s"]
        theirs = r["theirs"]["onnx2tf_s"] + r["theirs"]["tf_convert_s"]
        lines.append(f"| {r['model']} | {r['date']} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} |")
    return lines


def main() -> int:
    lines = [BEGIN, "## Cost: calibration, export, file size", ""]
    recon = RESULTS / "recon.json"
    if recon.exists():
        lines += calibration_lines(json.loads(recon.read_text())["rows"]) + [""]
    peer = RESULTS / "peer.json"
    if peer.exists():
        lines += peer_lines(json.loads(peer.read_text())["rows"]) + [""]
    lowbit = RESULTS / "lowbit_cost.json"
    if lowbit.exists():
        lines += export_lines(json.loads(lowbit.read_text())["rows"]) + [""]
    lines += ["catrt throughput against TFLite: section \"catrt speed\"; CAT head size and latency: the CAT "
              "ablation's \"CAT head cost\" tables; low-bit graph latency: \"Cost of low bits\". Bench: "
              "`bench/cost_table.py`.", END]
    write_doc("\n".join(lines), BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
