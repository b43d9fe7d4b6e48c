"""The one exception catrt raises for malformed files, unsupported content and bad inputs."""
from __future__ import annotations


class CatrtError(ValueError):
    """A .tflite file, an op in it, or an input given to the interpreter cannot be handled.

    The message is one line and names the culprit (op index and kind, tensor name, or field).
    """
