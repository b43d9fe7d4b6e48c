"""CAT fit: PCA, seeded k-means, per-cluster per-class closed-form affine, shrinkage (cat-method.md §1, §3).

Inputs are logits of the quantized model computed by the integer engine (dequantized int8 logits
Q, N x C) and the full-precision logits F of the same images. Everything here is float and pure;
folding into integer ops lives in catdeploy/lower/ops/cat_head.py.

Robustness (ours, cat-method.md §3):
- gamma = cov(q, f) / max(var(q), VAR_FLOOR); gamma is clipped to [1 / GAMMA_CAP, GAMMA_CAP] and
  beta recomputed as the least-squares intercept for the clipped gamma (a constant class keeps its
  mean);
- each cluster's (gamma, beta) is shrunk toward the K = 1 fit with weight n_k / (n_k + SHRINK_TAU);
  clusters with fewer than MIN_CLUSTER_SAMPLES samples (and empty ones) take the K = 1 fit;
- A = 1 - alpha + alpha * gamma is then >= min(1, 1 / GAMMA_CAP) > 0 for alpha in (0, 1], so every
  corrected head has positive per-channel scales (TFLite requires them); A_FLOOR guards the rest.
"""
from __future__ import annotations

import numpy as np

from catdeploy.errors import UserError
from catdeploy.quant.cat_params import A_FLOOR, CatParams  # noqa: F401 (the fit's vocabulary, re-exported)

VAR_FLOOR = 1e-8
GAMMA_CAP = 4.0
SHRINK_TAU = 16.0
MIN_CLUSTER_SAMPLES = 2


def closed_form_affine(q: np.ndarray, f: np.ndarray, var_floor: float = VAR_FLOOR,
                       gamma_cap: float | None = GAMMA_CAP) -> tuple[np.ndarray, np.ndarray]:
    """Per class c: least squares f[:, c] ~ gamma_c * q[:, c] + beta_c (gamma = cov / var with a
    variance floor). With gamma_cap, gamma is clipped to [1/cap, cap] and beta is the intercept
    for the clipped gamma. q, f [n, C] with n >= 1."""
    q = np.asarray(q, np.float64)
    f = np.asarray(f, np.float64)
    mq, mf = q.mean(axis=0), f.mean(axis=0)
    var = np.mean((q - mq) ** 2, axis=0)
    cov = np.mean((q - mq) * (f - mf), axis=0)
    gamma = cov / np.maximum(var, var_floor)
    if gamma_cap is not None:
        gamma = np.clip(gamma, 1.0 / gamma_cap, gamma_cap)
    return gamma, mf - gamma * mq


def fit_projection(q: np.ndarray, pca: int | None, seed: int):
    """(components [P, C], mean [C]) of a centred, unwhitened PCA of q, or (None, None)."""
    if pca is None:
        return None, None
    from sklearn.decomposition import PCA

    n, c = q.shape
    if not 1 <= pca <= min(n, c):
        raise UserError(f"CAT PCA size {pca}: must be between 1 and min(samples, classes) = {min(n, c)}")
    model = PCA(n_components=pca, svd_solver="full", random_state=seed).fit(np.asarray(q, np.float64))
    return model.components_.astype(np.float64), model.mean_.astype(np.float64)


def project(q: np.ndarray, components, mean) -> np.ndarray:
    q = np.asarray(q, np.float64)
    return q if components is None else (q - mean) @ components.T


def kmeans_centroids(points: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Seeded k-means++ (scikit-learn); duplicate centroids (fewer distinct points than k) are
    dropped, keeping the first of each."""
    if k == 1:
        return points.mean(axis=0, keepdims=True)
    distinct = np.unique(points, axis=0)
    if len(distinct) < 2:
        return points.mean(axis=0, keepdims=True)
    from sklearn.cluster import KMeans

    k_eff = min(k, len(distinct))
    km = KMeans(n_clusters=k_eff, init="k-means++", n_init=4, random_state=seed, max_iter=300)
    km.fit(points)
    centroids = km.cluster_centers_.astype(np.float64)
    _, first = np.unique(np.round(centroids, 12), axis=0, return_index=True)
    return centroids[np.sort(first)]


def fit_cat(q: np.ndarray, f: np.ndarray, *, clusters: int, alpha: float, pca: int | None = None,
            seed: int = 0, shrink_tau: float = SHRINK_TAU) -> CatParams:
    """Fit CAT on quantized logits q and FP logits f (both [n, C])."""
    q = np.asarray(q, np.float64)
    f = np.asarray(f, np.float64)
    if q.shape != f.shape or q.ndim != 2 or len(q) == 0:
        raise UserError(f"CAT fit: quantized logits {q.shape} and FP logits {f.shape} must be equal, non-empty [N, C]")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(f))):
        raise UserError("CAT fit: logits contain NaN/Inf")
    if clusters < 1:
        raise UserError(f"--clusters {clusters}: must be at least 1")
    if clusters > len(q):
        raise UserError(f"--clusters {clusters}: more clusters than the {len(q)} fit samples")
    if not 0.0 < alpha <= 1.0:
        raise UserError(f"--alpha {alpha}: must be in (0, 1]")
    parent_gamma, parent_beta = closed_form_affine(q, f)
    components, mean = fit_projection(q, pca, seed) if clusters > 1 else (None, None)
    if clusters == 1:
        return CatParams(alpha=alpha, gamma=parent_gamma[None], beta=parent_beta[None],
                         centroids=q.mean(axis=0, keepdims=True), cluster_sizes=np.array([len(q)]))
    points = project(q, components, mean)
    centroids = kmeans_centroids(points, clusters, seed)
    probe = CatParams(alpha=alpha, gamma=np.ones((len(centroids), q.shape[1])),
                      beta=np.zeros((len(centroids), q.shape[1])), centroids=centroids,
                      cluster_sizes=np.zeros(len(centroids), np.int64),
                      pca_components=components, pca_mean=mean)
    labels = probe.assign(q)  # the linear-score assignment used at inference, ties included
    gammas, betas, sizes = [], [], []
    for k in range(len(centroids)):
        members = labels == k
        n_k = int(members.sum())
        sizes.append(n_k)
        if n_k < MIN_CLUSTER_SAMPLES:
            gammas.append(parent_gamma)
            betas.append(parent_beta)
            continue
        g, b = closed_form_affine(q[members], f[members])
        w = n_k / (n_k + shrink_tau)
        gammas.append(w * g + (1 - w) * parent_gamma)
        betas.append(w * b + (1 - w) * parent_beta)
    return CatParams(alpha=alpha, gamma=np.stack(gammas), beta=np.stack(betas), centroids=centroids,
                     cluster_sizes=np.asarray(sizes, np.int64), pca_components=components, pca_mean=mean)
