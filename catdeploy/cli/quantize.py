"""CLI commands that quantize: calibrate (-> .qg) and export (-> .tflite + manifest); thin wrappers
over catdeploy.pipeline."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import typer

from catdeploy.cli.app import (
    DataRootOption, GrayscaleOption, InputSizeOption, JsonOption, MeanOption, StdOption, command, emit_json, log,
    reconstruction_progress,
)
from catdeploy.errors import UserError


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


@dataclass(frozen=True)
class CalibrationRecords:
    """The options records one calibrate / export command line builds, once."""

    calibration: "CalibrationOptions"
    cat: "CatOptions"
    inputs: "InputOptions"


def calibration_records(*, bits: str, method: str, samples: int | None, seed: int, strict: bool, symmetric_weights: bool,
                        observer: str, weight_bits: list[str] | None, act_bits: list[str] | None, cat: bool,
                        clusters: str, alpha: str, cat_views: int, affine_layers: bool, preset: str,
                        convention: str, device: str, iterations: int | None, input_size: str | None,
                        mean: str | None, std: str | None, grayscale: bool | None,
                        data_root: Path | None, max_drop: float | None = None,
                        held_out: int = 512, cat_samples: str = "4096",
                        cat_max_cost: float = 0.05) -> CalibrationRecords:
    """The calibration, CAT and input records of the command line's options (each checks itself)."""
    from catdeploy.cat.options import CatOptions, parse_alpha, parse_cat_samples, parse_clusters
    from catdeploy.data.preprocess import user_normalization
    from catdeploy.pipeline import InputOptions
    from catdeploy.quant.options import CalibrationOptions

    calibration = CalibrationOptions(
        bits=bits, method=method, samples=samples, seed=seed, strict=strict, convention=convention,
        symmetric_weights=symmetric_weights, observer=observer,
        weight_overrides=_parse_overrides(weight_bits, "--weight-bits"),
        act_overrides=_parse_overrides(act_bits, "--act-bits"),
        preset=preset, device=device, iterations=iterations, max_drop=max_drop, held_out=held_out)
    inputs = InputOptions(input_size=input_size, grayscale=grayscale, normalization=user_normalization(mean, std),
                          data_root=None if data_root is None else str(data_root))
    cat_options = CatOptions(enabled=cat, clusters=parse_clusters(clusters), alpha=parse_alpha(alpha),
                             views=cat_views, affine_layers=affine_layers, samples=parse_cat_samples(cat_samples),
                             max_cost=cat_max_cost, seed=seed)
    return CalibrationRecords(calibration, cat_options, inputs)


BitsOption = typer.Option("w4a4", "--bits", "-b", help="wXaY: weight and activation bits, each 2..8 "
                          "(w8a8, w4a4, w2a4, w4a2, w2a2, w3a3, w4a8, ...); auto:wXaY: mixed precision, per-layer "
                          "widths from 2, 3, 4, 5, 6, 8 within X weight bits per parameter and X*Y BOPs per MAC "
                          "(X, Y may be fractional: auto:w2.5a4); auto with --max-drop P: the smallest weight "
                          "storage within P points of FP on held-out images; export also takes fp32 (the float "
                          "model as a float32 TFLite graph).")
MaxDropOption = typer.Option(None, "--max-drop", help="With --bits auto: the largest held-out top-1 drop "
                             "(points below FP) allowed; the smallest weight storage that holds it is chosen.")
HeldOutOption = typer.Option(512, "--held-out", help="Held-out train images (beyond the calibration draw, never "
                             "the test split) that --bits auto and sensitivity measure on.")
MethodOption = typer.Option("rtn", "--method", help="rtn, adaround, brecq, qdrop or pdquant (reconstruction "
                            "against the integer-exact simulator's training mode).")
PresetOption = typer.Option("default", "--preset", help="Reconstruction effort: fast (~2 min for ResNet-18 on 2 "
                            "cores), default (~15 min) or paper (20 000 iterations per unit).")
ConventionOption = typer.Option("default", "--convention", help="default, paper (BRECQ/QDrop/PD-Quant analogue: "
                                "block outputs at the activation bits on the skip path too) or strict.")
DeviceOption = typer.Option("cpu", "--device", help="Reconstruction device: cpu or cuda.")
ItersOption = typer.Option(None, "--iters", help="Reconstruction iterations per unit (overrides the preset's).")
SamplesOption = typer.Option(None, "--samples", help="Calibration images drawn (seeded) from the train split "
                             "(default 1024, or every image of smaller data; more than the data has is an error).",
                             show_default=False)
SeedOption = typer.Option(0, "--seed", help="Seed of the calibration draw.")
StrictOption = typer.Option(False, "--strict", help="Configured bits everywhere except input and logits.")
SymmetricOption = typer.Option(False, "--symmetric-weights", help="Symmetric weight grids (zero point 0).")
ObserverOption = typer.Option("lp", "--observer", help="Range observer: lp (p=2.4 grid search) or minmax.")
CatOption = typer.Option(False, "--cat/--no-cat", help="Fit CAT on the integer logits of the CAT images and fold "
                         "it into the exported graph (K, alpha selected by cross-fitting; applied only when its "
                         "gain is significant and it pays for its cost).")
CatSamplesOption = typer.Option("4096", "--cat-samples", help="CAT images: train images beyond the calibration "
                                "draw, streamed (an integer, or all); also what --affine-layers fits and is "
                                "selected on.")
CatMaxCostOption = typer.Option(0.05, "--cat-max-cost", help="Largest CAT head applied without a gain of at least "
                                "1 point at the lower end of its 95 % interval: modelled latency share or file "
                                "share of the model (0.05 = 5 %).")
ClustersOption = typer.Option("auto", "--clusters", help="CAT clusters K, or auto (cross-fitted selection among 1..64).")
AlphaOption = typer.Option("auto", "--alpha", help="CAT blend alpha in (0, 1], or auto (cross-fitted selection).")
CatViewsOption = typer.Option(0, "--cat-views", help="Augmented views (flips / shifts) per fit image for CAT.")
AffineLayersOption = typer.Option(False, "--affine-layers/--no-affine-layers", help="Per-channel affine "
                                  "correction inside the network, folded into each layer (fitted on the first "
                                  "256 CAT images, applied only when its gain on the others is significant).")
ReportOption = typer.Option(None, "--report", help="After writing OUTPUT, write the report of OUTPUT's folder "
                            "(every model there: accuracy, per-layer SQNR, CAT, levels, bit-exactness) into this folder.")
ReportDataOption = typer.Option(None, "--report-data", help="Evaluation images of --report (default: the test "
                                "split of a built-in --data; needed for imagefolder / npz data).")


ModelArgument = typer.Argument(..., help="torchvision model name, timm:NAME (timm.create_model, pretrained=False; "
                               "needs catdeploy[timm]), path/to/model.py:factory or "
                               "package.module:factory (a callable returning your nn.Module), or a "
                               "torch.export program (model.pt2, weights included).")
WeightBitsOption = typer.Option(None, "--weight-bits", help="Per-layer override LAYER_GLOB=BITS (repeatable).")
ActBitsOption = typer.Option(None, "--act-bits", help="Input bits of matching layers LAYER_GLOB=BITS (repeatable).")


@command("calibrate", examples=[
    "catdeploy calibrate resnet18 --weights r18.pt --data fashion-mnist --bits w4a4 -o r18_w4a4.qg",
    "catdeploy calibrate mobilenet_v2 --weights mbv2.pt --data fashion-mnist --bits w2a2 --strict -o m.qg",
    "catdeploy calibrate resnet18 --weights r18.pt --data fashion-mnist --bits w2a2 --cat --affine-layers -o r18.qg",
    "catdeploy calibrate resnet18 --weights r18.pt --data fashion-mnist --bits w4a4 --cat --clusters 64 --alpha 0.4 --cat-views 2 -o r18.qg",
    "catdeploy calibrate my_net.py:build --weights my_net.pt --data imagefolder:photos/train --input-size 64 --mean 0.5,0.4,0.3 --std 0.25,0.25,0.25 --bits w4a4 -o my_net.qg",
    "catdeploy calibrate my_net.pt2 --data imagefolder:photos/train --bits w4a4 -o my_net.qg",
    "catdeploy calibrate timm:resnet18d --weights r18d.safetensors --data fashion-mnist --bits w4a4 -o r18d.qg",
    "catdeploy calibrate resnet18 --weights r18.pt --data fashion-mnist --bits w2a4 --method qdrop -o runs/r18/w2a4.qg --report runs/r18/report",
])
def calibrate_command(
    model: str = ModelArgument,
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="State dict or checkpoint (weights_only); "
                                           "needed except for a .pt2 program, which holds its weights."),
    data: str = typer.Option(..., "--data", "-d", help="Calibration data (its train split is used)."),
    output: Path = typer.Option(..., "--output", "-o", help="QuantizedGraph archive to write (.qg)."),
    bits: str = BitsOption, method: str = MethodOption, samples: Optional[int] = SamplesOption,
    seed: int = SeedOption, strict: bool = StrictOption, symmetric_weights: bool = SymmetricOption,
    observer: str = ObserverOption, cat: bool = CatOption, clusters: str = ClustersOption,
    alpha: str = AlphaOption, cat_views: int = CatViewsOption, affine_layers: bool = AffineLayersOption,
    cat_samples: str = CatSamplesOption, cat_max_cost: float = CatMaxCostOption,
    weight_bits: Optional[List[str]] = WeightBitsOption, act_bits: Optional[List[str]] = ActBitsOption,
    preset: str = PresetOption, convention: str = ConventionOption, device: str = DeviceOption,
    iters: Optional[int] = ItersOption, max_drop: Optional[float] = MaxDropOption, held_out: int = HeldOutOption,
    input_size: Optional[str] = InputSizeOption, mean: Optional[str] = MeanOption,
    std: Optional[str] = StdOption, grayscale: Optional[bool] = GrayscaleOption,
    data_root: Optional[Path] = DataRootOption,
    report: Optional[Path] = ReportOption, report_data: Optional[str] = ReportDataOption,
    force: bool = typer.Option(False, "--force", help="Overwrite OUTPUT (and the --report folder)."),
    json_out: bool = JsonOption,
) -> None:
    """Quantize a float model: capture, plan the bit widths, calibrate; writes a .qg archive (no pickle)."""
    from catdeploy.pipeline import calibrate_model
    from catdeploy.quant.quantized_graph import save_quantized_graph
    from catdeploy.util_io import check_output_path

    check_output_path(output, force)
    weights = _required_weights(model, weights)
    report_data = _report_data(data, report_data, report)
    if report is not None:
        from catdeploy.report.build import check_output_dir

        check_output_dir(report, force, "--report")
    records = calibration_records(
        bits=bits, method=method, samples=samples, seed=seed, strict=strict, symmetric_weights=symmetric_weights,
        observer=observer, weight_bits=weight_bits, act_bits=act_bits, cat=cat, clusters=clusters, alpha=alpha,
        cat_views=cat_views, affine_layers=affine_layers, cat_samples=cat_samples, cat_max_cost=cat_max_cost,
        preset=preset, convention=convention, device=device,
        iterations=iters, input_size=input_size, mean=mean, std=std, grayscale=grayscale, data_root=data_root,
        max_drop=max_drop, held_out=held_out)
    t0 = time.perf_counter()
    with reconstruction_progress(method) as progress:
        qg = calibrate_model(model, weights, data, records.calibration, records.cat, records.inputs,
                             log=log, progress=progress)
    seconds = round(time.perf_counter() - t0, 2)
    save_quantized_graph(qg, output)
    result = {"output": str(output), "setting": qg.plan.setting, "method": qg.meta.get("method"),
              "calibration_images": qg.meta.get("calibration_images"), "seconds": seconds,
              "cat": _cat_summary(qg), "affine_layers": qg.meta.get("affine_layers"),
              "mixed_precision": qg.meta.get("mixed_precision")}
    if report is not None:
        result.update(_write_report(output, report, report_data, data_root, force))
    emit_json(result) if json_out else typer.echo(f"{output}: {model} {qg.plan.setting} ({method})")


@command("export", examples=[
    "catdeploy export r18_w4a4.qg --target tflite -o r18_w4a4.tflite",
    "catdeploy export resnet18 --weights r18.pt --data fashion-mnist --bits w4a4 --target tflite -o r18.tflite",
    "catdeploy export resnet18 --weights r18.pt --data fashion-mnist --bits w2a4 --cat --target tflite -o r18_cat.tflite",
    "catdeploy export my_net.py:build --weights my_net.pt --data imagefolder:unlabeled_photos --input-size 96x128 --bits w4a8 -o my_net.tflite",
    "catdeploy export runs/r18/w2a4.qg -o runs/r18/w2a4.tflite --report runs/r18/report",
])
def export_command(
    source: str = typer.Argument(..., help="A .qg archive, or a model (torchvision name, timm:NAME, path/to/model.py:factory, "
                                 "package.module:factory) with --weights/--data, or a .pt2 program with --data."),
    target: str = typer.Option("tflite", "--target", help="Export target (tflite)."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write; a manifest OUTPUT.json is written beside it."),
    io: str = typer.Option("int8", "--io", help="int8 (default) or float model inputs/outputs."),
    int4_weights: bool = typer.Option(False, "--int4-weights", help="Pack <=4-bit weights as TFLite INT4 (2 per byte; use with --symmetric-weights for 4 bit). Not loadable by tflite-runtime 2.14's ref resolver; DEPTHWISE_CONV_2D v7 by no ref resolver."),
    int2_weights: bool = typer.Option(False, "--int2-weights", help="Pack 2-bit FULLY_CONNECTED weights as TFLite INT2 (4 per byte, FC v14; use with --symmetric-weights). Loads in ai-edge-litert 2.1 only (tflite-runtime 2.14 and TensorFlow 2.19 do not register FC v14)."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="With a model name."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="With a model name: calibration data."),
    bits: str = BitsOption, method: str = MethodOption, samples: Optional[int] = SamplesOption,
    seed: int = SeedOption, strict: bool = StrictOption, symmetric_weights: bool = SymmetricOption,
    observer: str = ObserverOption, cat: bool = CatOption, clusters: str = ClustersOption,
    alpha: str = AlphaOption, cat_views: int = CatViewsOption, affine_layers: bool = AffineLayersOption,
    cat_samples: str = CatSamplesOption, cat_max_cost: float = CatMaxCostOption,
    weight_bits: Optional[List[str]] = WeightBitsOption, act_bits: Optional[List[str]] = ActBitsOption,
    preset: str = PresetOption, convention: str = ConventionOption, device: str = DeviceOption,
    iters: Optional[int] = ItersOption, max_drop: Optional[float] = MaxDropOption, held_out: int = HeldOutOption,
    input_size: Optional[str] = InputSizeOption, mean: Optional[str] = MeanOption,
    std: Optional[str] = StdOption, grayscale: Optional[bool] = GrayscaleOption,
    data_root: Optional[Path] = DataRootOption,
    report: Optional[Path] = ReportOption, report_data: Optional[str] = ReportDataOption,
    golden: int = typer.Option(0, "--golden", help="Also write MODEL.golden.npz: N seeded int8 inputs and the expected outputs of every catrt profile (check on a device: python -m catrt check MODEL.tflite MODEL.golden.npz)."),
    force: bool = typer.Option(False, "--force", help="Overwrite OUTPUT and its manifest (and the --report folder)."),
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

    from_qg = not is_user_model(source) and (Path(source).suffix == ".qg" or Path(source).is_file())
    if bits == "fp32":
        _export_float(source, from_qg, output, weights, data, io=io, int4_weights=int4_weights,
                      int2_weights=int2_weights, golden=golden,
                      method=method, cat=cat, affine_layers=affine_layers, report=report, input_size=input_size,
                      mean=mean, std=std, grayscale=grayscale, data_root=data_root, force=force, json_out=json_out)
        return
    from catdeploy.lower.options import LoweringOptions

    lowering = LoweringOptions(io=io, int4_weights=int4_weights, int2_weights=int2_weights)
    if from_qg:
        qg = load_quantized(Path(source))
        origin = {"quantized_graph": source}
        data = data if data is not None else qg.meta.get("data")
    report_data = _report_data(data, report_data, report)
    if report is not None:
        from catdeploy.report.build import check_output_dir

        check_output_dir(report, force, "--report")
    if not from_qg:
        if data is None or (weights is None and not source.endswith(".pt2")):
            raise UserError(f"export {source}: a model name needs --weights and --data (or pass a .qg file)")
        weights = _required_weights(source, weights)
        records = calibration_records(
            bits=bits, method=method, samples=samples, seed=seed, strict=strict,
            symmetric_weights=symmetric_weights, observer=observer, weight_bits=weight_bits, act_bits=act_bits,
            cat=cat, clusters=clusters, alpha=alpha, cat_views=cat_views, affine_layers=affine_layers,
            cat_samples=cat_samples, cat_max_cost=cat_max_cost,
            preset=preset, convention=convention, device=device, iterations=iters, input_size=input_size,
            mean=mean, std=std, grayscale=grayscale, data_root=data_root, max_drop=max_drop, held_out=held_out)
        with reconstruction_progress(method) as progress:
            qg = calibrate_model(source, weights, data, records.calibration, records.cat, records.inputs,
                                 log=log, progress=progress)
        origin = {"model": source, "weights": weights, "data": data}
    manifest = export_quantized(qg, output, lowering=lowering, force=force, source=origin, golden=golden)
    result = {"output": str(output), "manifest": str(output) + ".json", "size_bytes": manifest["size_bytes"],
              "sha256": manifest["sha256"], "setting": manifest["setting"],
              "extra_clamp_ops": manifest["extra_clamp_ops"]}
    if golden:
        from catdeploy.pipeline import golden_path

        result["golden"] = str(golden_path(output))
    if report is not None:
        result.update(_write_report(output, report, report_data, data_root, force))
    emit_json(result) if json_out else typer.echo(
        f"{output}: {manifest['size_bytes']} bytes, {manifest['setting']}, sha256 {manifest['sha256'][:16]}")


def _export_float(source, from_qg, output, weights, data, *, io, int4_weights, int2_weights, golden, method, cat, affine_layers,
                  report, input_size, mean, std, grayscale, data_root, force, json_out) -> None:
    """`export --bits fp32`: the float model as a float32 TFLite graph (no calibration)."""
    from catdeploy.data.preprocess import user_normalization
    from catdeploy.pipeline import InputOptions, export_float

    if from_qg:
        raise UserError(f"export {source} --bits fp32: takes the float model (a model name with --weights, "
                        f"or a .pt2 program), not a quantized graph")
    refused = [flag for flag, used in (("--io float", io != "int8"), ("--int4-weights", int4_weights),
                                        ("--int2-weights", int2_weights),
                                        ("--golden", golden > 0), (f"--method {method}", method != "rtn"),
                                        ("--cat", cat), ("--affine-layers", affine_layers), ("--report", report))
               if used]
    if refused:
        raise UserError(f"--bits fp32 writes a float graph (float input and output, no calibration): "
                        f"{', '.join(refused)} do not apply")
    inputs = InputOptions(input_size=input_size, grayscale=grayscale, normalization=user_normalization(mean, std),
                          data_root=None if data_root is None else str(data_root))
    manifest = export_float(source, _required_weights(source, weights), output, data=data, inputs=inputs,
                            force=force)
    result = {"output": str(output), "manifest": str(output) + ".json", "size_bytes": manifest["size_bytes"],
              "sha256": manifest["sha256"], "setting": "fp32", "extra_clamp_ops": 0}
    emit_json(result) if json_out else typer.echo(
        f"{output}: {manifest['size_bytes']} bytes, fp32, sha256 {manifest['sha256'][:16]}")


def _required_weights(model: str, weights: Path | None) -> str | None:
    """--weights as a string; required except for a .pt2 program (which holds its weights)."""
    if weights is None and not str(model).endswith(".pt2"):
        raise UserError(f"{model}: --weights is needed (only a torch.export .pt2 program holds its own weights)")
    return None if weights is None else str(weights)


def _report_data(data: str | None, report_data: str | None, report: Path | None) -> str | None:
    """The evaluation data of --report, checked before any work is done."""
    from catdeploy.data.datasets import has_splits, parse_spec, with_split

    if report is None:
        if report_data is not None:
            raise UserError("--report-data: only with --report DIR")
        return None
    if report_data is not None:
        parse_spec(report_data, default_split="test")
        return report_data
    if data is not None and has_splits(data):
        return with_split(data, "test")
    raise UserError(f"--report {report}: name the evaluation images with --report-data (the calibration "
                    f"data {data!r} has no test split, and a report on calibration images would flatter)")


def _write_report(output: Path, report: Path, report_data: str, data_root: Path | None, force: bool) -> dict:
    """`catdeploy report OUTPUT's-folder --data REPORT_DATA -o REPORT` with report's defaults."""
    from catdeploy.check.verify import RESOLVERS
    from catdeploy.report.build import build_report
    from catdeploy.report.collect import ReportOptions

    opts = ReportOptions(data=report_data, samples=256, verify_samples=32, interpreters=None,
                         resolvers=[r for r in RESOLVERS if r == "ref"],
                         data_root=None if data_root is None else str(data_root))
    _, written = build_report(Path(output).parent, opts, report, force, log=log)
    html = next(p for p in written if p.name == "report.html")
    log(f"report: {html} ({len(written)} files)")
    return {"report": str(html)}


def _cat_summary(qg) -> dict | None:
    sel = qg.meta.get("cat_selection")
    if sel is None:
        return None
    out = {k: v for k, v in sel.items() if k != "candidates"}
    if qg.cat is not None:
        out.update({"clusters": int(qg.cat["clusters"]), "alpha": float(qg.cat["alpha"]), "pca": qg.cat["pca"]})
    return out


@command("sensitivity", examples=[
    "catdeploy sensitivity efficientnet_b0 --weights effb0.pt --data fashion-mnist --bits w4a4",
    "catdeploy sensitivity mobilenet_v2 --weights mbv2.pt --data fashion-mnist --bits w2a2 --held-out 256 --json > sens.json",
    "catdeploy sensitivity resnet18 --weights r18.pt --data fashion-mnist --bits w3a3 -o runs/r18/sensitivity.json",
])
def sensitivity_command(
    model: str = ModelArgument,
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="State dict or checkpoint (weights_only)."),
    data: str = typer.Option(..., "--data", "-d", help="Calibration data (its train split: calibration draw and "
                             "held-out images)."),
    bits: str = typer.Option("w4a4", "--bits", "-b", help="wXaY: the low widths each tensor is measured at."),
    samples: Optional[int] = SamplesOption, seed: int = SeedOption, strict: bool = StrictOption,
    convention: str = ConventionOption, symmetric_weights: bool = SymmetricOption, observer: str = ObserverOption,
    held_out: int = HeldOutOption, top: int = typer.Option(25, "--top", help="Rows of the printed table (the "
                                                           "most damaging tensors first); --json has all."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the table as JSON (a report "
                                          "of the folder plots it)."),
    input_size: Optional[str] = InputSizeOption, mean: Optional[str] = MeanOption,
    std: Optional[str] = StdOption, grayscale: Optional[bool] = GrayscaleOption,
    data_root: Optional[Path] = DataRootOption,
    force: bool = typer.Option(False, "--force", help="Overwrite OUTPUT."),
    json_out: bool = JsonOption,
) -> None:
    """Per-layer sensitivity: for every quantizable tensor (weights and activations separately), the held-out
    damage when only it is at the low width and the recovery when only it is raised back to 8 bit, as top-1
    and KL to the FP logits (integer-exact simulator, held-out train images); plus per-tensor SQNR."""
    from catdeploy.pipeline import sensitivity_analysis
    from catdeploy.util_io import atomic_write_bytes, check_output_path

    if output is not None:
        check_output_path(output, force)
    records = calibration_records(
        bits=bits, method="rtn", samples=samples, seed=seed, strict=strict, symmetric_weights=symmetric_weights,
        observer=observer, weight_bits=None, act_bits=None, cat=False, clusters="auto", alpha="auto", cat_views=0,
        affine_layers=False, preset="default", convention=convention, device="cpu", iterations=None,
        input_size=input_size, mean=mean, std=std, grayscale=grayscale, data_root=data_root, held_out=held_out)
    table = sensitivity_analysis(model, _required_weights(model, weights), data, records.calibration,
                                 records.inputs, log=log)
    if output is not None:
        atomic_write_bytes(output, (json.dumps(table, indent=1, sort_keys=True) + "\n").encode())
    if json_out:
        emit_json(table)
        return
    _print_sensitivity(table, top)


def _print_sensitivity(table: dict, top: int) -> None:
    """The most damaging tensors as a rich table, then where the SQNR is lowest."""
    from rich.console import Console
    from rich.table import Table

    low = table["low"]
    title = (f"{table['model']} at w{low['weight_bits']}a{low['act_bits']}: held-out top-1 FP "
             f"{table['fp_top1']:.2f}, all 8-bit {table['all_8bit']['top1']:.2f}, all low "
             f"{table['all_low']['top1']:.2f} ({table['held_out_images']} images, {table['evaluations']} "
             f"integer runs, {table['seconds']:.0f} s)")
    out = Table(title=title)
    for column in ("layer", "tensor", "bits", "damage top-1", "damage KL", "recovery top-1", "recovery KL", "params"):
        out.add_column(column, justify="left" if column in ("layer", "tensor") else "right")
    rows = sorted(table["rows"], key=lambda r: (-r["damage_kl"], r["layer"], r["tensor"]))
    for r in rows[:top]:
        out.add_row(r["layer"], r["tensor"], str(r["bits"]), f"{r['damage_top1']:+.2f}", f"{r['damage_kl']:+.4f}",
                    f"{r['recovery_top1']:+.2f}", f"{r['recovery_kl']:+.4f}", f"{r['parameters']:,}")
    console = Console()
    console.print(out)
    known = [r for r in table["sqnr"] if r["sqnr_db"] is not None]
    if known:
        worst = sorted(known, key=lambda r: r["sqnr_db"])[:5]
        console.print("lowest SQNR (uniform low widths): " + ", ".join(
            f"{r['tensor']} {r['sqnr_db']:.1f} dB ({r['bits']} bit)" for r in worst))
