"""Distances between two sets of features [N, D] (numpy, float64): Frechet distance, KID, precision/recall.

Feature-extractor agnostic: the project's MNIST classifier features (gan_jax.metrics.classifier) or, given
user-supplied weights, Inception pool3 features (then `frechet_distance` is the standard FID).
"""

from __future__ import annotations

import numpy as np


def _as_features(x, name: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name}: expected features [N, D], got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: features contain NaN or inf")
    return x


def _pair(a, b, min_n: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_features(a, "first set"), _as_features(b, "second set")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    if min(len(a), len(b)) < min_n:
        raise ValueError(f"need at least {min_n} samples per set, got {len(a)} and {len(b)}")
    return a, b


def frechet_distance(feats_a, feats_b) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2) between Gaussians fitted to the two sets (Heusel+ 2017).

    tr((S_a S_b)^1/2) is computed as the sum of square roots of the eigenvalues of the symmetric PSD matrix
    S_a^1/2 S_b S_a^1/2 (similar to S_a S_b, so the same spectrum). That is exact, real by construction and fine with
    singular covariances (N <= D): standard FID code instead calls scipy.linalg.sqrtm on the non-symmetric S_a S_b and
    then needs an eps*I offset and a discarded imaginary part; here negative round-off eigenvalues are clipped to 0.
    """
    a, b = _pair(feats_a, feats_b, min_n=2)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    w, v = np.linalg.eigh(cov_a)
    sqrt_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    m = sqrt_a @ cov_b @ sqrt_a
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    fd = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * tr_covmean
    return float(max(fd, 0.0))  # it is a squared distance; only round-off makes it negative


def _poly_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    m = len(x)
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    off_diag = m * (m - 1)
    return float((k_xx.sum() - np.trace(k_xx)) / off_diag + (k_yy.sum() - np.trace(k_yy)) / off_diag
                 - 2.0 * k_xy.mean())


def kernel_inception_distance(feats_a, feats_b, n_subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski+ 2018): unbiased MMD^2 with k(x, y) = (x.y / D + 1)^3, as (mean, std) over random subsets.

    Each of `n_subsets` draws min(subset_size, N_a, N_b) samples from each set without replacement. Unbiased: its
    expectation is 0 for two samples of one distribution, so small negative values are normal.
    """
    a, b = _pair(feats_a, feats_b, min_n=2)
    m = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    mmds = np.array([_poly_mmd2_unbiased(a[rng.choice(len(a), m, replace=False)],
                                         b[rng.choice(len(b), m, replace=False)]) for _ in range(n_subsets)])
    return float(mmds.mean()), float(mmds.std())


def _sq_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return np.clip(d2, 0.0, None)


def _row_chunks(n_rows: int, n_cols: int, max_elements: int = 8_000_000):
    step = max(1, max_elements // max(n_cols, 1))  # 8M float64 = 64 MB per block
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def _knn_sq_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each point to its k-th nearest other point of the same set."""
    radii = np.empty(len(x))
    for rows in _row_chunks(len(x), len(x)):
        d2 = _sq_distances(x[rows], x)
        radii[rows] = np.partition(d2, k, axis=1)[:, k]  # column 0 of the sorted row is the point itself
    return radii


def _coverage(queries: np.ndarray, centers: np.ndarray, sq_radii: np.ndarray) -> float:
    """Fraction of queries inside at least one ball (center_i, radius_i)."""
    inside = np.empty(len(queries), bool)
    for rows in _row_chunks(len(queries), len(centers)):
        inside[rows] = (_sq_distances(queries[rows], centers) <= sq_radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi+ 2019) as (precision, recall).

    Each set's manifold is the union of balls around its samples with radius = distance to the k-th nearest
    neighbour in the set. Precision: fraction of fake samples inside the real manifold (fidelity); recall: fraction
    of real samples inside the fake manifold (coverage). Known weakness (the paper's, kept as published): a few
    outlying real samples have large balls, so a collapsed fake set that lands in one scores a high precision (uniform
    noise, which the MNIST classifier maps to one tight cluster, gets ~0.4 against 500 real digits); read precision
    together with recall and FD.
    """
    real, fake = _pair(real, fake, min_n=k + 1)
    precision = _coverage(fake, real, _knn_sq_radii(real, k))
    recall = _coverage(real, fake, _knn_sq_radii(fake, k))
    return precision, recall
