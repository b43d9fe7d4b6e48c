"""The CAT correction as data: the parameters a fit produces, stored in a .qg and lowered into the
integer head (lower/ops/cat_head.py), with its float application. Fitting lives in cat/fit.py."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

A_FLOOR = 0.05   # per-channel head scales are floored here (TFLite needs positive scales)


@dataclass(frozen=True)
class CatParams:
    """One fitted correction. K = len(centroids); K = 1 is the plain per-class affine."""

    alpha: float
    gamma: np.ndarray            # [K, C] float64
    beta: np.ndarray             # [K, C] float64
    centroids: np.ndarray        # [K, P] in the (projected) space
    cluster_sizes: np.ndarray    # [K] fit samples per cluster (views included)
    pca_components: np.ndarray | None = None   # [P, C]
    pca_mean: np.ndarray | None = None         # [C]

    @property
    def clusters(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def pca(self) -> int | None:
        return None if self.pca_components is None else int(self.pca_components.shape[0])

    def scale_and_offset(self) -> tuple[np.ndarray, np.ndarray]:
        """(A, B) [K, C]: z' = A_k * z + B_k, A floored at A_FLOOR."""
        a = 1.0 - self.alpha + self.alpha * self.gamma
        return np.maximum(a, A_FLOOR), self.alpha * self.beta

    def floored_channels(self) -> int:
        return int(np.sum(1.0 - self.alpha + self.alpha * self.gamma < A_FLOOR))

    def linear_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """(V [K, C], d [K]) with argmin_k |P(z - mu) - c_k|^2 = argmax_k (V_k . z + d_k)
        (cat-method.md §4)."""
        c = self.centroids.astype(np.float64)
        if self.pca_components is None:
            return 2.0 * c, -np.sum(c * c, axis=1)
        p = self.pca_components.astype(np.float64)
        v = 2.0 * c @ p
        d = -v @ self.pca_mean.astype(np.float64) - np.sum(c * c, axis=1)
        return v, d

    def assign(self, q: np.ndarray) -> np.ndarray:
        """Nearest centroid of each row of q (float); ties go to the lowest index."""
        v, d = self.linear_scores()
        scores = np.asarray(q, np.float64) @ v.T + d
        return np.argmax(scores, axis=1)

    def apply(self, q: np.ndarray) -> np.ndarray:
        """Float-applied CAT on logits q [N, C]."""
        a, b = self.scale_and_offset()
        k = self.assign(q) if self.clusters > 1 else np.zeros(len(q), np.int64)
        return a[k] * np.asarray(q, np.float64) + b[k]

    def to_archive(self) -> tuple[dict, dict]:
        """(JSON-able scalars, arrays) for the .qg archive."""
        arrays = {"gamma": self.gamma.astype(np.float64), "beta": self.beta.astype(np.float64),
                  "centroids": self.centroids.astype(np.float64),
                  "cluster_sizes": self.cluster_sizes.astype(np.int64)}
        if self.pca_components is not None:
            arrays["pca_components"] = self.pca_components.astype(np.float64)
            arrays["pca_mean"] = self.pca_mean.astype(np.float64)
        return {"alpha": float(self.alpha), "clusters": self.clusters, "pca": self.pca}, arrays

    @staticmethod
    def from_archive(meta: dict, arrays: dict) -> "CatParams":
        return CatParams(alpha=float(meta["alpha"]), gamma=np.asarray(arrays["gamma"], np.float64),
                         beta=np.asarray(arrays["beta"], np.float64),
                         centroids=np.asarray(arrays["centroids"], np.float64),
                         cluster_sizes=np.asarray(arrays["cluster_sizes"], np.int64),
                         pca_components=arrays.get("pca_components"), pca_mean=arrays.get("pca_mean"))
