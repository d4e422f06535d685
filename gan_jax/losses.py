"""Adversarial losses, gradient penalties and reconstruction terms for every gan_jax model.

Index (one way to do each thing; thin named wrappers over a few primitives):
  primitives     bce_with_logits, mse_loss, l1_loss, mse_energy, l1_energy, classification_loss
  minimax / NS   minimax_d_loss, nonsaturating_g_loss                       (GAN, DCGAN, CGAN, ...)
  least squares  least_squares_d_loss, least_squares_g_loss                 (LSGAN, CycleGAN, pix2pix, ...)
  Wasserstein    wasserstein_critic_loss, wasserstein_g_loss                (WGAN, WGAN-GP, WGAN-div)
  hinge          hinge_d_loss, hinge_g_loss
  relativistic   relativistic_d_loss, relativistic_g_loss                   (RSGAN; average=True: RaSGAN)
  softmax GAN    softmax_gan_d_loss, softmax_gan_g_loss
  boundary-seek  boundary_seeking_g_loss                                    (BGAN)
  energy-based   pullaway_term, ebgan_d_loss, ebgan_g_loss                  (EBGAN)
  BEGAN          began_d_loss, began_g_loss, began_k_update, began_convergence
  penalties      wgan_gp_penalty, dragan_penalty, wgan_div_penalty
  reconstruction cycle_consistency_loss, identity_loss, kl_standard_normal
  auxiliary      classification_loss (ACGAN), info_categorical_loss, info_continuous_loss (InfoGAN)

Conventions. Discriminator outputs are *logits* (no sigmoid/softmax in the network) wherever a probability is
involved; every such loss is written with `jax.nn.log_sigmoid` / `log_softmax` / `logsumexp`, so it stays finite with
finite gradients at any logit. Scores may have any shape ((N,), (N, 1), PatchGAN (N, h, w, 1)); losses average over
all elements. Images are NHWC; "per sample" means over every axis but the first. Penalties return the bare penalty:
the caller multiplies by its weight (`lambda_gp`).
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array
Critic = Callable[[Array], Array]


# --------------------------------------------------------------------------------------------------------------------
# Primitives
# --------------------------------------------------------------------------------------------------------------------

def bce_with_logits(logits: Array, target: Array | float) -> Array:
    """Mean binary cross-entropy of sigmoid(logits) against `target` in [0, 1] (PyTorch's BCEWithLogitsLoss).

    -[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], with log(1 - sigmoid(x)) = log_sigmoid(-x).
    """
    target = jnp.asarray(target, logits.dtype)
    return -jnp.mean(target * jax.nn.log_sigmoid(logits) + (1 - target) * jax.nn.log_sigmoid(-logits))


def mse_loss(prediction: Array, target: Array | float) -> Array:
    """Mean squared error over all elements (PyTorch's MSELoss)."""
    return jnp.mean(jnp.square(prediction - target))


def l1_loss(prediction: Array, target: Array | float) -> Array:
    """Mean absolute error over all elements (PyTorch's L1Loss): pixelwise L1."""
    return jnp.mean(jnp.abs(prediction - target))


def _per_sample_mean(x: Array) -> Array:
    return jnp.mean(x.reshape(x.shape[0], -1), axis=1)


def mse_energy(reconstruction: Array, x: Array) -> Array:
    """Per-sample autoencoder energy mean((D(x) - x)^2) over H, W, C: shape (N,) (EBGAN, Zhao et al. 2016)."""
    return _per_sample_mean(jnp.square(reconstruction - x))


def l1_energy(reconstruction: Array, x: Array) -> Array:
    """Per-sample autoencoder energy mean(|D(x) - x|) over H, W, C: shape (N,) (BEGAN, Berthelot et al. 2017, eta=1)."""
    return _per_sample_mean(jnp.abs(reconstruction - x))


# --------------------------------------------------------------------------------------------------------------------
# Minimax / non-saturating (Goodfellow et al. 2014)
# --------------------------------------------------------------------------------------------------------------------

def minimax_d_loss(real_logits: Array, fake_logits: Array, real_label: float = 1.0) -> Array:
    """GAN discriminator loss (Goodfellow et al. 2014): [BCE(D(x), 1) + BCE(D(G(z)), 0)] / 2.

    The 1/2 is PyTorch-GAN's. `real_label` < 1 is one-sided label smoothing (Salimans et al. 2016, e.g. 0.9).
    """
    return 0.5 * (bce_with_logits(real_logits, real_label) + bce_with_logits(fake_logits, 0.0))


def nonsaturating_g_loss(fake_logits: Array) -> Array:
    """Non-saturating generator loss (Goodfellow et al. 2014): BCE(D(G(z)), 1) = -mean(log sigmoid(D(G(z))))."""
    return bce_with_logits(fake_logits, 1.0)


# --------------------------------------------------------------------------------------------------------------------
# Least squares (LSGAN, Mao et al. 2017)
# --------------------------------------------------------------------------------------------------------------------

def least_squares_d_loss(real_out: Array, fake_out: Array, a: float = 0.0, b: float = 1.0) -> Array:
    """LSGAN discriminator loss (Mao et al. 2017): 1/2 mean((D(x) - b)^2) + 1/2 mean((D(G(z)) - a)^2)."""
    return 0.5 * (mse_loss(real_out, b) + mse_loss(fake_out, a))


def least_squares_g_loss(fake_out: Array, c: float = 1.0) -> Array:
    """LSGAN generator loss: mean((D(G(z)) - c)^2).

    As PyTorch-GAN's lsgan.py (no 1/2; the paper's 1/2 only rescales the loss).
    """
    return mse_loss(fake_out, c)


# --------------------------------------------------------------------------------------------------------------------
# Wasserstein (Arjovsky et al. 2017) and hinge (Lim & Ye 2017; Miyato et al. 2018)
# --------------------------------------------------------------------------------------------------------------------

def wasserstein_critic_loss(real_scores: Array, fake_scores: Array) -> Array:
    """WGAN critic loss (Arjovsky et al. 2017): mean(C(G(z))) - mean(C(x)), minimized."""
    return jnp.mean(fake_scores) - jnp.mean(real_scores)


def wasserstein_g_loss(fake_scores: Array) -> Array:
    """WGAN generator loss: -mean(C(G(z)))."""
    return -jnp.mean(fake_scores)


def hinge_d_loss(real_scores: Array, fake_scores: Array) -> Array:
    """Hinge discriminator loss (Lim & Ye 2017): mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))."""
    return jnp.mean(jax.nn.relu(1.0 - real_scores)) + jnp.mean(jax.nn.relu(1.0 + fake_scores))


def hinge_g_loss(fake_scores: Array) -> Array:
    """Hinge generator loss: -mean(D(G(z))) (the same as the Wasserstein generator loss)."""
    return wasserstein_g_loss(fake_scores)


# --------------------------------------------------------------------------------------------------------------------
# Relativistic (Jolicoeur-Martineau 2018)
# --------------------------------------------------------------------------------------------------------------------

def _relativistic_logits(real_logits: Array, fake_logits: Array, average: bool) -> tuple[Array, Array]:
    """(C(x_r) - ref(C(x_f)), C(x_f) - ref(C(x_r))): ref is the other sample (RSGAN) or the batch mean (RaSGAN)."""
    if average:
        return (real_logits - jnp.mean(fake_logits, axis=0, keepdims=True),
                fake_logits - jnp.mean(real_logits, axis=0, keepdims=True))
    return real_logits - fake_logits, fake_logits - real_logits


def relativistic_d_loss(real_logits: Array, fake_logits: Array, average: bool = False) -> Array:
    """RSGAN / RaSGAN discriminator loss (Jolicoeur-Martineau 2018), as PyTorch-GAN's relativistic_gan.py:

    [BCE(C(x_r) - C(x_f), 1) + BCE(C(x_f) - C(x_r), 0)] / 2; with `average`, the other term is the batch mean
    (C(x_r) - mean C(x_f), C(x_f) - mean C(x_r)). RSGAN pairs real and fake samples: equal batch shapes.
    """
    real_rel, fake_rel = _relativistic_logits(real_logits, fake_logits, average)
    return 0.5 * (bce_with_logits(real_rel, 1.0) + bce_with_logits(fake_rel, 0.0))


def relativistic_g_loss(real_logits: Array, fake_logits: Array, average: bool = False) -> Array:
    """RSGAN / RaSGAN generator loss: the discriminator loss with the labels swapped,

    [BCE(C(x_r) - ref C(x_f), 0) + BCE(C(x_f) - ref C(x_r), 1)] / 2.
    For RSGAN both terms are equal (BCE(-d, 0) = BCE(d, 1)), so this is exactly PyTorch-GAN's
    BCE(C(x_f) - C(x_r), 1). For RaSGAN it is the paper's loss (halved, like D's); PyTorch-GAN keeps only the
    fake term, dropping the real term's gradient through mean C(x_f) -- a deviation from the paper we do not copy.
    (PyTorch-GAN then overwrites this loss with the plain non-saturating one, so its G never trained
    relativistically: a bug, also not copied.)
    """
    real_rel, fake_rel = _relativistic_logits(real_logits, fake_logits, average)
    return 0.5 * (bce_with_logits(real_rel, 0.0) + bce_with_logits(fake_rel, 1.0))


# --------------------------------------------------------------------------------------------------------------------
# Softmax GAN (Lin 2017)
# --------------------------------------------------------------------------------------------------------------------

def _softmax_gan_terms(real_energy: Array, fake_energy: Array) -> tuple[Array, Array]:
    both = jnp.concatenate([real_energy.ravel(), fake_energy.ravel()])
    return both, jax.nn.logsumexp(-both)  # log Z_B, Z_B = sum over B+ and B- of exp(-D(x))


def softmax_gan_d_loss(real_energy: Array, fake_energy: Array) -> Array:
    """Softmax GAN discriminator loss (Lin 2017): mean_{B+} D(x) + log Z_B, Z_B = sum_{B+ u B-} exp(-D(x)).

    D outputs an energy (no sigmoid). PyTorch-GAN's log(Z + 1e-8) is computed here exactly as a logsumexp; its
    script back-propagates the G loss through D weights already updated in place (a crash on current PyTorch): the
    intent, ported, is that each loss is a pure function of D's outputs at the parameters being differentiated.
    """
    _, log_z = _softmax_gan_terms(real_energy, fake_energy)
    return jnp.mean(real_energy) + log_z


def softmax_gan_g_loss(real_energy: Array, fake_energy: Array) -> Array:
    """Softmax GAN generator loss (Lin 2017): mean_{B+ u B-} D(x) + log Z_B (target 1/|B| on every sample)."""
    both, log_z = _softmax_gan_terms(real_energy, fake_energy)
    return jnp.mean(both) + log_z


# --------------------------------------------------------------------------------------------------------------------
# Boundary-seeking GAN (Hjelm et al. 2018)
# --------------------------------------------------------------------------------------------------------------------

def boundary_seeking_g_loss(fake_logits: Array) -> Array:
    """BGAN generator loss (Hjelm et al. 2018): 1/2 mean((log D(G(z)) - log(1 - D(G(z))))^2) = 1/2 mean(logit^2).

    On logits this is exact and stable (bgan.py takes logs of sigmoid outputs, infinite at saturation).
    The discriminator trains with `minimax_d_loss`.
    """
    return 0.5 * jnp.mean(jnp.square(fake_logits))


# --------------------------------------------------------------------------------------------------------------------
# Energy-based GAN (Zhao et al. 2016)
# --------------------------------------------------------------------------------------------------------------------

def pullaway_term(embeddings: Array, eps: float = 1e-12) -> Array:
    """EBGAN pull-away term on encoder embeddings S (N, d) (Zhao et al. 2016, eq. 6):

    PT = 1 / (N (N - 1)) * sum_{i != j} (S_i . S_j / (|S_i| |S_j|))^2.
    Bug fixed: PyTorch-GAN's ebgan.py sums the cosine similarities without squaring them, so G is rewarded for
    anti-aligned embeddings instead of orthogonal ones; its 1/(N(N-1)) normalization and removal of the diagonal
    (subtracting N, each self-similarity being 1, squared or not) are right and kept. `eps` guards a zero embedding.
    """
    s = embeddings.reshape(embeddings.shape[0], -1)
    s = s * jax.lax.rsqrt(jnp.sum(jnp.square(s), axis=1, keepdims=True) + eps)
    n = s.shape[0]
    cos_sq = jnp.square(s @ s.T)
    off_diagonal = jnp.sum(cos_sq) - jnp.sum(jnp.diagonal(cos_sq))
    return off_diagonal / (n * (n - 1))


def ebgan_d_loss(real_energy: Array, fake_energy: Array, margin: float) -> Array:
    """EBGAN discriminator loss (Zhao et al. 2016): mean(D(x)) + mean(max(0, m - D(G(z)))), D = `mse_energy`.

    With per-sample energies (N,) this is the paper's per-sample hinge. PyTorch-GAN's ebgan.py applies the hinge to
    the batch-mean energy (and uses margin = max(1, batch_size / 64)): pass scalar energies to reproduce it.
    """
    return jnp.mean(real_energy) + jnp.mean(jax.nn.relu(margin - fake_energy))


def ebgan_g_loss(fake_energy: Array, fake_embeddings: Array, pt_weight: float = 0.1) -> Array:
    """EBGAN-PT generator loss: mean(D(G(z))) + pt_weight * PT(S) (ebgan.py: lambda_pt = 0.1).

    ebgan.py computes D(G(z)) against a detached G(z) target (gradients only through the reconstruction); that
    choice belongs to the caller building `fake_energy` (`mse_energy(recon, jax.lax.stop_gradient(fake))`).
    """
    return jnp.mean(fake_energy) + pt_weight * pullaway_term(fake_embeddings)


# --------------------------------------------------------------------------------------------------------------------
# BEGAN (Berthelot et al. 2017); energies from `l1_energy`
# --------------------------------------------------------------------------------------------------------------------

def began_d_loss(real_energy: Array, fake_energy: Array, k: Array | float) -> Array:
    """BEGAN discriminator loss: L(x) - k_t L(G(z)), L = L1 autoencoder energy."""
    return jnp.mean(real_energy) - jax.lax.stop_gradient(k) * jnp.mean(fake_energy)


def began_g_loss(fake_energy: Array) -> Array:
    """BEGAN generator loss: L(G(z))."""
    return jnp.mean(fake_energy)


def began_k_update(k: Array | float, real_energy: Array, fake_energy: Array,
                   gamma: float = 0.75, lambda_k: float = 0.001) -> Array:
    """BEGAN equilibrium control: k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1) (began.py defaults)."""
    balance = gamma * jnp.mean(real_energy) - jnp.mean(fake_energy)
    return jax.lax.stop_gradient(jnp.clip(k + lambda_k * balance, 0.0, 1.0))


def began_convergence(real_energy: Array, fake_energy: Array, gamma: float = 0.75) -> Array:
    """BEGAN convergence measure: M = L(x) + |gamma L(x) - L(G(z))|."""
    real = jnp.mean(real_energy)
    return jax.lax.stop_gradient(real + jnp.abs(gamma * real - jnp.mean(fake_energy)))


# --------------------------------------------------------------------------------------------------------------------
# Gradient penalties. `critic(x)` maps a batch to one score per sample (any shape with leading N); each sample's
# score must depend on that sample only (no batch statistics in train mode), as in PyTorch-GAN's grad_outputs=ones.
# Real and fake enter as data (stop_gradient, PyTorch-GAN's `.data`): the penalty is differentiable w.r.t. the
# critic's parameters closed over by `critic`, and works under jit.
# --------------------------------------------------------------------------------------------------------------------

def _per_sample_alpha(key: Array, x: Array) -> Array:
    """One U[0, 1) weight per sample, broadcast over H, W, C: shape (N, 1, 1, 1)."""
    return jax.random.uniform(key, (x.shape[0],) + (1,) * (x.ndim - 1), x.dtype)


def _interpolate(key: Array, a: Array, b: Array) -> Array:
    alpha = _per_sample_alpha(key, a)
    return alpha * a + (1.0 - alpha) * b


def _per_sample_grad_sq_norm(critic: Critic, x: Array) -> Array:
    """||d critic(x)_i / d x_i||_2^2 with the gradient flattened per sample: shape (N,)."""
    grads = jax.grad(lambda v: jnp.sum(critic(v)))(x)
    return jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1)


def _unit_norm_penalty(critic: Critic, x: Array) -> Array:
    """mean((||grad||_2 - 1)^2); the sqrt is guarded so a zero gradient gives a zero (not NaN) derivative."""
    sq = _per_sample_grad_sq_norm(critic, x)
    positive = sq > 0
    norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)
    return jnp.mean(jnp.square(norm - 1.0))


def wgan_gp_penalty(critic: Critic, real: Array, fake: Array, key: Array) -> Array:
    """WGAN-GP penalty (Gulrajani et al. 2017): mean((||grad C(x_hat)||_2 - 1)^2),

    x_hat = alpha x + (1 - alpha) G(z), one alpha ~ U[0, 1) per sample, gradient flattened per sample.
    """
    real, fake = jax.lax.stop_gradient(real), jax.lax.stop_gradient(fake)
    return _unit_norm_penalty(critic, _interpolate(key, real, fake))


def dragan_penalty(critic: Critic, real: Array, key: Array, noise_scale: float = 0.5) -> Array:
    """DRAGAN penalty (Kodali et al. 2017): mean((||grad D(x_hat)||_2 - 1)^2) around the real data,

    x_p = x + noise_scale * std(x) * U[0, 1) (std over the whole batch), x_hat = alpha x + (1 - alpha) x_p.
    Bugs fixed from PyTorch-GAN's dragan.py: it draws one alpha per pixel (here one per sample, as in WGAN-GP and the
    DRAGAN authors' code) and takes the gradient norm over dim 1 only (channels) instead of per flattened sample.
    It also multiplies by lambda_gp inside; here the caller does. No fake batch: the penalty lives at the data.
    """
    real = jax.lax.stop_gradient(real)
    alpha_key, noise_key = jax.random.split(key)
    perturbed = real + noise_scale * jnp.std(real) * jax.random.uniform(noise_key, real.shape, real.dtype)
    return _unit_norm_penalty(critic, _interpolate(alpha_key, real, perturbed))


def wgan_div_penalty(critic: Critic, real: Array, fake: Array, key: Array, k: float = 2.0, p: float = 6.0) -> Array:
    """WGAN-div penalty (Wu et al. 2018, Algorithm 1): k * mean(||grad C(x_hat)||_2^p), k = 2, p = 6,

    x_hat = eps x + (1 - eps) G(z), one eps ~ U[0, 1) per sample (the paper's Algorithm 1).
    Deviation from PyTorch-GAN's wgan_div.py, on purpose: it evaluates the gradient at the real and at the fake
    samples separately, k/2 * mean(||grad C(x)||^p + ||grad C(G(z))||^p); we follow the paper's interpolates.
    The penalty does not depend on the sign convention of the critic (the paper's is the opposite of WGAN's).
    """
    real, fake = jax.lax.stop_gradient(real), jax.lax.stop_gradient(fake)
    sq = _per_sample_grad_sq_norm(critic, _interpolate(key, real, fake))
    return k * jnp.mean(sq ** (p / 2.0))  # ||g||^p = (||g||^2)^(p/2): smooth at 0 for p >= 2


# --------------------------------------------------------------------------------------------------------------------
# Reconstruction and latent terms (CycleGAN, DiscoGAN, DualGAN, UNIT, MUNIT, pix2pix, AAE, BicycleGAN, ...)
# --------------------------------------------------------------------------------------------------------------------

def cycle_consistency_loss(reconstructed: Array, original: Array) -> Array:
    """Cycle-consistency loss (Zhu et al. 2017): mean|F(G(x)) - x| (L1)."""
    return l1_loss(reconstructed, original)


def identity_loss(mapped: Array, original: Array) -> Array:
    """Identity-mapping loss (Taigman et al. 2017, CycleGAN): mean|G(y) - y| (L1)."""
    return l1_loss(mapped, original)


def kl_standard_normal(mu: Array, logvar: Array | None = None) -> Array:
    """KL(N(mu, exp(logvar)) || N(0, I)) = 1/2 sum_d (mu^2 + exp(logvar) - 1 - logvar), summed over the latent
    dimensions and averaged over the batch (Kingma & Welling 2014). `logvar=None`: unit variance, 1/2 sum_d mu^2.

    PyTorch-GAN's bicyclegan.py sums over the batch too (its KL scales with batch size: multiply lambda_kl by the
    batch size to match it); unit.py uses mean(mu^2), i.e. this with logvar=None times 2/latent size.
    """
    terms = jnp.square(mu)
    if logvar is not None:
        terms = terms + jnp.exp(logvar) - 1.0 - logvar
    return 0.5 * jnp.mean(jnp.sum(terms.reshape(terms.shape[0], -1), axis=1))


# --------------------------------------------------------------------------------------------------------------------
# Auxiliary classifier (ACGAN, Odena et al. 2017) and information losses (InfoGAN, Chen et al. 2016)
# --------------------------------------------------------------------------------------------------------------------

def classification_loss(logits: Array, labels: Array) -> Array:
    """Mean cross-entropy of softmax(logits) (..., K) against integer labels (...) (PyTorch's CrossEntropyLoss):
    the ACGAN auxiliary classification loss (Odena et al. 2017).

    Bug fixed: PyTorch-GAN's acgan.py puts a Softmax in the network and then CrossEntropyLoss (a second softmax);
    here the network emits logits and the softmax is applied once.
    """
    log_p = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[..., None].astype(jnp.int32), axis=-1))


def info_categorical_loss(code_logits: Array, code: Array) -> Array:
    """InfoGAN categorical information loss: -E[log Q(c | G(z, c))], c the *sampled* categorical code (integers).

    As `classification_loss` (infogan.py has the same double softmax, fixed the same way).
    """
    return classification_loss(code_logits, code)


def info_continuous_loss(code_mean: Array, code: Array, code_log_std: Array | None = None) -> Array:
    """InfoGAN continuous information loss for the sampled code c ~ U[-1, 1].

    code_log_std=None: mean((Q_mu - c)^2), PyTorch-GAN infogan.py's MSELoss. Otherwise the paper's factored
    Gaussian negative log-likelihood (Chen et al. 2016): mean(log sigma + (c - mu)^2 / (2 sigma^2) + log(2 pi) / 2).
    """
    if code_log_std is None:
        return mse_loss(code_mean, code)
    z = (code - code_mean) * jnp.exp(-code_log_std)
    return jnp.mean(code_log_std + 0.5 * jnp.square(z) + 0.5 * math.log(2.0 * math.pi))
