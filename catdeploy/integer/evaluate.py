"""The one evaluator: a .tflite (or a .qg, lowered once) scored on labelled images by an engine,
with, for a .qg, the integer logits without and with its CAT head, the eval-mode simulator and the
training-mode surrogate (fake-quant) beside it. The CLI's eval, the Python API, the demo and the
report all score through here, so they print the same numbers for the same model and images."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterable

import numpy as np

from catdeploy.errors import UserError
from catdeploy.integer.metrics import dequantize, top1_agreement, top_k
from catdeploy.integer.program import classifier_bytes, program_bytes
from catdeploy.integer.runner import catrt_tensors, output_qparams, run_catrt, run_on_tensor
from catdeploy.quant.quantized_graph import QuantizedGraph

EVAL_BATCH = 256   # rows per interpreter / catrt invoke in eval (the NEON kernels' vector / scalar
                   # split depends on the element count of each invoke, so the batches are fixed)

# (model bytes, float NCHW images, interpreter, resolver, batch size) -> (first output, version)
InterpreterRunner = Callable[[bytes, np.ndarray, str, str, int], tuple[np.ndarray, str]]


@dataclass(frozen=True)
class Engine:
    """What computes the integer logits: catrt under the arithmetic profile of `interpreter` +
    `resolver`, or (with `run_interpreter`, supplied by catdeploy.check) that TFLite interpreter
    itself. With a resolver other than ref, the reference resolver's logits are computed beside."""

    interpreter: str = "tflite-runtime"
    resolver: str = "ref"
    run_interpreter: InterpreterRunner | None = None
    batch_size: int = EVAL_BATCH

    @property
    def kind(self) -> str:
        return "catrt" if self.run_interpreter is None else "tflite"


def catrt_engine(interpreter: str = "tflite-runtime", resolver: str = "ref") -> Engine:
    """catrt with the arithmetic of `interpreter` + `resolver` on this CPU."""
    return Engine(interpreter, resolver)


def eval_profile(interpreter: str, resolver: str) -> str:
    """The catrt profile of an interpreter + resolver on this CPU (a UserError if catrt has none)."""
    from catrt import CatrtError
    from catrt.profiles import profile_for

    try:
        return profile_for(interpreter, resolver).name
    except CatrtError as exc:
        raise UserError(f"--engine catrt --interpreter {interpreter} --resolver {resolver}: {exc}") from None


CATRT_BATCH_BYTES = 8 * 2**20   # float input images per catrt invoke under the reference kernels


def catrt_batch(profile: str, x: np.ndarray, batch_size: int = EVAL_BATCH) -> int:
    """Images per catrt invoke: `batch_size`, except under the reference kernels (BUILTIN_REF)
    on large images, where it is cut to 8 MiB of input images (13 at 224x224; every 32x32 set
    keeps 256). The reference kernels compute each image on its own, so the batch changes no
    value there; the optimized resolvers' NEON vector / scalar splits depend on the element
    count of an invoke, so their batches stay as given."""
    from catrt.profiles import get_profile

    if get_profile(profile).resolver != "BUILTIN_REF":
        return batch_size
    per_image = max(1, int(np.prod(x.shape[1:])) * 4)
    return max(1, min(batch_size, CATRT_BATCH_BYTES // per_image))


def engine_logits(model_bytes: bytes, x: np.ndarray, engine: Engine, resolver: str) -> tuple[np.ndarray, str]:
    """(raw first output, label) of the engine with `resolver` on images x."""
    if engine.run_interpreter is None:
        profile = eval_profile(engine.interpreter, resolver)
        return (run_catrt(model_bytes, x, batch_size=catrt_batch(profile, x, engine.batch_size), profile=profile),
                f"catrt ({profile})")
    out, version = engine.run_interpreter(model_bytes, x, engine.interpreter, resolver, engine.batch_size)
    return out, f"{engine.interpreter} {version} ({resolver})"


def integer_logits_with_and_without_cat(qg: QuantizedGraph, x_nchw: np.ndarray) -> dict[str, np.ndarray]:
    """Integer (catrt) logits of `qg` with its CAT head and without it (base classifier), from one
    run of the network: the classifier's int8 input is computed once and fed to both
    classifier-only programs (the same ops and constants as the exported graphs). Dequantized."""
    from catrt.profiles import DEFAULT_PROFILE

    from catdeploy.lower import classifier_node

    node = classifier_node(qg.graph)
    base = replace(qg, cat=None)
    x_name = qg.plan.node_inputs[node.name][0]
    features = catrt_tensors(program_bytes(base), x_nchw, [x_name],
                             batch_size=catrt_batch(DEFAULT_PROFILE, x_nchw, 64))[x_name]
    out = {}
    for key, variant in (("without_cat", base), ("with_cat", qg)):
        if key == "with_cat" and qg.cat is None:
            continue
        head = classifier_bytes(variant)
        out[key] = dequantize(run_on_tensor(head, features), *output_qparams(head))
    return out


def chunk_outputs(model_bytes: bytes, qg: QuantizedGraph | None, x: np.ndarray, engine: Engine) -> dict:
    """Logits of one chunk of images: the engine's ("logits", its "label"), the reference
    resolver's when another was asked for ("reference"), and for a .qg the base and CAT heads'
    ("without_cat", "with_cat"), the eval-mode simulator's ("simulated": catrt on the same program
    under the engine's profile, which must agree exactly) and the surrogate's ("fake_quant")."""
    out = {}
    out["logits"], out["label"] = engine_logits(model_bytes, x, engine, engine.resolver)
    if engine.resolver != "ref":
        out["reference"] = engine_logits(model_bytes, x, engine, "ref")[0]
    if qg is not None and qg.cat is not None:
        out.update(integer_logits_with_and_without_cat(qg, x))
    if qg is not None:
        from catdeploy.quant.simulate import simulate_batches

        profile = eval_profile(engine.interpreter, engine.resolver)
        out["simulated"] = (out["logits"] if engine.kind == "catrt" else
                            run_catrt(model_bytes, x, batch_size=catrt_batch(profile, x, engine.batch_size),
                                      profile=profile))
        out["fake_quant"] = simulate_batches(qg, x, batch_size=simulator_batch(x))
    return out


SIMULATOR_BATCH_PIXELS = EVAL_BATCH * 32 * 32   # image pixels (H x W) per fake-quant batch


def simulator_batch(x: np.ndarray) -> int:
    """Fake-quant batch for NCHW images x: EVAL_BATCH (256) images of 32x32, fewer for larger
    ones (5 at 224x224). The surrogate keeps every node's float output of a batch until its
    logits are out, and its activations scale with H x W whatever the input channels: about
    110 MB per 224x224 image on EfficientNet-B0 (27 images: 3.6 GB peak). Its logits do not
    depend on the batch (measured bit for bit: batches 1, 4, 5, 6, 27 of EfficientNet-B0 and
    MobileNetV3-small at 224x224)."""
    pixels = max(1, int(np.prod(x.shape[2:])))
    return max(1, min(EVAL_BATCH, SIMULATOR_BATCH_PIXELS // pixels))


@dataclass(frozen=True)
class Evaluation:
    """Concatenated chunk outputs and labels of one evaluation."""

    outputs: dict
    labels: np.ndarray
    label: str


def run_chunks(model_bytes: bytes, qg: QuantizedGraph | None, chunks: Iterable[tuple[np.ndarray, np.ndarray]],
               engine: Engine, check_first_chunk: Callable[[np.ndarray], None] | None = None) -> Evaluation:
    """chunk_outputs over (images, labels) chunks, concatenated; `check_first_chunk(images)` runs
    before the first chunk is evaluated (the CLI's checks of the model's inputs)."""
    parts, labels = [], []
    for x, y in chunks:
        if not parts and check_first_chunk is not None:
            check_first_chunk(x)
        parts.append(chunk_outputs(model_bytes, qg, x, engine))
        labels.append(y)
    label = parts[0].pop("label")
    for p in parts[1:]:
        p.pop("label")
    return Evaluation({k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, np.concatenate(labels), label)


def score(evaluation: Evaluation, qg: QuantizedGraph | None, engine: Engine) -> dict:
    """The eval result (percent): top-1 / top-5 of the engine, with a resolver other than ref the
    reference top-1 and the agreement, and for a .qg the top-1 without / with CAT, the simulator's
    (and how many logits differ from the engine's) and the surrogate's."""
    out, y = evaluation.outputs, evaluation.labels
    logits, reference = out["logits"], out.get("reference")
    result = {"top1": top_k(logits, y, 1) * 100, "top5": top_k(logits, y, 5) * 100, "n": int(len(y)),
              "engine": evaluation.label, "interpreter": engine.interpreter, "resolver": engine.resolver}
    if reference is not None:
        result["top1_ref"] = top_k(reference, y, 1) * 100
        result["top1_agreement_with_ref"] = top1_agreement(logits, reference)
    if qg is not None and qg.cat is not None:
        result["top1_without_cat"] = top_k(out["without_cat"], y, 1) * 100
        result["top1_with_cat"] = top_k(out["with_cat"], y, 1) * 100
        result["cat"] = {"clusters": int(qg.cat["clusters"]), "alpha": float(qg.cat["alpha"])}
    if qg is not None:
        simulated = out["simulated"]
        result["simulator_top1"] = top_k(simulated, y, 1) * 100
        result["simulator_differing_elements"] = int(np.count_nonzero(simulated != logits))
        result["fake_quant_top1"] = top_k(out["fake_quant"], y, 1) * 100
        result["method"] = qg.meta.get("method")
    return result


def evaluate_chunks(model_bytes: bytes, qg: QuantizedGraph | None, chunks: Iterable[tuple[np.ndarray, np.ndarray]],
                    engine: Engine = Engine(), check_first_chunk: Callable[[np.ndarray], None] | None = None) -> dict:
    """Score `model_bytes` (for a .qg: its program bytes, lowered once by the caller) on labelled
    chunks of float NCHW images; see `score` for the keys."""
    return score(run_chunks(model_bytes, qg, chunks, engine, check_first_chunk), qg, engine)
