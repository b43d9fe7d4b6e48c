"""CLI commands on float models: train, eval (of a float model; a .tflite / .qg goes to cli.check)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from catdeploy.cli.app import (
    DataOption, DataRootOption, GrayscaleOption, JsonOption, MeanOption, StdOption, command, emit_json,
)


@command("train", examples=[
    "catdeploy train resnet18 --data fashion-mnist -o fmnist-r18.pt",
    "catdeploy train mnasnet0_5 --data digits -o digits.pt --epochs 2 --seed 1",
    "catdeploy train mobilenet_v2 --data npz:train.npz -o mine.pt --json",
    "catdeploy train my_net.py:build --data imagefolder:photos/train --input-size 64 --mean 0.45,0.40,0.35 --std 0.22,0.24,0.26 -o my_net.pt",
    "catdeploy train timm:resnet10t --data fashion-mnist --grayscale --input-size 28 -o r10t.pt",
])
def train_command(
    model: str = typer.Argument(..., help="torchvision classification model name (e.g. resnet18), a timm model "
                                "(timm:NAME, e.g. timm:resnet10t; needs catdeploy[timm]), or your own: "
                                "path/to/model.py:factory or package.module:factory (its own number of outputs)."),
    data: str = DataOption,
    output: Path = typer.Option(..., "--output", "-o", help="Checkpoint to write (.pt)."),
    epochs: int = typer.Option(4, "--epochs", help="Training epochs."),
    seed: int = typer.Option(0, "--seed", help="Seed for init, data order and augmentation."),
    input_size: str = typer.Option("32", "--input-size", help="Images are resized to H or HxW pixels."),
    mean: Optional[str] = MeanOption, std: Optional[str] = StdOption, grayscale: Optional[bool] = GrayscaleOption,
    batch_size: int = typer.Option(128, "--batch-size", help="Mini-batch size."),
    lr: float = typer.Option(0.05, "--lr", help="Peak learning rate of the one-cycle schedule."),
    crop_padding: int = typer.Option(0, "--crop-padding", help="Random-crop augmentation with this padding (0: off)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Train on a seeded subset of N images (quick runs)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch threads (default: torch's)."),
    data_root: Optional[Path] = DataRootOption,
    force: bool = typer.Option(False, "--force", help="Overwrite OUTPUT if it exists."),
    json_out: bool = JsonOption,
) -> None:
    """Train a full-precision model (torchvision, timm or your own) deterministically on the CPU.

    Writes {"state_dict", "meta"} (loadable with weights_only=True) atomically; prints the final test top-1 for fashion-mnist / digits.
    """
    from catdeploy import train as training
    from catdeploy.data.preprocess import user_normalization

    size = int(input_size) if input_size.isdigit() else input_size
    result = training.train(
        model, data,
        epochs=epochs, seed=seed, input_size=size, batch_size=batch_size, lr=lr,
        output=output, force=force, data_root=data_root, limit=limit, threads=threads,
        crop_padding=crop_padding, normalization=user_normalization(mean, std), grayscale=grayscale)
    if json_out:
        emit_json({"output": str(output), **result.meta})
    else:
        top1 = result.meta["test_top1"]
        typer.echo(f"{output}: {model}" + ("" if top1 is None else f", test top-1 {top1:.2f} %"))


@command("eval", examples=[
    "catdeploy eval resnet18 --weights fmnist-r18.pt --data fashion-mnist:test",
    "catdeploy eval mnasnet0_5 --weights digits.pt --data digits --samples 200 --json",
    "catdeploy eval my_net.py:build --weights my_net.pt --data imagefolder:photos/test --input-size 64 --mean 0.5 --std 0.25",
    "catdeploy eval r18_w4a4.tflite --data fashion-mnist:test --engine catrt",
    "catdeploy eval r18_w4a4.tflite --data fashion-mnist:test --engine tflite --interpreter litert --resolver auto",
])
def eval_command(
    model: str = typer.Argument(..., help="A .tflite / .qg, or a float model with --weights: torchvision name, "
                                "timm:NAME, path/to/model.py:factory or package.module:factory."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="State dict or checkpoint."),
    data: str = DataOption,
    samples: Optional[int] = typer.Option(None, "--samples", "-n", help="Evaluate the first N images only."),
    batch_size: int = typer.Option(500, "--batch-size", help="Images per forward pass."),
    input_size: Optional[str] = typer.Option(None, "--input-size", help="Float model: H or HxW (default: the checkpoint's, else 32)."),
    mean: Optional[str] = typer.Option(None, "--mean", help="Float model: per-channel mean (1 or 3 values), with --std."),
    std: Optional[str] = typer.Option(None, "--std", help="Float model: per-channel std."),
    grayscale: Optional[bool] = typer.Option(None, "--grayscale/--rgb", help="Float model: 1-channel input (default: the checkpoint's, else RGB)."),
    data_root: Optional[Path] = DataRootOption,
    engine: str = typer.Option("catrt", "--engine", help="For a .tflite / .qg: catrt (integer, bit-exact with --interpreter/--resolver) or tflite (runs --interpreter with --resolver)."),
    interpreter: str = typer.Option("tflite-runtime", "--interpreter", help="For a .tflite / .qg: tflite-runtime, litert or tensorflow."),
    resolver: str = typer.Option("ref", "--resolver", help="For a .tflite / .qg: ref, builtin, nodelegate or auto (the default path of a device)."),
    json_out: bool = JsonOption,
) -> None:
    """Top-1 / top-5 accuracy (JSON: {"top1", "top5", "n", "engine"}) of a float model (MODEL --weights),
    or of a quantized model: a .tflite (integer accuracy) or a .qg (integer + fake-quant).

    A DATA spec without a split means the test split.
    """
    from catdeploy import train as training

    from catdeploy.data.preprocess import user_normalization
    from catdeploy.data.user_model import is_user_model

    if not is_user_model(model) and (model.endswith((".tflite", ".qg")) or Path(model).is_file()):
        from catdeploy.pipeline import evaluate_file

        result = evaluate_file(Path(model), data, samples, engine, data_root, interpreter, resolver)
        if json_out:
            emit_json(result)
        else:
            typer.echo(f"{result['engine']}: top-1 {result['top1']:.2f} %, top-5 {result['top5']:.2f} % on {result['n']} images"
                       + (f" (fake-quant top-1 {result['fake_quant_top1']:.2f} %"
                          + (", CAT applied in float" if "top1_with_cat" in result else "") + ")"
                          if "fake_quant_top1" in result else ""))
            if "simulator_top1" in result:
                typer.echo(f"simulator (eval mode, integer-exact): top-1 {result['simulator_top1']:.2f} %, "
                           f"{result['simulator_differing_elements']} logits differ from the engine"
                           + (f" (method {result['method']})" if result.get("method") else ""))
            if "top1_ref" in result:
                typer.echo(f"reference kernels (ref): top-1 {result['top1_ref']:.2f} %, same top-1 class on "
                           f"{result['top1_agreement_with_ref'] * 100:.2f} % of the images")
            if "top1_with_cat" in result:
                typer.echo(f"integer top-1 without CAT {result['top1_without_cat']:.2f} %, with CAT "
                           f"(K={result['cat']['clusters']}, alpha={result['cat']['alpha']}) "
                           f"{result['top1_with_cat']:.2f} %")
        return

    result = training.evaluate_checkpoint(model, weights=weights, data=data, samples=samples,
                                          batch_size=batch_size, input_size=input_size,
                                          data_root=data_root, normalization=user_normalization(mean, std),
                                          grayscale=grayscale)
    if json_out:
        emit_json(result)
    else:
        typer.echo(f"{result['engine']}: top-1 {result['top1']:.2f} %, top-5 {result['top5']:.2f} %"
                   f" on {result['n']} images")
