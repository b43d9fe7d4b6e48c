"""CAT: fit (fit.py), held-out selection (select.py), in-network affine (affine_layers.py); the fold is lower/ops/cat_head.py."""
