"""build_report: discover -> collect -> plots -> render -> write, refusing to overwrite without force."""
from __future__ import annotations

import json
from pathlib import Path

from catdeploy.errors import UserError
from catdeploy.report.collect import ReportOptions, collect
from catdeploy.report.plots import PLOTS, draw_all
from catdeploy.report.render import report_blocks, to_html, to_markdown
from catdeploy.util_io import atomic_write_bytes, check_output_path

TEXT_FILES = ("report.md", "report.html", "report.json")


def output_files() -> tuple[str, ...]:
    """Every file name the report may write (checked before any work starts)."""
    return (*TEXT_FILES, *PLOTS)


def check_output_dir(out_dir: Path, force: bool, option: str = "--output") -> None:
    """Refuse an existing report file without --force, naming it; a file in place of the folder too."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{option} {out_dir}: is a file, not a folder")
    if not force:
        for name in output_files():
            if (out_dir / name).exists():
                raise UserError(f"{out_dir / name}: already exists (pass --force to overwrite)")
    if not out_dir.parent.is_dir():
        raise UserError(f"{option} {out_dir}: folder {out_dir.parent} does not exist")


def render_files(report: dict) -> dict[str, bytes]:
    """{file name: bytes} of the whole report: figures, report.md, report.html, report.json."""
    figures = draw_all(report)
    blocks = report_blocks(report, figures)
    title = f"catdeploy report: {report['run_dir']}"
    return {
        **figures,
        "report.md": to_markdown(blocks).encode(),
        "report.html": to_html(blocks, figures, title).encode(),
        "report.json": (json.dumps(report, indent=1) + "\n").encode(),
    }


def write_files(out_dir: Path, files: dict[str, bytes], force: bool) -> list[Path]:
    """Write each file atomically into out_dir (created if missing); stale figures of an earlier
    report that this run has no data for are removed under --force."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(exist_ok=True)
    except OSError as exc:
        raise UserError(f"--output {out_dir}: cannot create the folder ({exc.strerror})") from None
    written = []
    for name, data in files.items():
        path = check_output_path(out_dir / name, force, option="--output")
        atomic_write_bytes(path, data)
        written.append(path)
    for name in PLOTS:
        if name not in files and force:
            (out_dir / name).unlink(missing_ok=True)
    return written


def build_report(run_dir: Path, opts: ReportOptions, out_dir: Path | None = None, force: bool = False,
                 log=lambda m: None) -> tuple[dict, list[Path]]:
    """(the numbers, the files written) of the report of the models in run_dir."""
    from catdeploy.report.discover import discover

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "report"
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a folder")
    check_output_dir(out_dir, force)
    models = discover(run_dir)
    report = collect(models, opts, str(run_dir), log=log)
    return report, write_files(out_dir, render_files(report), force)
