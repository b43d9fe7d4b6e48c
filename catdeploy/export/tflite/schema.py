"""Access to the TFLite flatbuffer object API (`schema_py_generated`) shipped with ai-edge-litert.

tflite-runtime does not ship the schema module; TensorFlow does, so it is the fallback.
"""
from __future__ import annotations

import functools
from types import ModuleType

from catdeploy.errors import UserError


@functools.lru_cache(maxsize=1)
def schema() -> ModuleType:
    """The generated schema module (ModelT, TensorT, ... and the enums)."""
    try:
        from ai_edge_litert import schema_py_generated
        return schema_py_generated
    except ImportError:
        pass
    try:
        from tensorflow.lite.python import schema_py_generated
        return schema_py_generated
    except ImportError:
        raise UserError(
            "writing .tflite needs the TFLite schema module: pip install ai-edge-litert"
        ) from None
