"""MINIMUM: elementwise min of raw values (reference_ops::MaximumMinimumBroadcastSlow); int8 v2."""
from catdeploy.export.tflite.ops import _min_max
from catdeploy.export.tflite.ops._common import OpSpec

SPEC = OpSpec(kind="MINIMUM", options_type="MaximumMinimumOptions", build_options=_min_max.build_options,
              version=_min_max.version, runtime_versions=_min_max.RUNTIME_VERSIONS, check=_min_max.check)
