"""Lookup tables of the int8 element-wise kernels (LOGISTIC, HARD_SWISH, MUL).

TFLite's own LOGISTIC is a 256-entry table (common.h LUTPopulate / LookupTable); catrt builds the
same kind of table for any kernel whose output is a function of the int8 input values alone, by
running that kernel once on every input (or every pair of inputs) at prepare time. The tables are
ordered by the code's bit pattern (x & 0xFF: 0..127, then -128..-1), so eval indexes them with a
uint8 view of the int8 data (a pair: a uint16 index) and never forms a widened copy of it.
"""
from __future__ import annotations

import numpy as np

# every int8 value, in the order of its bit pattern: INT8_CODES[x & 0xFF] == x
INT8_CODES = np.arange(256, dtype=np.uint8).view(np.int8)
INT8_CODES.setflags(write=False)


def pairs_of_codes() -> tuple[np.ndarray, np.ndarray]:
    """(a, b), 65 536 each: every pair of int8 values, pair (a, b) at (a & 0xFF) << 8 | (b & 0xFF)."""
    return np.repeat(INT8_CODES, 256), np.tile(INT8_CODES, 256)


def lookup(table: np.ndarray, x: np.ndarray) -> np.ndarray:
    """table[x & 0xFF] for int8 x: the output of a table built on INT8_CODES."""
    return table[np.asarray(x, dtype=np.int8).view(np.uint8)]


def lookup_pairs(table: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """table[(a & 0xFF) << 8 | (b & 0xFF)] for int8 a, b broadcast as NumPy: the output of a
    65 536-entry table built on pairs_of_codes()."""
    a_bits = np.asarray(a, dtype=np.int8).view(np.uint8)
    b_bits = np.asarray(b, dtype=np.int8).view(np.uint8)
    index = np.empty(np.broadcast_shapes(a_bits.shape, b_bits.shape), dtype=np.uint16)
    index[...] = a_bits
    index <<= 8
    index |= b_bits
    return table[index]
