"""Fixtures for catrt tests: the test models, and their tensors under the real interpreters."""
from __future__ import annotations

import pytest

from ._reference import INTERPRETERS, ReferenceResults, installed, run_reference
from ._runtime_cases import build_cases


@pytest.fixture(scope="session")
def cases() -> dict:
    return build_cases()


@pytest.fixture(scope="session")
def reference(cases, tmp_path_factory) -> ReferenceResults:
    interpreters = [name for name in INTERPRETERS if installed(name)]
    if not interpreters:
        pytest.skip("no TFLite interpreter installed")
    workdir = tmp_path_factory.mktemp("reference")
    return ReferenceResults(run_reference(interpreters, cases, workdir))
