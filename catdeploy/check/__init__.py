"""Checking an exported graph: the interpreter harness (interpreters), the bit-exact comparison of
catrt against each interpreter and resolver (verify), and what a .tflite holds (inspect_model).

Imports nothing heavy: `python -m catdeploy.check.interpreters worker` runs inside the aarch64
interpreters under qemu with only numpy and the interpreter installed.
"""
