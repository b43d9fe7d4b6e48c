"""Deterministic full-precision training of torchvision classifiers (reference models), timm
models (``timm:NAME``: ``num_classes`` outputs, 1 input channel with ``--grayscale``) and of the
user's own models (``path/model.py:factory``, ``package.module:factory``: the factory's module, its
own number of outputs; input size, mean/std and channels as the user says).

Recipe (defaults chosen so resnet18 passes 90 % Fashion-MNIST test top-1 in few CPU epochs):
SGD with Nesterov momentum 0.9, weight decay 5e-4, one-cycle learning rate (peak ``lr`` 0.05,
20 % warm-up, cosine decay), batch size 128, light augmentation: a random horizontal flip for
Fashion-MNIST only (digits are not mirror-symmetric); a random crop with padding is available
(``crop_padding``) but off by default. A GPU sweep (docs/BENCHMARKS.md, "Reference models")
showed that at 2-6 epochs the crop and a peak learning rate of 0.1 both cost accuracy
(the models underfit). After the last
epoch the batch-norm running statistics are re-estimated on un-augmented train batches (some
torchvision models, e.g. MNASNet, use a BN momentum of 3e-4, far too slow for a short run).
The last Linear layer starts at zero (uniform initial predictions; see ``_zero_init_classifier``).

Determinism: ``torch.manual_seed(seed)`` before building the model, deterministic algorithms,
and one seeded ``torch.Generator`` for the data order and the augmentation draws. Results are
bit-identical for the same settings, torch version, CPU and thread count.
"""
from __future__ import annotations

import copy
import datetime
import math
import os
import platform
import shlex
import tempfile
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from catdeploy.data.datasets import Dataset, has_splits, load_dataset, parse_spec, with_split
from catdeploy.data.preprocess import DEFAULT_INPUT_SIZE, Normalization, Preprocessing, parse_input_size
from catdeploy.data.zoo import build_model
from catdeploy.errors import UserError
from catdeploy.util_io import default_file_mode

DEFAULT_EPOCHS = 4
DEFAULT_BATCH_SIZE = 128
DEFAULT_LR = 0.05
DEFAULT_MOMENTUM = 0.9
DEFAULT_WEIGHT_DECAY = 5e-4
WARMUP_FRACTION = 0.2
DEFAULT_CROP_PADDING = 0
BN_RECALIBRATION_BATCHES = 50
EVAL_BATCH_SIZE = 500
LOG_EVERY_STEPS = 100  # progress lines when no live progress bar is shown

stderr_console = Console(stderr=True, soft_wrap=True)  # log lines stay whole in log files


@dataclass(frozen=True)
class TrainSettings:
    """Everything that determines the trained weights (plus where the data lives)."""

    model: str
    data: str
    epochs: int = DEFAULT_EPOCHS
    seed: int = 0
    input_size: int | str = DEFAULT_INPUT_SIZE  # H or "HxW"
    batch_size: int = DEFAULT_BATCH_SIZE
    lr: float = DEFAULT_LR
    momentum: float = DEFAULT_MOMENTUM
    weight_decay: float = DEFAULT_WEIGHT_DECAY
    limit: int | None = None      # train on a seeded subset of this many images (quick runs)
    num_classes: int = 10
    threads: int | None = None    # torch threads (None: torch's default); results depend on it
    crop_padding: int = DEFAULT_CROP_PADDING  # random-crop augmentation (0: off)
    mean: tuple[float, ...] | None = None  # --mean / --std (None: the data's constants or statistics)
    std: tuple[float, ...] | None = None
    grayscale: bool | None = None         # --grayscale / --rgb (None: RGB)

    def command(self, output: str | Path) -> str:
        """The ``catdeploy train`` command line that reproduces these settings."""
        parts = ["catdeploy", "train", self.model, "--data", self.data, "-o", str(output),
                 "--epochs", str(self.epochs), "--seed", str(self.seed)]
        defaults = TrainSettings(self.model, self.data)
        for option, name in (("--input-size", "input_size"), ("--batch-size", "batch_size"),
                             ("--lr", "lr"), ("--limit", "limit"), ("--threads", "threads"),
                             ("--crop-padding", "crop_padding")):
            if getattr(self, name) != getattr(defaults, name):
                parts += [option, str(getattr(self, name))]
        if self.mean is not None:
            parts += ["--mean", ",".join(map(str, self.mean)), "--std", ",".join(map(str, self.std))]
        if self.grayscale is not None:
            parts += ["--grayscale" if self.grayscale else "--rgb"]
        return shlex.join(parts)


@dataclass(frozen=True, eq=False)
class TrainResult:
    model: torch.nn.Module
    meta: dict
    output: Path | None


@contextmanager
def _deterministic_torch(threads: int | None) -> Iterator[None]:
    """Deterministic algorithms and a fixed thread count for the duration; restored afterwards."""
    previous_det = torch.are_deterministic_algorithms_enabled()
    previous_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous_det)
        torch.set_num_threads(previous_threads)


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=stderr_console, transient=True)


def augment_batch(x: torch.Tensor, generator: torch.Generator, pad_values: torch.Tensor,
                  flip: bool, padding: int = 2) -> torch.Tensor:
    """Random crop (``padding`` pixels, filled with the normalised black level; 0: no crop)
    and an optional random horizontal flip, drawn per image from ``generator``."""
    n, c, h, w = x.shape
    p = padding
    cropped = x
    if p > 0:
        padded = pad_values.view(1, c, 1, 1).expand(n, c, h + 2 * p, w + 2 * p).clone()
        padded[:, :, p:p + h, p:p + w] = x
        dy = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(n, c, h, w + 2 * p)
        cropped = padded.gather(2, rows)
        cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(n, c, h, w)
        cropped = cropped.gather(3, cols)
    if flip:
        mirror = torch.rand(n, generator=generator) < 0.5
        cropped = torch.where(mirror[:, None, None, None], cropped.flip(3), cropped)
    return cropped


def _zero_init_classifier(model: torch.nn.Module) -> None:
    """Zero the last Linear layer so training starts at uniform predictions.

    Some torchvision inits scale the classifier by 1/fan_out (MNASNet), which at 10 classes
    gives logits in the tens and an unstable first epoch.
    """
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if linears:
        with torch.no_grad():
            linears[-1].weight.zero_()
            if linears[-1].bias is not None:
                linears[-1].bias.zero_()


def recalibrate_batchnorm(model: torch.nn.Module, dataset: Dataset, order: torch.Tensor,
                          batch_size: int, batches: int) -> None:
    """Re-estimate BN running mean/var as a plain average over ``batches`` un-augmented batches."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    model.train()
    with torch.no_grad():
        for b in range(min(batches, max(1, len(order) // batch_size))):
            idx = order[b * batch_size:(b + 1) * batch_size].numpy()
            x, _ = dataset.batch(idx)
            model(torch.from_numpy(x))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()


def _logits(output) -> torch.Tensor:
    return output.logits if hasattr(output, "logits") else output


def evaluate_float(model: torch.nn.Module, dataset: Dataset, batch_size: int = EVAL_BATCH_SIZE,
                   samples: int | None = None, progress: bool = True) -> dict:
    """Float top-1/top-5 (%) of ``model`` on the first ``samples`` images (all if None)."""
    labels = dataset.require_labels()
    n = len(dataset) if samples is None else min(samples, len(dataset))
    if n < 1:
        raise UserError(f"--samples {samples}: must be at least 1")
    k = min(5, dataset.num_classes if dataset.num_classes else 5)
    correct1 = correct5 = 0
    was_training = model.training
    model.eval()
    with torch.no_grad(), _progress() as bar:
        task = bar.add_task("eval", total=n, status="", visible=progress)
        for start in range(0, n, batch_size):
            x, _ = dataset.batch(slice(start, min(n, start + batch_size)))
            y = torch.from_numpy(labels[start:start + len(x)])
            logits = _logits(model(torch.from_numpy(x)))
            topk = logits.topk(min(k, logits.shape[1]), dim=1).indices
            correct1 += int((topk[:, 0] == y).sum())
            correct5 += int((topk == y[:, None]).any(dim=1).sum())
            bar.update(task, advance=len(x))
    model.train(was_training)
    return {"top1": 100.0 * correct1 / n, "top5": 100.0 * correct5 / n, "n": n}


def evaluate_checkpoint(model_name: str, weights: str | Path | None, data: str,
                        samples: int | None = None, batch_size: int = EVAL_BATCH_SIZE,
                        input_size: int | str | None = None, data_root: str | Path | None = None,
                        progress: bool = True, normalization: Normalization | None = None,
                        grayscale: bool | None = None) -> dict:
    """``catdeploy eval MODEL --weights W``: float accuracy {"top1", "top5", "n", "engine"}.

    MODEL is a torchvision name, timm:NAME or the user's own (path/to/model.py:factory). Input size,
    channels and normalisation: the options when given, else the checkpoint's meta, else defaults.
    """
    from catdeploy.data.preprocess import resolve_preprocessing
    from catdeploy.data.user_model import is_user_model

    if weights is None:
        if Path(model_name).suffix in (".tflite", ".qg") or Path(model_name).exists():
            raise UserError(f"eval {model_name}: only a torchvision MODEL with --weights is "
                            f"supported by this command so far")
        raise UserError(f"eval {model_name}: --weights is required for a float model")
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: must be >= 1")
    if samples is not None and samples < 1:
        raise UserError(f"--samples {samples}: must be >= 1")
    from catdeploy.data.float_model import load_float_model

    model, meta = load_float_model(model_name, weights)  # unknown name -> UserError before any read
    prep = resolve_preprocessing(meta, input_size, grayscale, normalization)
    dataset = load_dataset(data, data_root, input_size=(prep.height, prep.width), default_split="test",
                           normalization=prep.normalization, channels=prep.channels)
    labels = dataset.require_labels()
    n_classes = meta.get("num_classes", None if is_user_model(model_name) else 10)
    if n_classes is not None and labels.size and int(labels.max()) >= int(n_classes):
        raise UserError(f"--data {data}: label {int(labels.max())} but the model has {n_classes} classes")
    with _deterministic_torch(None):
        result = evaluate_float(model, dataset, batch_size, samples, progress=progress)
    return {"top1": result["top1"], "top5": result["top5"], "n": result["n"],
            "engine": "torch-float"}


def _check_output(output: Path | None, force: bool) -> None:
    if output is None:
        return
    if output.exists() and not force:
        raise UserError(f"-o {output}: file exists (use --force to overwrite)")
    if not output.parent.exists():
        raise UserError(f"-o {output}: directory {output.parent} does not exist")


def _check_plain(value, where: str) -> None:
    """Meta must hold only exact plain types so ``torch.load(weights_only=True)`` accepts it
    (a str subclass such as torch.__version__ is refused by the weights-only unpickler)."""
    if value is None or type(value) in (bool, int, float, str):
        return
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"{where}: key {key!r} is not a str")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise TypeError(f"{where} is a {type(value).__name__}, not a plain type")


def save_checkpoint(state_dict: dict, meta: dict, output: Path, force: bool = False) -> None:
    """Write {"state_dict", "meta"} atomically (temp file in the same directory, then os.replace)."""
    _check_output(output, force)
    _check_plain(meta, "meta")
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    os.close(fd)
    try:
        torch.save({"state_dict": state_dict, "meta": meta}, tmp)
        os.chmod(tmp, default_file_mode())  # mkstemp makes 0600; use the usual mode
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _validate(settings: TrainSettings) -> None:
    parse_input_size(settings.input_size)
    for name in ("epochs", "batch_size"):
        if getattr(settings, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} {getattr(settings, name)}: must be >= 1")
    if not settings.lr > 0 or not math.isfinite(settings.lr):
        raise UserError(f"--lr {settings.lr}: must be a positive number")
    if settings.threads is not None and settings.threads < 1:
        raise UserError(f"--threads {settings.threads}: must be >= 1")
    if settings.crop_padding < 0:
        raise UserError(f"--crop-padding {settings.crop_padding}: must be >= 0")
    if settings.limit is not None and settings.limit < 2:
        raise UserError(f"--limit {settings.limit}: must be at least 2")


def train(model_name: str, data_spec: str, epochs: int = DEFAULT_EPOCHS, seed: int = 0,
          input_size: int = DEFAULT_INPUT_SIZE, batch_size: int = DEFAULT_BATCH_SIZE,
          lr: float = DEFAULT_LR, *, output: str | Path | None = None, force: bool = False,
          data_root: str | Path | None = None, limit: int | None = None,
          threads: int | None = None, crop_padding: int = DEFAULT_CROP_PADDING,
          progress: bool = True, command: str | None = None,
          normalization: Normalization | None = None, grayscale: bool | None = None,
          log=stderr_console.print) -> TrainResult:
    """Train ``model_name`` (a torchvision name, ``timm:NAME`` or the user's ``file.py:factory``) on ``data_spec``
    and (optionally) write the checkpoint to ``output``.

    The train split of ``data_spec`` is used for training; for fashion-mnist/digits the test
    split is evaluated at the end (``meta["test_top1"]``, None for imagefolder/npz data). The
    preprocessing (input size, channels, normalisation) is recorded in the meta, so calibrate /
    eval of the checkpoint preprocess alike without repeating the options.
    """
    from catdeploy.data.user_model import is_user_model

    settings = TrainSettings(model_name, data_spec, epochs, seed, input_size, batch_size, lr,
                             limit=limit, threads=threads, crop_padding=crop_padding,
                             mean=None if normalization is None else tuple(normalization.mean),
                             std=None if normalization is None else tuple(normalization.std),
                             grayscale=grayscale)
    _validate(settings)
    output = None if output is None else Path(output)
    _check_output(output, force)
    parse_spec(data_spec)
    user_model = is_user_model(model_name)
    if user_model and str(model_name).endswith(".pt2"):
        raise UserError(f"train {model_name}: a torch.export program is for deployment; train the "
                        f"nn.Module (path/to/model.py:factory) and export it again")
    size = parse_input_size(input_size)
    channels = 1 if grayscale else 3
    _build(model_name, settings.num_classes, channels)  # fail fast on an unknown name or a broken factory
    started = time.perf_counter()
    train_set = load_dataset(data_spec, data_root, input_size=size, default_split="train",
                             normalization=normalization, channels=channels)
    labels = train_set.require_labels()
    classes = _output_width(model_name, size, channels) if user_model else settings.num_classes
    if labels.size and int(labels.max()) >= classes:
        raise UserError(f"--data {data_spec}: label {int(labels.max())} >= the model's {classes} outputs")
    test_set = None
    if has_splits(data_spec):
        test_set = load_dataset(with_split(data_spec, "test"), data_root, input_size=size,
                                normalization=train_set.normalization, channels=channels)
    flip = parse_spec(data_spec).source == "fashion-mnist"

    with _deterministic_torch(threads):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        model = _build(model_name, settings.num_classes, channels)
        _zero_init_classifier(model)
        pool = torch.arange(len(train_set))
        if limit is not None and limit < len(train_set):
            pool = torch.randperm(len(train_set), generator=generator)[:limit].sort().values
        steps_per_epoch = max(1, len(pool) // batch_size + (1 if len(pool) % batch_size >= 2 else 0))
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=DEFAULT_MOMENTUM,
                                    weight_decay=DEFAULT_WEIGHT_DECAY, nesterov=True)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch,
            pct_start=WARMUP_FRACTION, anneal_strategy="cos", cycle_momentum=False)
        norm = train_set.normalization.for_channels(train_set.channels)
        pad_values = torch.tensor([-m / s for m, s in zip(norm.mean, norm.std)], dtype=torch.float32)
        log(f"train {model_name} on {train_set.spec} ({len(pool)} images, {epochs} epochs, "
            f"batch {batch_size}, lr {lr}, seed {seed}, {torch.get_num_threads()} threads)")
        quiet_bar = not (progress and stderr_console.is_terminal)  # e.g. logging to a file
        with _progress() as bar:
            task = bar.add_task("train", total=epochs * steps_per_epoch, status="", visible=progress)
            for epoch in range(epochs):
                epoch_start = time.perf_counter()
                model.train()
                order = pool[torch.randperm(len(pool), generator=generator)]
                loss_sum, correct, seen = 0.0, 0, 0
                for step in range(steps_per_epoch):
                    idx = order[step * batch_size:(step + 1) * batch_size].numpy()
                    x_np, y_np = train_set.batch(idx)
                    x = augment_batch(torch.from_numpy(x_np), generator, pad_values, flip,
                                      crop_padding)
                    y = torch.from_numpy(y_np)
                    logits = _logits(model(x))
                    loss = F.cross_entropy(logits, y)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    loss_sum += loss.item() * len(y)
                    correct += int((logits.argmax(1) == y).sum())
                    seen += len(y)
                    bar.update(task, advance=1,
                               status=f"epoch {epoch + 1}/{epochs} loss {loss_sum / seen:.3f}")
                    if quiet_bar and (step + 1) % LOG_EVERY_STEPS == 0:
                        log(f"  epoch {epoch + 1} step {step + 1}/{steps_per_epoch}: "
                            f"loss {loss_sum / seen:.4f} ({time.perf_counter() - epoch_start:.0f} s)")
                log(f"epoch {epoch + 1}/{epochs}: loss {loss_sum / seen:.4f}, "
                    f"train top-1 {100.0 * correct / seen:.2f} %, "
                    f"{time.perf_counter() - epoch_start:.0f} s")
            recal_order = pool[torch.randperm(len(pool), generator=generator)]
            recalibrate_batchnorm(model, train_set, recal_order, batch_size, BN_RECALIBRATION_BATCHES)
            threads_used = torch.get_num_threads()
            test = evaluate_float(model, test_set, progress=progress) if test_set is not None else None
    wall = time.perf_counter() - started
    test_top1 = None if test is None else round(test["top1"], 2)
    if test is not None:
        log(f"test top-1 {test['top1']:.2f} % (top-5 {test['top5']:.2f} %, n={test['n']}) "
            f"after {wall / 60:.1f} min")
    prep = Preprocessing(size[0], size[1], channels, train_set.normalization)
    meta = {
        "model": model_name, "num_classes": classes, "input_size": size[0] if size[0] == size[1] else list(size),
        "channels": channels, "preprocessing": prep.to_dict(),
        "dataset": data_spec, "seed": seed, "epochs": epochs, "batch_size": batch_size, "lr": lr,
        "limit": limit, "crop_padding": crop_padding, "flip": flip, "test_top1": test_top1,
        "test_top5": None if test is None else round(test["top5"], 2),
        "normalization": train_set.normalization.to_dict(),
        "command": command or settings.command(output if output is not None else "model.pt"),
        "torch": str(torch.__version__), "threads": threads_used, "cpu": cpu_name(),
        "wall_time_s": round(wall, 1), "date": datetime.date.today().isoformat(),
    }
    state = _plain_state_dict(model)
    if output is not None:
        save_checkpoint(state, meta, output, force)
        log(f"wrote {output}")
    return TrainResult(model.eval(), meta, output)


def _build(model_name: str, num_classes: int, channels: int = 3) -> torch.nn.Module:
    """A fresh model: torchvision's with `num_classes` outputs, timm's with `num_classes` outputs
    and `channels` inputs, or what the user's factory returns."""
    from catdeploy.data.timm_models import build_timm_model, is_timm_model
    from catdeploy.data.user_model import build_user_model, is_user_model

    if is_timm_model(model_name):
        return build_timm_model(model_name, num_classes, channels)
    return build_user_model(model_name) if is_user_model(model_name) else build_model(model_name, num_classes)


def _output_width(model_name: str, size: tuple[int, int], channels: int) -> int:
    """The number of logits the user's model gives for one input (its classes)."""
    model = _build(model_name, 0)
    try:
        with torch.no_grad():
            logits = _logits(model.eval()(torch.zeros(1, channels, *size)))
    except Exception as exc:
        raise UserError(f"model {model_name} fails on an input of shape {(1, channels, *size)}: "
                        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if logits.dim() != 2:
        raise UserError(f"model {model_name}: output of shape {tuple(logits.shape)}, expected [batch, classes]")
    return int(logits.shape[1])


def _plain_state_dict(model: torch.nn.Module) -> "OrderedDict[str, torch.Tensor]":
    """Detached copies of the state dict, keeping ``_metadata`` (module versions: MNASNet's
    loader refuses a state dict without them)."""
    source = model.state_dict()
    state = OrderedDict((k, v.detach().clone().contiguous()) for k, v in source.items())
    state._metadata = copy.deepcopy(getattr(source, "_metadata", OrderedDict()))
    return state


def cpu_name() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux) for benchmark records."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ---- reference checkpoints -------------------------------------------------------------------

# One thread: robust on a shared 2-core box (two spinning OpenMP threads lose badly to other
# load). Not bit-reproducible across machines, even with the same torch and a CPU of the same
# family (measured: fmnist-r18 91.56 % on one, 91.70 % on another): tables record the sha256.
REFERENCE_MODELS: dict[str, TrainSettings] = {
    "fmnist-r18": TrainSettings("resnet18", "fashion-mnist", epochs=4, seed=0, threads=1),
    "fmnist-mbv2": TrainSettings("mobilenet_v2", "fashion-mnist", epochs=4, seed=0, threads=1),
    "fmnist-mnas": TrainSettings("mnasnet0_5", "fashion-mnist", epochs=5, seed=0, threads=1),
    "fmnist-mbv3s": TrainSettings("mobilenet_v3_small", "fashion-mnist", epochs=4, seed=0, threads=1),
    "fmnist-effb0": TrainSettings("efficientnet_b0", "fashion-mnist", epochs=4, seed=0, threads=1),
}


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/catdeploy`` or ``~/.cache/catdeploy``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "catdeploy"


def reference_checkpoint(name: str, *, train_if_missing: bool = True, data_root=None,
                         progress: bool = True) -> Path:
    """Path of a reference checkpoint in the cache, trained with its recorded settings if missing."""
    if name not in REFERENCE_MODELS:
        raise UserError(f"unknown reference model {name!r} (known: {', '.join(REFERENCE_MODELS)})")
    path = cache_dir() / "reference" / f"{name}.pt"
    if path.is_file():
        return path
    if not train_if_missing:
        raise UserError(f"reference model {name} not trained yet: expected {path}")
    s = REFERENCE_MODELS[name]
    path.parent.mkdir(parents=True, exist_ok=True)
    train(s.model, s.data, s.epochs, s.seed, s.input_size, s.batch_size, s.lr, output=path,
          data_root=data_root, limit=s.limit, threads=s.threads, crop_padding=s.crop_padding,
          progress=progress,
          command=s.command(path))
    return path


def reference_table_markdown(names: tuple[str, ...] = tuple(REFERENCE_MODELS)) -> str:
    """The "Reference models" table of docs/BENCHMARKS.md, from the cached checkpoints' meta."""
    from catdeploy.data.checkpoints import load_checkpoint

    import hashlib

    rows = ["| name | model | epochs | seed | wall time | test top-1 (%) | date | CPU | torch | threads | sha256 |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        path = cache_dir() / "reference" / f"{name}.pt"
        if not path.is_file():
            rows.append(f"| {name} | {REFERENCE_MODELS[name].model} | not trained yet | | | | | | | | |")
            continue
        _, m = load_checkpoint(path)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        rows.append(f"| {name} | {m['model']} | {m['epochs']} | {m['seed']} | "
                    f"{m['wall_time_s'] / 60:.1f} min | {m['test_top1']:.2f} | {m['date']} | "
                    f"{m['cpu']} | {m['torch']} | {m['threads']} | `{sha}` |")
    return "\n".join(rows)
