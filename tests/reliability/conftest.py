"""Shared fixtures of the reliability tests: the fuzz harness module and its seed models."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_fuzz_harness():
    """bench/fuzz_reader.py as a module (bench/ is not a package)."""
    if "fuzz_reader" in sys.modules:
        return sys.modules["fuzz_reader"]
    spec = importlib.util.spec_from_file_location("fuzz_reader", ROOT / "bench" / "fuzz_reader.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_reader"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fuzz():
    return load_fuzz_harness()


@pytest.fixture(scope="session")
def fuzz_seeds(fuzz):
    return fuzz.build_seeds("tiny")
