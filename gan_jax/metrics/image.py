"""Full-reference image quality: PSNR and SSIM, for super-resolution and translation against targets.

Images are float in [-1, 1] (the project's range; ``data_range`` 2) or any range given, NHWC; both functions return
one value per image ([N]). SSIM is Wang et al. (2004) as ``skimage.metrics.structural_similarity`` computes it by
default: a 7x7 uniform window, K1 = 0.01, K2 = 0.03, sample (N - 1) covariances, averaged over the window positions
that lie wholly inside the image and over channels (tests/test_vgg.py checks it against scikit-image).

:func:`sr_measures` is the super-resolution papers' protocol: SRGAN (Ledig et al. 2017, section 3.1) reports PSNR and
SSIM "on the y-channel of center-cropped, removal of a 4-pixel wide strip from each border, images", as SRCNN, EDSR
and ESRGAN do: the luma of ITU-R BT.601 on the 8-bit scale (MATLAB's ``rgb2ycbcr``, 16-235), range 255, with
``shave`` pixels (the upscaling factor) cut from every border, where zero padding and the interpolation's edge
handling differ most and a small crop would be dominated by them.
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


def luma(images_NxHxWx3: jax.Array) -> jax.Array:
    """[N, H, W, 1] BT.601 luma in [16, 235] (MATLAB's ``rgb2ycbcr``) of RGB images in [-1, 1]."""
    if images_NxHxWx3.ndim != 4 or images_NxHxWx3.shape[-1] != 3:
        raise ValueError(f"luma needs RGB images [N, H, W, 3], got shape {images_NxHxWx3.shape}")
    rgb = (images_NxHxWx3.astype(jnp.float32) + 1.0) / 2.0
    return 16.0 + rgb @ jnp.array([[65.481], [128.553], [24.966]])


def sr_measures(sr_NxHxWx3: jax.Array, hr_NxHxWx3: jax.Array, shave: int) -> dict[str, jax.Array]:
    """{'psnr_y', 'ssim_y'} per image, the super-resolution papers' protocol (module docstring): luma, ``shave``
    border pixels removed, data range 255."""
    _check(sr_NxHxWx3, hr_NxHxWx3)
    h, w = sr_NxHxWx3.shape[1:3]
    if shave < 0 or min(h, w) - 2 * shave < WIN:
        raise ValueError(f"cannot shave {shave} pixels from each border of {h}x{w} images and keep {WIN}x{WIN}")
    crop = lambda x: luma(x)[:, shave:h - shave, shave:w - shave]
    a, b = crop(sr_NxHxWx3), crop(hr_NxHxWx3)
    return {"psnr_y": psnr(a, b, 255.0), "ssim_y": ssim(a, b, 255.0)}
