"""AVERAGE_POOL_2D: Pool2DOptions; int8 version 2. Mirrors reference_integer_ops::AveragePool."""
from catdeploy.export.tflite.ops import _pool
from catdeploy.export.tflite.ops._common import OpSpec

SPEC = OpSpec(kind="AVERAGE_POOL_2D", options_type="Pool2DOptions", build_options=_pool.build_options,
              version=_pool.version, runtime_versions=_pool.RUNTIME_VERSIONS, check=_pool.check)
