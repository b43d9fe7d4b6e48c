"""The Python API from a training script: your own nn.Module and your own arrays in, an integer
TFLite file out, checked bit for bit and evaluated.

    .venv/bin/python examples/python_api.py [--bits w4a4] [--out example_out/digits_net.tflite]

It trains a small CNN for a few epochs on scikit-learn's digits (offline, seconds), then:
quantize (RTN + CAT), export, verify against every installed interpreter, evaluate, save / load.
"""
import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

import catdeploy
from catdeploy.data.datasets import load_dataset


class DigitsNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def train(net: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int = 6) -> None:
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            loss = nn.functional.cross_entropy(net(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bits", default="w4a4")
    p.add_argument("--out", default="example_out/digits_net.tflite")
    args = p.parse_args()
    torch.manual_seed(0)
    # Any float NCHW arrays work; here the digits, 1 channel at 16 x 16, normalised.
    train_set = load_dataset("digits:train", input_size=16, channels=1)
    test_set = load_dataset("digits:test", input_size=16, channels=1, normalization=train_set.normalization)
    x_train, y_train = train_set.batch(slice(None))
    x_test, y_test = test_set.batch(slice(None))
    net = DigitsNet()
    train(net, x_train, y_train)
    with torch.no_grad():
        fp_top1 = float((net(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean() * 100)

    qm = catdeploy.quantize(net, x_train, labels=y_train, bits=args.bits, cat=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest = qm.export_tflite(out, force=True)
    print(f"{qm}: wrote {out} ({manifest['size_bytes']} bytes)")
    check = qm.verify(x_test[:64])
    for r in check.runs:
        print(f"  {r.interpreter} {r.version} {r.resolver}: {r.tensors_compared} tensors, "
              f"{r.mismatched_elements} mismatched elements")
    ev = qm.evaluate(x_test, y_test)
    print(f"FP top-1 {fp_top1:.2f} %, integer top-1 {ev['top1']:.2f} % on {ev['n']} test images "
          f"(without / with CAT: {ev.get('top1_without_cat', ev['top1']):.2f} / {ev['top1']:.2f} %)")
    qm.save(out.with_suffix(".qg"), force=True)
    again = catdeploy.load(out.with_suffix(".qg"))
    assert again.tflite_bytes() == out.read_bytes()
    print("bit-exact" if check.bit_exact else "NOT bit-exact")


if __name__ == "__main__":
    main()
