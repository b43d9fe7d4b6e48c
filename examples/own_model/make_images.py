"""Write a generated ImageFolder of 64x64 RGB images: DIR/train/<class>/*.png and DIR/test/<class>/*.png
(classes: blobs, horizontal, vertical and diagonal stripes, under heavy noise and a random tint;
seeded, so the same DIR every time).

    python examples/own_model/make_images.py DIR [--train-per-class 60] [--test-per-class 30]
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 64
CLASSES = ("blobs", "hstripes", "vstripes", "diagonal")
NOISE = 0.6


def image(label: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    period = rng.uniform(6, 12)
    phase = rng.uniform(0, period)
    if label == 0:
        cy, cx = rng.uniform(16, 48, size=2)
        base = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(6, 12) ** 2))
    elif label == 1:
        base = 0.5 + 0.5 * np.sin(2 * np.pi * (yy + phase) / period)
    elif label == 2:
        base = 0.5 + 0.5 * np.sin(2 * np.pi * (xx + phase) / period)
    else:
        base = 0.5 + 0.5 * np.sin(2 * np.pi * (xx + yy + phase) / (period * 1.4))
    tint = rng.uniform(0.5, 1.0, size=3)
    img = base[..., None] * tint + rng.normal(0, NOISE, size=(SIZE, SIZE, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def write_folder(root: Path, per_class: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(image(label, rng), "RGB").save(root / name / f"{name}_{i:03d}.png")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir", type=Path)
    p.add_argument("--train-per-class", type=int, default=150)
    p.add_argument("--test-per-class", type=int, default=30)
    a = p.parse_args()
    write_folder(a.dir / "train", a.train_per_class, seed=1)
    write_folder(a.dir / "test", a.test_per_class, seed=2)
    print(f"{a.dir}: {len(CLASSES) * a.train_per_class} train, {len(CLASSES) * a.test_per_class} test images")


if __name__ == "__main__":
    main()
