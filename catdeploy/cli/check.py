"""CLI commands that check an exported model: verify (bit for bit against the interpreters), inspect,
and the quantized side of eval; thin wrappers over catdeploy.check.verify / inspect_model."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from catdeploy.cli.app import DataRootOption, JsonOption, command, emit_json, log, parse_names
from catdeploy.check.model_io import is_float_graph, model_inputs_for
from catdeploy.errors import CheckFailed, UserError


@command("verify", examples=[
    "catdeploy verify r18_w4a4.tflite --data fashion-mnist:test --samples 256 --interpreter all --resolver ref",
    "catdeploy verify m.tflite --data digits --interpreter litert --json",
])
def verify_command(
    model: Path = typer.Argument(..., help="The .tflite file."),
    data: str = typer.Option(..., "--data", "-d", help="Images to run (test split unless named)."),
    samples: int = typer.Option(256, "--samples", "-n", help="Number of images (the first N)."),
    interpreter: str = typer.Option("all", "--interpreter", help="tflite-runtime, litert, tensorflow or all (installed ones)."),
    resolver: str = typer.Option("ref", "--resolver", help="ref, builtin, nodelegate, auto or all."),
    data_root: Optional[Path] = DataRootOption,
    json_out: bool = JsonOption,
) -> None:
    """Run catrt and each TFLite interpreter on the same int8 inputs; compare every tensor bit for bit.

    Exit 0 when every run is bit-exact, 1 otherwise.
    """
    from catdeploy.check.interpreters import available_interpreters
    from catdeploy.pipeline import eval_images, load_model_bytes, preprocessing_for_model
    from catdeploy.check.verify import INTERPRETERS, RESOLVERS, verify_model

    model_bytes = load_model_bytes(model)
    if is_float_graph(model_bytes):
        raise UserError(f"{model}: a float32 graph (export --bits fp32); verify compares integer graphs with catrt, "
                        f"which computes integers only")
    interps = parse_names(interpreter, INTERPRETERS, "--interpreter")
    if interpreter == "all":
        interps = [i for i in interps if i in available_interpreters()]
    resolvers = parse_names(resolver, RESOLVERS, "--resolver")
    x, _ = eval_images(data, samples, data_root=None if data_root is None else str(data_root),
                       prep=preprocessing_for_model(model, model_bytes))
    inputs = model_inputs_for(model, model_bytes, x)
    reports = verify_model(model_bytes, inputs, interps, resolvers,
                           progress=None if json_out else lambda r: log(
                               f"{r.interpreter} {r.version} {r.resolver}: {r.mismatched_elements} mismatched"))
    bit_exact = all(r.bit_exact or r.refused_by_both for r in reports) and any(r.bit_exact for r in reports)
    if json_out:
        emit_json({"bit_exact": bit_exact, "images": int(len(x)), "runs": [r.to_dict() for r in reports]})
    else:
        for r in reports:
            status = ("bit-exact" if r.bit_exact else
                      f"refused by the interpreter and by catrt's profile: {r.error}" if r.refused_by_both else
                      "ERROR " + r.error if r.error else "MISMATCH")
            first = ""
            if r.first_mismatch:
                m = r.first_mismatch
                first = (f"  first: {m['tensor']}" + (f"{m['index']} catrt {m['catrt']} tflite {m['tflite']}"
                                                      if "index" in m else " (shapes differ)"))
            typer.echo(f"{r.interpreter:15s} {r.version:8s} {r.resolver:10s} profile {r.profile:24s} "
                       f"tensors {r.tensors_compared:4d} mismatched {r.mismatched_elements:8d} "
                       f"max|diff| {r.max_abs_diff}  {status}{first}")
    if not bit_exact:
        failed = sum(not (r.bit_exact or r.refused_by_both) for r in reports)
        raise CheckFailed(f"{model}: not bit-exact in {failed} of {len(reports)} runs"
                          + ("" if failed else " (no run loaded the model)"))
    refused = sum(r.refused_by_both for r in reports)
    if refused and not json_out:
        log(f"{refused} of {len(reports)} runs cannot load the model (catrt's profile refuses it too); "
            "every run that loads is bit-exact")


@command("inspect", examples=[
    "catdeploy inspect r18_w4a4.tflite",
    "catdeploy inspect r18_w4a4.tflite --data fashion-mnist:test --samples 1000 --json",
])
def inspect_command(
    model: Path = typer.Argument(..., help="The .tflite file (its manifest MODEL.json is read if present)."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Also count distinct values of every activation on these images."),
    samples: Optional[int] = typer.Option(None, "--samples", "-n", help="First N images of --data."),
    data_root: Optional[Path] = DataRootOption,
    json_out: bool = JsonOption,
) -> None:
    """Ops, tensors (dtype, shape, scale, zero point, bit width, distinct values), size breakdown."""
    from catdeploy.check.inspect_model import inspect_model
    from catdeploy.pipeline import eval_images, load_model_bytes, preprocessing_for_model

    model_bytes = load_model_bytes(model)
    manifest_path = model.with_name(model.name + ".json")
    manifest = None
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except ValueError:
            raise UserError(f"{manifest_path}: not valid JSON") from None
    images = None
    if data is not None:
        x, _ = eval_images(data, samples, data_root=None if data_root is None else str(data_root),
                           prep=preprocessing_for_model(model, model_bytes))
        images = model_inputs_for(model, model_bytes, x)
    try:
        info = inspect_model(model_bytes, manifest, images)
    except Exception as exc:
        from catrt import CatrtError

        if isinstance(exc, CatrtError):
            raise UserError(f"{model}: {exc}") from None
        raise
    if json_out:
        emit_json(info)
        return
    typer.echo(f"{model}: {len(info['ops'])} ops {info['op_counts']}")
    for t in info["tensors"]:
        extra = " ".join(f"{k}={t[k]}" for k in ("scale", "zero_point", "bits", "max_distinct_per_channel",
                                                  "distinct_values") if k in t)
        typer.echo(f"  {t['name']:40s} {t['dtype']:7s} {str(t['shape']):20s} {extra}")
    typer.echo(f"size: {info['size_bytes']}")
    sizes = info["sizes"]
    typer.echo("sizes (whole file in bytes; gzip -9):")
    typer.echo(f"  {'as written (' + (sizes['written_layout'] or 'mixed') + ')':20s} "
               f"{sizes['as_written']['bytes']:>11,}  gzip {sizes['as_written']['gzip_bytes']:>11,}")
    for layout, row in sizes["layouts"].items():
        elements = ", ".join(f"{n:,} {dtype}" for dtype, n in row["filter_elements"].items() if n)
        kept = row["low_bit_filter_elements_int8"]
        note = f" ({kept:,} of <= 4 bit kept int8: codes outside [-8, 7])" if kept and layout != "int8" else ""
        typer.echo(f"  {layout:20s} {row['bytes']:>11,}  gzip {row['gzip_bytes']:>11,}  filters: "
                   f"{elements or 'none'}{note}")
    for layout in ("int4", "int4_int2"):
        typer.echo(f"  {layout} loads in {sizes['layouts'][layout]['runs_on']}")
    typer.echo(f"float ops: {info['float_ops'] or 'none'}")
    if info["activations_checked"]:
        typer.echo(f"activation tensors over 2^b distinct values: {info['activation_violations'] or 'none'}"
                   f" ({info['n_images']} images)")
    typer.echo(f"weight channels over 2^b distinct values: {info['weight_violations'] or 'none'}")
    mixed = info.get("mixed_precision")
    if mixed:
        cost = mixed["cost"]
        typer.echo(f"mixed precision {mixed['request']}: {cost['weight_bits_per_parameter']:.3f} weight bits per "
                   f"parameter, {cost['bops_per_mac']:.2f} BOPs per MAC; held-out top-1 "
                   f"{mixed['held_out'].get('top1', float('nan')):.2f} %")
        for layer, bits in mixed["weights"].items():
            act = mixed["activations"].get(layer)
            typer.echo(f"  {layer}: w{bits}" + (f" a{act}" if act is not None else " a8 (convention)"))
    head = info.get("cat_head")
    if head:
        gain = head.get("heldout_gain")
        typer.echo(f"CAT head: K={head['clusters']} alpha={head['alpha']} pca={head['pca']}, {head['ops']} ops "
                   f"{head['op_counts']}, cluster sizes {head['cluster_sizes']}")
        typer.echo(f"  weight buffer shared by {head['weight_buffer_tensors']} tensors "
                   f"({head['weight_buffer_distinct_scales']} distinct scale sets, {head['weight_buffer_bytes']} bytes "
                   f"stored once); head-only constants {head['head_only_constant_bytes']} bytes "
                   f"({head['head_only_share_of_file'] * 100:.2f} % of the file)")
        if gain is not None:
            interval = "" if head.get("gain_low") is None else \
                f" [{head['gain_low']:+.2f}, {head['gain_high']:+.2f}] cross-fitted, modelled latency share " \
                f"{head['latency_share'] * 100:.1f} %"
            typer.echo(f"  held-out top-1 {head['heldout_top1_none']:.2f} -> {head['heldout_top1']:.2f} % "
                       f"({gain:+.2f}{interval}, {head['held_out_images']} images; fitted on {head['fit_logits']} logits); "
                       f"A <= 0 handling: {head['negative_scale_handling']} at {head['a_floor']} "
                       f"({head['floored_channels']} channels floored)")
