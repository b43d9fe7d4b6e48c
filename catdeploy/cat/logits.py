"""The CAT images' logits, collected a chunk at a time: the integer classifier input codes and
logits (catrt on the lowered program, bit-exact with the interpreters), the FP logits, labels and
the fold of each image. Images are never held at once; what is kept per image is D int8 codes
and 2 x C floats (8192 images of FMNIST-R18: 4 MB codes, 1.3 MB logits).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from catdeploy.integer.metrics import dequantize
from catdeploy.integer.program import program_bytes
from catdeploy.integer.runner import catrt_tensors, output_qparams
from catdeploy.quant.quantized_graph import QuantizedGraph


@dataclass(frozen=True)
class CatLogits:
    """Rows are images and their augmented views. features: int8 codes of the classifier input
    [N, D]; q: dequantized integer logits [N, C]; f: FP logits [N, C]; labels [N] (None: no
    labels, the FP top-1 is the target); source: index of the image a row comes from; view: True
    for an augmented view (fitted on, never scored)."""

    features: np.ndarray
    q: np.ndarray
    f: np.ndarray
    labels: np.ndarray | None
    source: np.ndarray
    view: np.ndarray

    @property
    def images(self) -> int:
        return int(np.count_nonzero(~self.view))

    def targets(self) -> np.ndarray:
        """Labels, or the FP top-1 where there are none."""
        return self.labels if self.labels is not None else np.argmax(self.f, axis=1)

    def folds(self, folds: int, seed: int) -> np.ndarray:
        """Fold of every row: images dealt to `folds` folds in a seeded order, views follow their image."""
        n_images = int(self.source.max()) + 1 if len(self.source) else 0
        order = np.random.default_rng(seed).permutation(n_images)
        of_image = np.empty(n_images, np.int64)
        of_image[order] = np.arange(n_images) % folds
        return of_image[self.source]


def collect_cat_logits(qg: QuantizedGraph, chunks: Iterable[tuple[np.ndarray, np.ndarray | None]],
                       fp_logits_of: Callable[[np.ndarray], np.ndarray], classifier_input: str,
                       classifier_output: str, views: int = 0, seed: int = 0,
                       log=lambda m: None) -> CatLogits:
    """Run the integer program of `qg` (no CAT head) and the FP model over `chunks` of (images NCHW
    float, labels or None), keeping the classifier's input codes and both logits of every image
    (and of `views` augmented views per image, made per chunk with seed + chunk number)."""
    from catdeploy.cat.views import augmented_views

    model_bytes = program_bytes(qg)
    scale, zero_point = output_qparams(model_bytes)
    parts: dict[str, list] = {"features": [], "q": [], "f": [], "labels": [], "source": [], "view": []}
    start, has_labels = 0, True
    for number, (images, labels) in enumerate(chunks):
        extra = augmented_views(images, views, seed + number) if views else images[:0]
        rows = np.concatenate([images, extra]) if len(extra) else images
        source = np.arange(start, start + len(images))
        source = np.concatenate([source, np.tile(source, len(extra) // max(len(images), 1))]) if len(extra) else source
        ints = catrt_tensors(model_bytes, rows, [classifier_input, classifier_output])
        parts["features"].append(ints[classifier_input].reshape(len(rows), -1))
        parts["q"].append(dequantize(ints[classifier_output], scale, zero_point))
        parts["f"].append(np.asarray(fp_logits_of(rows), np.float64))
        parts["source"].append(source)
        parts["view"].append(np.arange(len(rows)) >= len(images))
        if labels is None:
            has_labels = False
        else:
            parts["labels"].append(np.concatenate([labels, np.tile(labels, len(extra) // max(len(images), 1))])
                                   if len(extra) else np.asarray(labels))
        start += len(images)
        log(f"CAT: integer and FP logits of {start} images")
    return CatLogits(np.concatenate(parts["features"]), np.concatenate(parts["q"]), np.concatenate(parts["f"]),
                     np.concatenate(parts["labels"]).astype(np.int64) if has_labels and parts["labels"] else None,
                     np.concatenate(parts["source"]), np.concatenate(parts["view"]))
