"""CLI commands that check an exported model: verify (bit for bit against the interpreters), inspect,
and the quantized side of eval; thin wrappers over catdeploy.check.verify / inspect_model / api."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from catdeploy.cli.app import DataRootOption, JsonOption, command, emit_json, log, parse_names
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
    from catdeploy import api
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
    inputs = _inputs_for(model, model_bytes, x)
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


def _inputs_for(path: Path, model_bytes: bytes, x):
    from catdeploy import api

    try:
        _check_model_io(path, model_bytes)
        return api.prepare_inputs(model_bytes, x)
    except Exception as exc:  # catrt rejects the file: report it as a bad input file
        from catrt import CatrtError

        if isinstance(exc, CatrtError):
            raise UserError(f"{path}: {exc}") from None
        raise


def _eval_profile(interpreter: str, resolver: str) -> str:
    """The catrt profile of an interpreter + resolver on this CPU (a UserError if catrt has none)."""
    from catrt import CatrtError
    from catrt.profiles import profile_for

    try:
        return profile_for(interpreter, resolver).name
    except CatrtError as exc:
        raise UserError(f"--engine catrt --interpreter {interpreter} --resolver {resolver}: {exc}") from None


def is_float_graph(model_bytes: bytes) -> bool:
    """A float32 graph (`export --bits fp32`): a float input read by an op other than QUANTIZE.
    False for a file the reader rejects (the command's own checks report it)."""
    from catrt import CatrtError
    from catrt.reader import read_model

    try:
        model = read_model(model_bytes)
    except CatrtError:
        return False
    first = model.inputs[0] if model.inputs else None
    readers = [op for op in model.operators if first in op.inputs]
    return (first is not None and model.tensors[first].dtype == "float32"
            and any(op.kind != "QUANTIZE" for op in readers))


def _check_model_io(path: Path, model_bytes: bytes) -> None:
    """The commands feed one image batch and read the first output: a valid .tflite with another
    signature is a bad input file, not a crash."""
    from catrt.interpreter import first_accepting_interpreter
    from catrt.reader import read_model

    if is_float_graph(model_bytes):  # --bits fp32: read (bounds-checked), catrt computes integers only
        model = read_model(model_bytes)
        n_in, n_out = len(model.inputs), len(model.outputs)
    else:
        interp = first_accepting_interpreter(model_bytes)
        n_in, n_out = len(interp.get_input_details()), len(interp.get_output_details())
    if n_in != 1 or n_out < 1:
        raise UserError(f"{path}: the model has {n_in} inputs and {n_out} outputs; catdeploy "
                        "runs models with one image input and at least one output")


def _eval_outputs(model_bytes: bytes, qg, x, engine: str, interpreter: str, resolver: str) -> dict:
    """Logits of one chunk of eval images: the engine's ("logits", its "label"), the reference
    resolver's when another was asked for ("reference"), and for a .qg the base and CAT heads'
    ("without_cat", "with_cat"), the eval-mode simulator's ("simulated") and the surrogate's
    ("fake_quant")."""
    from catdeploy import api
    from catdeploy.pipeline import EVAL_BATCH

    out = {}
    if engine == "catrt":
        # The batches of the interpreter path (EVAL_BATCH rows): the USE_NEON kernels'
        # vector/scalar split depends on the element count of each invoke.
        profile = _eval_profile(interpreter, resolver)
        out["logits"] = api.run_catrt(model_bytes, x, batch_size=EVAL_BATCH, profile=profile)
        out["label"] = f"catrt ({profile})"
        if resolver != "ref":
            out["reference"] = api.run_catrt(model_bytes, x, batch_size=EVAL_BATCH,
                                             profile=_eval_profile(interpreter, "ref"))
    else:
        from catdeploy.check.interpreters import run_batches

        out["logits"], version = run_batches(model_bytes, api.prepare_inputs, x, interpreter, resolver, EVAL_BATCH)
        out["label"] = f"{interpreter} {version} ({resolver})"
        if resolver != "ref":
            out["reference"] = run_batches(model_bytes, api.prepare_inputs, x, interpreter, "ref", EVAL_BATCH)[0]
    if qg is not None and qg.cat is not None:
        out.update(api.integer_logits_with_and_without_cat(qg, x))
    if qg is not None:
        from catdeploy.quant.simulate import simulate_batches

        # The simulator in eval mode (integer-exact: catrt on the lowered program, what
        # quant.simulate.integer_outputs runs; model_bytes is that program, lowered once) beside
        # the engine: they must agree exactly.
        profile = _eval_profile(interpreter, resolver)
        out["simulated"] = (out["logits"] if engine == "catrt" else
                            api.run_catrt(model_bytes, x, batch_size=EVAL_BATCH, profile=profile))
        out["fake_quant"] = simulate_batches(qg, x)
    return out


def eval_quantized(source: Path, data: str, samples: int | None, engine: str, data_root,
                   interpreter: str = "tflite-runtime", resolver: str = "ref") -> dict:
    """Top-1/top-5 of a .tflite (engine catrt or tflite) or a .qg (exported on the fly; also fake-quant).

    engine tflite runs `interpreter` with `resolver` (ref, builtin, nodelegate, auto: the optimized
    kernels / XNNPACK a device runs by default); engine catrt runs catrt with the arithmetic profile
    of that interpreter and resolver on this CPU, so both give the same integer top-1. With a
    resolver other than ref the reference top-1 is reported beside it ("top1_ref")."""
    import numpy as np

    from catdeploy import api
    from catdeploy.check.interpreters import INTERPRETERS, RESOLVERS, available_interpreters
    from catdeploy.pipeline import eval_chunks, load_model_bytes, load_quantized, preprocessing_for_model

    if engine not in ("catrt", "tflite"):
        raise UserError(f"--engine {engine!r} is not one of catrt, tflite")
    if interpreter not in INTERPRETERS:
        raise UserError(f"--interpreter {interpreter!r} is not one of {', '.join(INTERPRETERS)}")
    if resolver not in RESOLVERS:
        raise UserError(f"--resolver {resolver!r} is not one of {', '.join(RESOLVERS)}")
    if engine == "tflite" and interpreter not in available_interpreters():
        raise UserError(f"--interpreter {interpreter}: not installed "
                        f"(installed: {', '.join(available_interpreters()) or 'none'})")
    if source.suffix == ".qg":
        qg = load_quantized(source)
        model_bytes = api.export_tflite(api.lower(qg))
    else:
        model_bytes = load_model_bytes(source)
        qg = None
    parts, labels = [], []
    for x, y in eval_chunks(data, samples, data_root=None if data_root is None else str(data_root),
                            prep=preprocessing_for_model(source, model_bytes, qg)):
        if not parts:
            _inputs_for(source, model_bytes, x[:1])
            if engine == "catrt" and is_float_graph(model_bytes):
                raise UserError(f"{source}: a float32 graph (export --bits fp32); catrt runs integer graphs "
                                f"only, use --engine tflite")
        parts.append(_eval_outputs(model_bytes, qg, x, engine, interpreter, resolver))
        labels.append(y)
    y = np.concatenate(labels)
    label = parts[0].pop("label")
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    logits, reference = out["logits"], out.get("reference")
    result = {"top1": api.top_k(logits, y, 1) * 100, "top5": api.top_k(logits, y, 5) * 100, "n": int(len(y)),
              "engine": label, "interpreter": interpreter, "resolver": resolver}
    if reference is not None:
        result["top1_ref"] = api.top_k(reference, y, 1) * 100
        result["top1_agreement_with_ref"] = float(np.mean(np.argmax(logits, 1) == np.argmax(reference, 1)))
    if qg is not None and qg.cat is not None:
        result["top1_without_cat"] = api.top_k(out["without_cat"], y, 1) * 100
        result["top1_with_cat"] = api.top_k(out["with_cat"], y, 1) * 100
        result["cat"] = {"clusters": int(qg.cat["clusters"]), "alpha": float(qg.cat["alpha"])}
    if qg is not None:
        simulated = out["simulated"]
        result["simulator_top1"] = api.top_k(simulated, y, 1) * 100
        result["simulator_differing_elements"] = int(np.count_nonzero(simulated != logits))
        result["fake_quant_top1"] = api.top_k(out["fake_quant"], y, 1) * 100
        result["method"] = qg.meta.get("method")
    return result


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
        images = _inputs_for(model, model_bytes, x)
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
    typer.echo(f"float ops: {info['float_ops'] or 'none'}")
    if info["activations_checked"]:
        typer.echo(f"activation tensors over 2^b distinct values: {info['activation_violations'] or 'none'}"
                   f" ({info['n_images']} images)")
    typer.echo(f"weight channels over 2^b distinct values: {info['weight_violations'] or 'none'}")
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
            typer.echo(f"  held-out top-1 {head['heldout_top1_none']:.2f} -> {head['heldout_top1']:.2f} % "
                       f"({gain:+.2f}, {head['held_out_images']} images; fitted on {head['fit_logits']} logits); "
                       f"A <= 0 handling: {head['negative_scale_handling']} at {head['a_floor']} "
                       f"({head['floored_channels']} channels floored)")
