"""CLI command demo: the whole pipeline on the embedded default model."""
from __future__ import annotations

from pathlib import Path

import typer

from catdeploy.cli.app import JsonOption, command, emit_json, log, reconstruction_progress
from catdeploy.errors import CheckFailed, UserError



@command("demo", examples=["catdeploy demo", "catdeploy demo --bits w4a4,w2a2 --eval-samples 10000 --json"])
def demo_command(
    out_dir: Path = typer.Option(Path("demo_out"), "--out-dir", help="Where the exported models go."),
    bits: str = typer.Option("w4a4,w2a4", "--bits", "-b", help="Comma-separated bit settings."),
    eval_samples: int = typer.Option(2000, "--eval-samples", help="First N test images evaluated (10000 = all)."),
    method: str = typer.Option("auto", "--method", help="auto (BRECQ at 2 bits, RTN at 4+), rtn, adaround, "
                               "brecq, qdrop or pdquant."),
    preset: str = typer.Option("fast", "--preset", help="Reconstruction preset: fast, default or paper."),
    json_out: bool = JsonOption,
) -> None:
    """The whole pipeline on the embedded default model: calibration (+ reconstruction at 2 bits)
    + CAT, export, verify, evaluate."""
    from catdeploy.demo import run_demo
    from catdeploy.quant.plan import parse_bits

    settings = tuple(b.strip().lower() for b in bits.split(",") if b.strip())
    for b in settings:
        parse_bits(b)
    from catdeploy.quant.recon.methods import RECON_METHODS, preset as check_preset

    if method not in ("auto", "rtn") + RECON_METHODS:
        raise UserError(f"--method {method!r} is not one of auto, rtn, {', '.join(RECON_METHODS)}")
    check_preset(preset)
    summary = run_demo(out_dir, bits=settings, method=method, preset=preset, eval_samples=eval_samples, log=log,
                       progress=reconstruction_progress)
    if json_out:
        emit_json(summary)
    else:
        n = summary["n_eval"]
        typer.echo("")
        bases = "; ".join(f"{r['bits']}: " + ("RTN" if r["method"] == "rtn" else f"{r['method']} {r['preset']} preset")
                          for r in summary["rows"])
        typer.echo(f"{summary['model']} (embedded), base {bases}, FP top-1 {summary['fp_top1'] * 100:.2f} %; integer "
                   f"top-1 by catrt on the first {n} of 10000 test images" + (" (a subset, to stay within minutes; "
                   "--eval-samples 10000 for all)" if n < 10000 else ""))
        typer.echo(f"{'bits':6s} {'CAT':14s} {'int top-1':>10s} {'held-out':>9s}  CAT gain estimated by cross-fitting "
                   f"[simultaneous 95 % interval]; bit-exact (every tensor, {summary['n_verify']} images, reference "
                   "resolvers)")
        for r in summary["rows"]:
            exact = ", ".join(f"{v['interpreter']} {v['version']}: {'yes' if v['bit_exact'] else 'NO'}"
                              for v in r["verify"])
            typer.echo(f"{r['bits']:6s} {'none':14s} {r['int_top1_without_cat'] * 100:9.2f}% "
                       f"{_pct(r['heldout_top1_without_cat'])}")
            cat = f"K={r['clusters']} a={r['alpha']}" if r["cat_applied"] else "not applied"
            gain = r.get("cat_gain")
            estimate = "-" if gain is None else (f"{gain[0]:+.2f} [{gain[1]:+.2f}, {gain[2]:+.2f}] points on "
                                                 f"{r['cat_images']} CAT images" + ("" if r["cat_applied"] else
                                                                                   " (best candidate, not significant)"))
            typer.echo(f"{r['bits']:6s} {cat:14s} {r['int_top1_with_cat'] * 100:9.2f}% "
                       f"{_pct(r['heldout_top1_with_cat'] if r['cat_applied'] else r['heldout_top1_without_cat'])}  "
                       f"{estimate}; {exact}")
    if not summary["bit_exact"]:
        raise CheckFailed("demo: catrt and a TFLite interpreter disagree")


def _pct(value) -> str:
    return f"{value:8.2f}%" if value is not None else f"{'-':>9s}"
