"""Augmented views of calibration images for the CAT fit (`--cat-views N`).

View j of an image is a seeded horizontal flip and/or a shift by up to MAX_SHIFT pixels (border
pixels repeated), applied to the preprocessed NCHW batch. The views only add fit samples; the
held-out selection split always uses the original images.
"""
from __future__ import annotations

import numpy as np

MAX_SHIFT = 2


def shift_image(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift a [C, H, W] image by (dy, dx) pixels, repeating the border."""
    _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (MAX_SHIFT, MAX_SHIFT), (MAX_SHIFT, MAX_SHIFT)), mode="edge")
    top, left = MAX_SHIFT - dy, MAX_SHIFT - dx
    return padded[:, top:top + h, left:left + w]


def augmented_views(images: np.ndarray, views: int, seed: int) -> np.ndarray:
    """`views` extra versions of every image (NCHW float32), [views * N, C, H, W]; none for views=0."""
    images = np.asarray(images, np.float32)
    if views <= 0:
        return images[:0]
    rng = np.random.default_rng([seed, 7919])
    out = np.empty((views * len(images),) + images.shape[1:], np.float32)
    i = 0
    for _ in range(views):
        flips = rng.random(len(images)) < 0.5
        shifts = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=(len(images), 2))
        for img, flip, (dy, dx) in zip(images, flips, shifts):
            v = img[:, :, ::-1] if flip else img
            if not flip and dy == 0 and dx == 0:
                dx = 1  # never a copy of the original
            out[i] = shift_image(v, int(dy), int(dx))
            i += 1
    return out
