"""IntProgram -> .tflite flatbuffer bytes (one file per op under ops/)."""
from catdeploy.export.tflite.writer import write_tflite

__all__ = ["write_tflite"]
