"""CLI command ``report``: Markdown + self-contained HTML page (with plots) of a run folder.

Registered on catdeploy.cli.app; a thin wrapper over catdeploy.report.build (docs: REPORT.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from catdeploy.cli.app import DataOption, DataRootOption, JsonOption, command, emit_json, log, parse_names


@command("report", examples=[
    "catdeploy report runs/fmnist --data fashion-mnist",
    "catdeploy report runs/fmnist --data fashion-mnist --samples 1000 --output runs/fmnist/page --force",
    "catdeploy report runs/digits --data digits --resolvers ref,builtin --json",
])
def report_command(
    run_dir: Path = typer.Argument(..., help="Folder holding the run's .qg archives and/or .tflite files (with MODEL.tflite.json)."),
    data: str = DataOption,
    samples: int = typer.Option(256, "--samples", "-n", help="Evaluate on the first N images of DATA's evaluation split."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder for report.md, report.html, report.json and the PNGs (default RUN_DIR/report)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing report."),
    resolvers: str = typer.Option("ref", "--resolvers", help="Comma-separated resolvers of the bit-exactness matrix: ref, builtin, nodelegate, auto."),
    interpreters: str = typer.Option("all", "--interpreters", help="Comma-separated interpreters of the bit-exactness matrix (tflite-runtime, litert, tensorflow) or all (the installed ones)."),
    verify_samples: int = typer.Option(32, "--verify-samples", help="Images of the bit-exactness check (the first N; every tensor is compared)."),
    data_root: Optional[Path] = DataRootOption,
    json_out: bool = JsonOption,
) -> None:
    """Accuracy by bit width and method, per-layer SQNR, CAT clusters and gains, distinct levels per
    tensor and the bit-exactness matrix of every model in RUN_DIR, as Markdown and one HTML page."""
    from catdeploy.report.build import build_report
    from catdeploy.report.collect import ReportOptions

    from catdeploy.check.verify import INTERPRETERS, RESOLVERS

    chosen = None if interpreters == "all" else parse_names(interpreters, INTERPRETERS, "--interpreters")
    opts = ReportOptions(data=data, samples=samples, verify_samples=verify_samples, interpreters=chosen,
                         resolvers=parse_names(resolvers, RESOLVERS, "--resolvers"),
                         data_root=None if data_root is None else str(data_root))
    report, written = build_report(run_dir, opts, output, force, log=log)
    if json_out:
        emit_json(report)
        return
    for m in report["models"]:
        typer.echo(f"{m['name']:28s} {m['label']:20s} integer top-1 {m['int_top1']:6.2f} %"
                   + ("" if m["fp_top1"] is None else f"  (FP {m['fp_top1']:.2f} %)"))
    html = next(p for p in written if p.name == "report.html")
    typer.echo(f"report: {html} ({len(written)} files in {html.parent})")
