"""CLI commands of the integer spine: calibrate, export, verify, eval (quantized), inspect, demo.

Registered on catdeploy.cli.app; thin wrappers over catdeploy.pipeline / api / verify / inspect_model.
"""
from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from catdeploy.cli import DataRootOption, JsonOption, command, emit_json
from catdeploy.errors import CheckFailed, UserError


def log(message: str) -> None:
    print(message, file=sys.stderr)


def _parse_overrides(items: list[str] | None, option: str) -> dict[str, int]:
    out = {}
    for item in items or []:
        name, sep, bits = item.rpartition("=")
        if not sep or not name:
            raise UserError(f"{option} {item!r}: expected LAYER_GLOB=BITS")
        try:
            out[name] = int(bits)
        except ValueError:
            raise UserError(f"{option} {item!r}: bits must be an integer") from None
    return out


def _calibrate_options(bits, method, samples, seed, strict, symmetric, observer, data_root,
                       weight_bits, act_bits, cat=False, clusters="auto", alpha="auto", cat_views=0,
                       affine_layers=False, preset="default", convention="default", device="cpu",
                       iterations=None, input_size=None, mean=None, std=None, grayscale=None):
    from catdeploy.cat.select import parse_alpha, parse_clusters
    from catdeploy.data.preprocess import parse_input_size, user_normalization
    from catdeploy.pipeline import CalibrateOptions

    if samples < 1:
        raise UserError(f"--samples {samples}: must be at least 1")
    if input_size is not None:
        parse_input_size(input_size)
    norm = user_normalization(mean, std)
    if norm is not None and grayscale and len(norm.mean) != 1:
        raise UserError(f"--grayscale takes one --mean/--std value, got {len(norm.mean)}")
    return CalibrateOptions(input_size=input_size, grayscale=grayscale,
                            mean=None if norm is None else norm.mean, std=None if norm is None else norm.std,
                            bits=bits, method=method, samples=samples, seed=seed, strict=strict,
                            symmetric_weights=symmetric, observer=observer,
                            data_root=None if data_root is None else str(data_root),
                            weight_overrides=_parse_overrides(weight_bits, "--weight-bits"),
                            act_overrides=_parse_overrides(act_bits, "--act-bits"),
                            cat=cat, clusters=parse_clusters(clusters), alpha=parse_alpha(alpha),
                            cat_views=_check_views(cat_views), affine_layers=affine_layers,
                            preset=preset, convention=convention, device=device,
                            iterations=_check_iterations(iterations))


def _check_iterations(iterations: int | None) -> int | None:
    if iterations is not None and iterations < 1:
        raise UserError(f"--iters {iterations}: must be at least 1")
    return iterations


def _check_views(views: int) -> int:
    if views < 0:
        raise UserError(f"--cat-views {views}: must be at least 0")
    return views


BitsOption = typer.Option("w4a4", "--bits", "-b", help="wXaY: weight and activation bits, each 2..8 "
                          "(w8a8, w4a4, w2a4, w4a2, w2a2, w3a3, w4a8, ...).")
MethodOption = typer.Option("rtn", "--method", help="rtn, adaround, brecq, qdrop or pdquant (reconstruction "
                            "against the integer-exact simulator's training mode).")
PresetOption = typer.Option("default", "--preset", help="Reconstruction effort: fast (~2 min for ResNet-18 on 2 "
                            "cores), default (~15 min) or paper (20 000 iterations per unit).")
ConventionOption = typer.Option("default", "--convention", help="default, paper (BRECQ/QDrop/PD-Quant analogue: "
                                "block outputs at the activation bits on the skip path too) or strict.")
DeviceOption = typer.Option("cpu", "--device", help="Reconstruction device: cpu or cuda.")
ItersOption = typer.Option(None, "--iters", help="Reconstruction iterations per unit (overrides the preset's).")
SamplesOption = typer.Option(1024, "--samples", help="Calibration images drawn (seeded) from the train split.")
SeedOption = typer.Option(0, "--seed", help="Seed of the calibration draw.")
StrictOption = typer.Option(False, "--strict", help="Configured bits everywhere except input and logits.")
SymmetricOption = typer.Option(False, "--symmetric-weights", help="Symmetric weight grids (zero point 0).")
ObserverOption = typer.Option("lp", "--observer", help="Range observer: lp (p=2.4 grid search) or minmax.")
CatOption = typer.Option(False, "--cat/--no-cat", help="Fit CAT on the integer logits and fold it into the "
                         "exported graph (K, alpha selected on a held-out part of the calibration images).")
ClustersOption = typer.Option("auto", "--clusters", help="CAT clusters K, or auto (held-out selection among 1..64).")
AlphaOption = typer.Option("auto", "--alpha", help="CAT blend alpha in (0, 1], or auto (held-out selection).")
CatViewsOption = typer.Option(0, "--cat-views", help="Augmented views (flips / shifts) per fit image for CAT.")
AffineLayersOption = typer.Option(False, "--affine-layers/--no-affine-layers", help="Per-channel affine "
                                  "correction inside the network, folded into each layer (held-out selected).")
ModelArgument = typer.Argument(..., help="torchvision model name, path/to/model.py:factory or "
                               "package.module:factory (a callable returning your nn.Module).")
InputSizeOption = typer.Option(None, "--input-size", help="Model input H or HxW in pixels (default: the "
                               "checkpoint's, else 32).")
MeanOption = typer.Option(None, "--mean", help="Per-channel mean, 1 or 3 comma-separated values in [0, 1] "
                          "units (default: the checkpoint's, the dataset's constants, or the data's own).")
StdOption = typer.Option(None, "--std", help="Per-channel std, with --mean.")
GrayscaleOption = typer.Option(None, "--grayscale/--rgb", help="1-channel input (RGB data converted to luma) "
                               "or 3 (grey data replicated); default: the checkpoint's, else RGB.")
WeightBitsOption = typer.Option(None, "--weight-bits", help="Per-layer override LAYER_GLOB=BITS (repeatable).")
ActBitsOption = typer.Option(None, "--act-bits", help="Input bits of matching layers LAYER_GLOB=BITS (repeatable).")


@command("calibrate", examples=[
    "catdeploy calibrate resnet18 --weights r18.pt --data fashion-mnist --bits w4a4 -o r18_w4a4.qg",
    "catdeploy calibrate mobilenet_v2 --weights mbv2.pt --data fashion-mnist --bits w2a2 --strict -o m.qg",
    "catdeploy calibrate resnet18 --weights r18.pt --data fashion-mnist --bits w2a2 --cat --affine-layers -o r18.qg",
    "catdeploy calibrate resnet18 --weights r18.pt --data fashion-mnist --bits w4a4 --cat --clusters 64 --alpha 0.4 --cat-views 2 -o r18.qg",
    "catdeploy calibrate my_net.py:build --weights my_net.pt --data imagefolder:photos/train --input-size 64 --mean 0.5,0.4,0.3 --std 0.25,0.25,0.25 --bits w4a4 -o my_net.qg",
])
def calibrate_command(
    model: str = ModelArgument,
    weights: Path = typer.Option(..., "--weights", "-w", help="State dict or checkpoint (weights_only)."),
    data: str = typer.Option(..., "--data", "-d", help="Calibration data (its train split is used)."),
    output: Path = typer.Option(..., "--output", "-o", help="QuantizedGraph archive to write (.qg)."),
    bits: str = BitsOption, method: str = MethodOption, samples: int = SamplesOption,
    seed: int = SeedOption, strict: bool = StrictOption, symmetric_weights: bool = SymmetricOption,
    observer: str = ObserverOption, cat: bool = CatOption, clusters: str = ClustersOption,
    alpha: str = AlphaOption, cat_views: int = CatViewsOption, affine_layers: bool = AffineLayersOption,
    weight_bits: Optional[List[str]] = WeightBitsOption, act_bits: Optional[List[str]] = ActBitsOption,
    preset: str = PresetOption, convention: str = ConventionOption, device: str = DeviceOption,
    iters: Optional[int] = ItersOption,
    input_size: Optional[str] = InputSizeOption, mean: Optional[str] = MeanOption,
    std: Optional[str] = StdOption, grayscale: Optional[bool] = GrayscaleOption,
    data_root: Optional[Path] = DataRootOption,
    force: bool = typer.Option(False, "--force", help="Overwrite OUTPUT."),
    json_out: bool = JsonOption,
) -> None:
    """Quantize a float model: capture, plan the bit widths, calibrate; writes a .qg archive (no pickle)."""
    from catdeploy.pipeline import calibrate_model
    from catdeploy.quant.quantized_graph import save_quantized_graph
    from catdeploy.util_io import check_output_path

    check_output_path(output, force)
    opts = _calibrate_options(bits, method, samples, seed, strict, symmetric_weights, observer, data_root,
                              weight_bits, act_bits, cat, clusters, alpha, cat_views, affine_layers,
                              preset, convention, device, iters, input_size, mean, std, grayscale)
    t0 = time.perf_counter()
    with reconstruction_progress(method) as progress:
        qg = calibrate_model(model, str(weights), data, opts, log=log, progress=progress)
    seconds = round(time.perf_counter() - t0, 2)
    save_quantized_graph(qg, output)
    result = {"output": str(output), "setting": qg.plan.setting, "method": qg.meta.get("method"),
              "calibration_images": qg.meta.get("calibration_images"), "seconds": seconds,
              "cat": _cat_summary(qg), "affine_layers": qg.meta.get("affine_layers")}
    emit_json(result) if json_out else typer.echo(f"{output}: {model} {qg.plan.setting} ({method})")


@command("export", examples=[
    "catdeploy export r18_w4a4.qg --target tflite -o r18_w4a4.tflite",
    "catdeploy export resnet18 --weights r18.pt --data fashion-mnist --bits w4a4 --target tflite -o r18.tflite",
    "catdeploy export resnet18 --weights r18.pt --data fashion-mnist --bits w2a4 --cat --target tflite -o r18_cat.tflite",
    "catdeploy export my_net.py:build --weights my_net.pt --data imagefolder:unlabeled_photos --input-size 96x128 --bits w4a8 -o my_net.tflite",
])
def export_command(
    source: str = typer.Argument(..., help="A .qg archive, or a model (torchvision name, path/to/model.py:factory, "
                                 "package.module:factory) with --weights/--data."),
    target: str = typer.Option("tflite", "--target", help="Export target (tflite)."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write; a manifest OUTPUT.json is written beside it."),
    io: str = typer.Option("int8", "--io", help="int8 (default) or float model inputs/outputs."),
    int4_weights: bool = typer.Option(False, "--int4-weights", help="Pack <=4-bit weights as TFLite INT4 (2 per byte; use with --symmetric-weights for 4 bit). Not loadable by tflite-runtime 2.14's ref resolver."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="With a model name."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="With a model name: calibration data."),
    bits: str = BitsOption, method: str = MethodOption, samples: int = SamplesOption,
    seed: int = SeedOption, strict: bool = StrictOption, symmetric_weights: bool = SymmetricOption,
    observer: str = ObserverOption, cat: bool = CatOption, clusters: str = ClustersOption,
    alpha: str = AlphaOption, cat_views: int = CatViewsOption, affine_layers: bool = AffineLayersOption,
    weight_bits: Optional[List[str]] = WeightBitsOption, act_bits: Optional[List[str]] = ActBitsOption,
    preset: str = PresetOption, convention: str = ConventionOption, device: str = DeviceOption,
    iters: Optional[int] = ItersOption,
    input_size: Optional[str] = InputSizeOption, mean: Optional[str] = MeanOption,
    std: Optional[str] = StdOption, grayscale: Optional[bool] = GrayscaleOption,
    data_root: Optional[Path] = DataRootOption,
    golden: int = typer.Option(0, "--golden", help="Also write MODEL.golden.npz: N seeded int8 inputs and the expected outputs of every catrt profile (check on a device: python -m catrt check MODEL.tflite MODEL.golden.npz)."),
    force: bool = typer.Option(False, "--force", help="Overwrite OUTPUT and its manifest."),
    json_out: bool = JsonOption,
) -> None:
    """Write an integer-only TFLite graph (int8 containers holding 2/4/8-bit values, int32 biases)."""
    from catdeploy.pipeline import calibrate_model, export_quantized, load_quantized
    from catdeploy.util_io import check_output_path

    if target != "tflite":
        raise UserError(f"--target {target!r}: only 'tflite' is supported")
    check_output_path(output, force)
    if not 0 <= golden <= 4096:
        raise UserError(f"--golden {golden}: must be between 0 and 4096")
    from catdeploy.data.user_model import is_user_model

    if not is_user_model(source) and (Path(source).suffix == ".qg" or Path(source).is_file()):
        qg = load_quantized(Path(source))
        origin = {"quantized_graph": source}
    else:
        if weights is None or data is None:
            raise UserError(f"export {source}: a model name needs --weights and --data (or pass a .qg file)")
        opts = _calibrate_options(bits, method, samples, seed, strict, symmetric_weights, observer,
                                  data_root, weight_bits, act_bits, cat, clusters, alpha, cat_views, affine_layers,
                                  preset, convention, device, iters, input_size, mean, std, grayscale)
        with reconstruction_progress(method) as progress:
            qg = calibrate_model(source, str(weights), data, opts, log=log, progress=progress)
        origin = {"model": source, "weights": str(weights), "data": data}
    manifest = export_quantized(qg, output, io=io, force=force, source=origin, int4_weights=int4_weights,
                                golden=golden)
    result = {"output": str(output), "manifest": str(output) + ".json", "size_bytes": manifest["size_bytes"],
              "sha256": manifest["sha256"], "setting": manifest["setting"],
              "extra_clamp_ops": manifest["extra_clamp_ops"]}
    if golden:
        from catdeploy.pipeline import golden_path

        result["golden"] = str(golden_path(output))
    emit_json(result) if json_out else typer.echo(
        f"{output}: {manifest['size_bytes']} bytes, {manifest['setting']}, sha256 {manifest['sha256'][:16]}")


@contextlib.contextmanager
def reconstruction_progress(method: str):
    """A rich progress bar on stderr (unit, iteration, loss) for reconstruction methods; None for rtn."""
    if method == "rtn":
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("loss {task.fields[loss]:.4g}"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(method, total=1, loss=float("nan"))

        def update(step) -> None:
            bar.update(task, description=f"{method} unit {step.unit_index + 1}/{step.units} {step.unit}",
                       completed=step.iteration, total=step.iterations, loss=step.loss)
        yield update


def _cat_summary(qg) -> dict | None:
    sel = qg.meta.get("cat_selection")
    if sel is None:
        return None
    out = {k: v for k, v in sel.items() if k != "candidates"}
    if qg.cat is not None:
        out.update({"clusters": int(qg.cat["clusters"]), "alpha": float(qg.cat["alpha"]), "pca": qg.cat["pca"]})
    return out


def _expand(value: str, allowed: tuple[str, ...], option: str) -> list[str]:
    if value == "all":
        return list(allowed)
    items = [v.strip() for v in value.split(",") if v.strip()]
    for v in items:
        if v not in allowed:
            raise UserError(f"{option} {v!r} is not one of {', '.join(allowed)}, all")
    return items


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
    from catdeploy.interpreters import available_interpreters
    from catdeploy.pipeline import eval_images, load_model_bytes, preprocessing_for_model
    from catdeploy.verify import INTERPRETERS, RESOLVERS, verify_model

    model_bytes = load_model_bytes(model)
    interps = _expand(interpreter, INTERPRETERS, "--interpreter")
    if interpreter == "all":
        interps = [i for i in interps if i in available_interpreters()]
    resolvers = _expand(resolver, RESOLVERS, "--resolver")
    x, _ = eval_images(data, samples, data_root=None if data_root is None else str(data_root),
                       prep=preprocessing_for_model(model, model_bytes))
    inputs = _inputs_for(model, model_bytes, x)
    reports = verify_model(model_bytes, inputs, interps, resolvers,
                           progress=None if json_out else lambda r: log(
                               f"{r.interpreter} {r.version} {r.resolver}: {r.mismatched_elements} mismatched"))
    bit_exact = all(r.bit_exact for r in reports)
    if json_out:
        emit_json({"bit_exact": bit_exact, "images": int(len(x)), "runs": [r.to_dict() for r in reports]})
    else:
        for r in reports:
            status = "bit-exact" if r.bit_exact else ("ERROR " + r.error if r.error else "MISMATCH")
            first = ""
            if r.first_mismatch:
                m = r.first_mismatch
                first = (f"  first: {m['tensor']}" + (f"{m['index']} catrt {m['catrt']} tflite {m['tflite']}"
                                                      if "index" in m else " (shapes differ)"))
            typer.echo(f"{r.interpreter:15s} {r.version:8s} {r.resolver:10s} profile {r.profile:24s} "
                       f"tensors {r.tensors_compared:4d} mismatched {r.mismatched_elements:8d} "
                       f"max|diff| {r.max_abs_diff}  {status}{first}")
    if not bit_exact:
        raise CheckFailed(f"{model}: not bit-exact in {sum(not r.bit_exact for r in reports)} of {len(reports)} runs")


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


def _check_model_io(path: Path, model_bytes: bytes) -> None:
    """The commands feed one image batch and read the first output: a valid .tflite with another
    signature is a bad input file, not a crash."""
    from catrt import Interpreter

    interp = Interpreter(model_bytes)
    n_in, n_out = len(interp.get_input_details()), len(interp.get_output_details())
    if n_in != 1 or n_out < 1:
        raise UserError(f"{path}: the model has {n_in} inputs and {n_out} outputs; catdeploy "
                        "runs models with one image input and at least one output")


def eval_quantized(source: Path, data: str, samples: int | None, engine: str, data_root,
                   interpreter: str = "tflite-runtime", resolver: str = "ref") -> dict:
    """Top-1/top-5 of a .tflite (engine catrt or tflite) or a .qg (exported on the fly; also fake-quant).

    engine tflite runs `interpreter` with `resolver` (ref, builtin, nodelegate, auto: the optimized
    kernels / XNNPACK a device runs by default); engine catrt runs catrt with the arithmetic profile
    of that interpreter and resolver on this CPU, so both give the same integer top-1. With a
    resolver other than ref the reference top-1 is reported beside it ("top1_ref")."""
    import numpy as np

    from catdeploy import api
    from catdeploy.interpreters import INTERPRETERS, RESOLVERS, available_interpreters
    from catdeploy.pipeline import eval_images, load_model_bytes, load_quantized, preprocessing_for_model

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
    x, y = eval_images(data, samples, data_root=None if data_root is None else str(data_root),
                       prep=preprocessing_for_model(source, model_bytes, qg))
    _inputs_for(source, model_bytes, x[:1])
    if engine == "catrt":
        # The batches of the interpreter path (256 rows): the USE_NEON kernels' vector/scalar
        # split depends on the element count of each invoke.
        profile = _eval_profile(interpreter, resolver)
        logits = api.run_catrt(model_bytes, x, batch_size=256, profile=profile)
        label = f"catrt ({profile})"
        reference = (api.run_catrt(model_bytes, x, batch_size=256, profile=_eval_profile(interpreter, "ref"))
                     if resolver != "ref" else None)
    else:
        from catdeploy.interpreters import run_batches

        logits, version = run_batches(model_bytes, api.prepare_inputs, x, interpreter, resolver)
        label = f"{interpreter} {version} ({resolver})"
        reference = (run_batches(model_bytes, api.prepare_inputs, x, interpreter, "ref")[0]
                     if resolver != "ref" else None)
    result = {"top1": api.top_k(logits, y, 1) * 100, "top5": api.top_k(logits, y, 5) * 100, "n": int(len(y)),
              "engine": label, "interpreter": interpreter, "resolver": resolver}
    if reference is not None:
        result["top1_ref"] = api.top_k(reference, y, 1) * 100
        result["top1_agreement_with_ref"] = float(np.mean(np.argmax(logits, 1) == np.argmax(reference, 1)))
    if qg is not None and qg.cat is not None:
        split = api.integer_logits_with_and_without_cat(qg, x)
        result["top1_without_cat"] = api.top_k(split["without_cat"], y, 1) * 100
        result["top1_with_cat"] = api.top_k(split["with_cat"], y, 1) * 100
        result["cat"] = {"clusters": int(qg.cat["clusters"]), "alpha": float(qg.cat["alpha"])}
    if qg is not None:
        from catdeploy.quant.simulate import integer_outputs, simulate_batches

        # The simulator in eval mode (integer-exact) beside the engine: they must agree exactly.
        simulated = integer_outputs(qg, x, profile=_eval_profile(interpreter, resolver))
        result["simulator_top1"] = api.top_k(simulated, y, 1) * 100
        result["simulator_differing_elements"] = int(np.count_nonzero(simulated != logits))
        result["fake_quant_top1"] = api.top_k(simulate_batches(qg, x), y, 1) * 100
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
    from catdeploy.inspect_model import inspect_model
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
        typer.echo(f"{'bits':6s} {'CAT':14s} {'int top-1':>10s} {'held-out':>9s}  bit-exact (every tensor, "
                   f"{summary['n_verify']} images, reference resolvers)")
        for r in summary["rows"]:
            exact = ", ".join(f"{v['interpreter']} {v['version']}: {'yes' if v['bit_exact'] else 'NO'}"
                              for v in r["verify"])
            typer.echo(f"{r['bits']:6s} {'none':14s} {r['int_top1_without_cat'] * 100:9.2f}% "
                       f"{_pct(r['heldout_top1_without_cat'])}")
            cat = f"K={r['clusters']} a={r['alpha']}" if r["cat_applied"] else "not selected"
            typer.echo(f"{r['bits']:6s} {cat:14s} {r['int_top1_with_cat'] * 100:9.2f}% "
                       f"{_pct(r['heldout_top1_with_cat'])}  {exact}")
    if not summary["bit_exact"]:
        raise CheckFailed("demo: catrt and a TFLite interpreter disagree")


def _pct(value) -> str:
    return f"{value:8.2f}%" if value is not None else f"{'-':>9s}"
