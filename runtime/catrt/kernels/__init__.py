"""Pure NumPy functions mirroring TFLite's reference integer kernels, one op per module."""
