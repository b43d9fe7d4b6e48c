"""CAT fit (catdeploy/cat/fit.py): closed form, clustering, shrinkage and the edge cases."""
import numpy as np
import pytest

from catdeploy.cat.fit import (A_FLOOR, GAMMA_CAP, MIN_CLUSTER_SAMPLES, SHRINK_TAU, CatParams,
                               closed_form_affine, fit_cat)
from catdeploy.errors import UserError


def _logits(n=400, c=6, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, c)) * 3
    q = 0.6 * f + rng.normal(scale=0.8, size=(n, c)) + 0.5
    return q, f


def test_closed_form_equals_numpy_least_squares():
    q, f = _logits()
    gamma, beta = closed_form_affine(q, f, gamma_cap=None)
    for c in range(q.shape[1]):
        design = np.stack([q[:, c], np.ones(len(q))], axis=1)
        (g, b), *_ = np.linalg.lstsq(design, f[:, c], rcond=None)
        assert gamma[c] == pytest.approx(g, rel=1e-10, abs=1e-12)
        assert beta[c] == pytest.approx(b, rel=1e-10, abs=1e-12)


def test_gamma_cap_keeps_the_intercept_consistent():
    q, f = _logits()
    f[:, 0] = -5 * q[:, 0] + 1.0           # negative slope
    f[:, 1] = 40 * q[:, 1]                  # huge slope
    gamma, beta = closed_form_affine(q, f)
    assert gamma[0] == pytest.approx(1 / GAMMA_CAP) and gamma[1] == pytest.approx(GAMMA_CAP)
    assert beta[0] == pytest.approx(f[:, 0].mean() - gamma[0] * q[:, 0].mean())


def test_constant_class_and_identical_logits_are_handled():
    q, f = _logits()
    q[:, 2] = 1.25                          # a constant class: variance floor, output = mean of f
    params = fit_cat(q, f, clusters=1, alpha=1.0)
    assert np.allclose(params.apply(q)[:, 2], f[:, 2].mean())
    same = np.tile(q[:1], (50, 1))          # every sample identical
    params = fit_cat(same, f[:50], clusters=8, alpha=0.5)
    assert params.clusters == 1 and np.all(np.isfinite(params.apply(same)))


def test_linear_scores_give_the_nearest_centroid_with_and_without_pca():
    q, f = _logits(seed=3)
    for pca in (None, 3):
        params = fit_cat(q, f, clusters=8, alpha=0.4, pca=pca, seed=1)
        points = q if pca is None else (q - params.pca_mean) @ params.pca_components.T
        dist = ((points[:, None, :] - params.centroids[None]) ** 2).sum(-1)
        agree = np.mean(np.argmin(dist, axis=1) == params.assign(q))
        assert agree > 0.999


def test_small_and_empty_clusters_take_the_parent_fit_and_shrinkage_weights():
    q, f = _logits(n=300)
    q[0] = 200.0                            # a lone outlier: a one-sample cluster
    params = fit_cat(q, f, clusters=4, alpha=1.0, seed=0)
    parent_g, parent_b = closed_form_affine(q, f)
    sizes = params.cluster_sizes
    assert sizes.sum() == len(q)
    lone = int(np.argmin(sizes))
    assert sizes[lone] < MIN_CLUSTER_SAMPLES
    assert np.allclose(params.gamma[lone], parent_g) and np.allclose(params.beta[lone], parent_b)
    big = int(np.argmax(sizes))
    members = params.assign(q) == big
    g, b = closed_form_affine(q[members], f[members])
    w = sizes[big] / (sizes[big] + SHRINK_TAU)
    assert np.allclose(params.gamma[big], w * g + (1 - w) * parent_g)


def test_more_clusters_than_samples_is_a_user_error():
    q, f = _logits(n=10)
    with pytest.raises(UserError, match="--clusters 11"):
        fit_cat(q, f, clusters=11, alpha=0.4)
    with pytest.raises(UserError, match="--alpha"):
        fit_cat(q, f, clusters=2, alpha=1.5)


def test_non_positive_scales_are_floored():
    gamma = np.array([[1.0, -0.5, 0.0]])
    p = CatParams(alpha=1.0, gamma=gamma, beta=np.zeros((1, 3)), centroids=np.zeros((1, 3)),
                  cluster_sizes=np.array([10]))
    a, _ = p.scale_and_offset()
    assert a.min() == A_FLOOR and p.floored_channels() == 2
    q, f = _logits()
    fitted = fit_cat(q, -f, clusters=4, alpha=1.0)  # anti-correlated target: raw gamma < 0
    assert fitted.scale_and_offset()[0].min() > 0


def test_same_seed_same_parameters():
    q, f = _logits(seed=5)
    a = fit_cat(q, f, clusters=16, alpha=0.6, pca=3, seed=7)
    b = fit_cat(q, f, clusters=16, alpha=0.6, pca=3, seed=7)
    for x, y in zip(a.to_archive()[1].values(), b.to_archive()[1].values()):
        assert np.array_equal(x, y)


def test_an_empty_cluster_takes_the_parent_fit(monkeypatch):
    import catdeploy.cat.fit as fit

    q, f = _logits(n=200)
    real = fit.kmeans_centroids

    def with_far_centroid(points, k, seed):
        c = real(points, k - 1, seed)
        return np.concatenate([c, np.full((1, points.shape[1]), 1e6)])  # nobody is nearest to it

    monkeypatch.setattr(fit, "kmeans_centroids", with_far_centroid)
    params = fit.fit_cat(q, f, clusters=4, alpha=0.5)
    parent_g, parent_b = closed_form_affine(q, f)
    assert params.cluster_sizes[-1] == 0
    assert np.allclose(params.gamma[-1], parent_g) and np.allclose(params.beta[-1], parent_b)
