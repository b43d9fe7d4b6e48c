"""catdeploy: 2/4-bit post-training quantization with CAT, exported as bit-exact integer TFLite.

Python API (catdeploy.quantized_model): ``catdeploy.quantize(model, images, bits=..., ...)`` returns
a QuantizedModel (export_tflite, verify, evaluate, predict, save); ``catdeploy.load("m.qg")``.
Imported lazily, so that ``import catdeploy`` (and the CLI's start) stays cheap.
"""

__all__ = ["quantize", "load", "sensitivity", "QuantizedModel"]


def __getattr__(name: str):
    if name in __all__:
        from catdeploy import quantized_model

        return getattr(quantized_model, name)
    raise AttributeError(f"module 'catdeploy' has no attribute {name!r}")
