"""Full-reference image quality: PSNR and SSIM, for super-resolution and translation against targets.

Images are float in [-1, 1] (the project's range; ``data_range`` 2) or any range given, NHWC; both functions return
one value per image ([N]). SSIM is Wang et al. (2004) as ``skimage.metrics.structural_similarity`` computes it by
default: a 7x7 uniform window, K1 = 0.01, K2 = 0.03, sample (N - 1) covariances, averaged over the window positions
that lie wholly inside the image and over channels (tests/test_vgg.py checks it against scikit-image).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

WIN = 7
K1, K2 = 0.01, 0.03


def _check(a, b):
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"expected two image batches [N, H, W, C] of one shape, got {a.shape} and {b.shape}")


def psnr(a_NxHxWxC: jax.Array, b_NxHxWxC: jax.Array, data_range: float = 2.0) -> jax.Array:
    """Peak signal-to-noise ratio per image, dB: 10 log10(range^2 / MSE) (inf for identical images)."""
    _check(a_NxHxWxC, b_NxHxWxC)
    mse = jnp.mean(jnp.square(a_NxHxWxC.astype(jnp.float32) - b_NxHxWxC), axis=(1, 2, 3))
    return 10.0 * jnp.log10(data_range**2 / mse)


def _window_mean(x):
    return jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, WIN, WIN, 1), (1, 1, 1, 1), "VALID") / WIN**2


def ssim(a_NxHxWxC: jax.Array, b_NxHxWxC: jax.Array, data_range: float = 2.0) -> jax.Array:
    """Structural similarity per image (mean over the valid 7x7 windows and the channels)."""
    _check(a_NxHxWxC, b_NxHxWxC)
    if min(a_NxHxWxC.shape[1:3]) < WIN:
        raise ValueError(f"SSIM needs images of at least {WIN}x{WIN} pixels, got {a_NxHxWxC.shape[1:3]}")
    a, b = a_NxHxWxC.astype(jnp.float32), b_NxHxWxC.astype(jnp.float32)
    cov_norm = WIN**2 / (WIN**2 - 1)  # sample covariance, as skimage's use_sample_covariance=True
    mu_a, mu_b = _window_mean(a), _window_mean(b)
    var_a = cov_norm * (_window_mean(a * a) - mu_a * mu_a)
    var_b = cov_norm * (_window_mean(b * b) - mu_b * mu_b)
    cov = cov_norm * (_window_mean(a * b) - mu_a * mu_b)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return jnp.mean(s, axis=(1, 2, 3))
