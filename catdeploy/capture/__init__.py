"""torch model -> float Graph (capture), and the check that the Graph computes what the model does."""
from catdeploy.capture.capture import capture
from catdeploy.capture.check import capture_check

__all__ = ["capture", "capture_check"]
