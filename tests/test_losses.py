"""gan_jax.losses against values computed by hand or from the definitions in numpy."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses as L


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def np_bce(logits, target):
    p = np_sigmoid(logits)
    return float(np.mean(-(target * np.log(p) + (1 - target) * np.log(1 - p))))


LOGITS_REAL = np.array([[1.5], [-0.3], [0.7]], np.float32)
LOGITS_FAKE = np.array([[-1.0], [0.2], [2.0]], np.float32)


def close(actual, expected, tol=1e-5):
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------------------- primitives

def test_bce_with_logits_matches_definition():
    close(L.bce_with_logits(jnp.array([0.0]), 1.0), math.log(2.0))
    close(L.bce_with_logits(LOGITS_REAL, 1.0), np_bce(LOGITS_REAL, 1.0))
    targets = np.array([[1.0], [0.0], [0.3]], np.float32)
    close(L.bce_with_logits(LOGITS_REAL, targets), np_bce(LOGITS_REAL, targets))


def test_pixelwise_and_reconstruction_losses():
    a = jnp.array([[1.0, -2.0], [0.5, 0.0]])
    b = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    close(L.l1_loss(a, b), (1 + 2 + 0.5 + 1) / 4)
    close(L.mse_loss(a, b), (1 + 4 + 0.25 + 1) / 4)
    close(L.cycle_consistency_loss(a, b), 4.5 / 4)
    close(L.identity_loss(a, b), 4.5 / 4)


def test_energies_are_per_sample():
    x = jnp.zeros((2, 2, 2, 1))
    recon = x.at[0].set(1.0).at[1, 0, 0, 0].set(-2.0)
    close(L.l1_energy(recon, x), [1.0, 0.5])
    close(L.mse_energy(recon, x), [1.0, 1.0])


# ---------------------------------------------------------------------------------------------------- adversarial

def test_minimax_and_nonsaturating():
    expected = 0.5 * (np_bce(LOGITS_REAL, 1.0) + np_bce(LOGITS_FAKE, 0.0))
    close(L.minimax_d_loss(LOGITS_REAL, LOGITS_FAKE), expected)
    smoothed = 0.5 * (np_bce(LOGITS_REAL, 0.9) + np_bce(LOGITS_FAKE, 0.0))
    close(L.minimax_d_loss(LOGITS_REAL, LOGITS_FAKE, real_label=0.9), smoothed)
    assert abs(smoothed - expected) > 1e-3
    close(L.nonsaturating_g_loss(LOGITS_FAKE), -np.mean(np.log(np_sigmoid(LOGITS_FAKE))))


def test_least_squares():
    real = jnp.array([1.0, 0.5])
    fake = jnp.array([0.0, 0.5])
    # 1/2 * mean((real-1)^2) + 1/2 * mean(fake^2) = 1/2*(0.125) + 1/2*(0.125)
    close(L.least_squares_d_loss(real, fake), 0.125)
    # a=-1, b=1: 1/2*0.125 + 1/2*mean([1, 2.25])
    close(L.least_squares_d_loss(real, fake, a=-1.0, b=1.0), 0.0625 + 0.8125)
    close(L.least_squares_g_loss(fake), 0.625)
    close(L.least_squares_g_loss(fake, c=0.0), 0.125)


def test_wasserstein_and_hinge():
    real = jnp.array([2.0, 0.5, -1.0])
    fake = jnp.array([-2.0, 0.0, 1.0])
    close(L.wasserstein_critic_loss(real, fake), (-1 / 3) - (1.5 / 3))
    close(L.wasserstein_g_loss(fake), 1 / 3)
    # relu(1 - real) = [0, .5, 2]; relu(1 + fake) = [0, 1, 2]
    close(L.hinge_d_loss(real, fake), 2.5 / 3 + 3 / 3)
    close(L.hinge_g_loss(fake), 1 / 3)


def test_relativistic_standard():
    r, f = LOGITS_REAL, LOGITS_FAKE
    expected_d = 0.5 * (np_bce(r - f, 1.0) + np_bce(f - r, 0.0))
    close(L.relativistic_d_loss(r, f), expected_d)
    # RSGAN G is exactly PyTorch-GAN's BCE(C(x_f) - C(x_r), 1).
    close(L.relativistic_g_loss(r, f), np_bce(f - r, 1.0))


def test_relativistic_average():
    r, f = LOGITS_REAL, LOGITS_FAKE
    r_rel, f_rel = r - f.mean(0, keepdims=True), f - r.mean(0, keepdims=True)
    close(L.relativistic_d_loss(r, f, average=True), 0.5 * (np_bce(r_rel, 1.0) + np_bce(f_rel, 0.0)))
    # The paper's RaSGAN G loss (halved): both the real and the fake terms.
    paper_g = 0.5 * (np_bce(r_rel, 0.0) + np_bce(f_rel, 1.0))
    close(L.relativistic_g_loss(r, f, average=True), paper_g)
    assert abs(paper_g - np_bce(f_rel, 1.0)) > 1e-3  # differs from PyTorch-GAN's fake-only term
    # and G gets gradient through mean(C(x_f)) in the real term too: not the fake-only gradient.
    g_fake = jax.grad(lambda f_: L.relativistic_g_loss(r, f_, average=True))(jnp.asarray(f))
    g_fake_only = jax.grad(lambda f_: L.bce_with_logits(f_ - r.mean(0, keepdims=True), 1.0))(jnp.asarray(f))
    assert not np.allclose(g_fake, 0.5 * g_fake_only, atol=1e-4)


def test_softmax_gan():
    real = np.array([0.5, -1.0, 2.0], np.float32)
    fake = np.array([1.0, 3.0], np.float32)
    both = np.concatenate([real, fake]).astype(np.float64)
    log_z = np.log(np.sum(np.exp(-both)))
    close(L.softmax_gan_d_loss(real, fake), real.mean() + log_z)  # target 1/|B+| on the real samples
    close(L.softmax_gan_g_loss(real, fake), both.mean() + log_z)  # target 1/|B| on every sample
    # (N, 1) outputs give the same as (N,)
    close(L.softmax_gan_d_loss(real[:, None], fake[:, None]), real.mean() + log_z)


def test_boundary_seeking():
    logits = np.array([[0.0], [2.0], [-2.0]], np.float32)
    close(L.boundary_seeking_g_loss(logits), 0.5 * (0 + 4 + 4) / 3)
    p = np_sigmoid(logits)
    close(L.boundary_seeking_g_loss(logits), 0.5 * np.mean((np.log(p) - np.log(1 - p)) ** 2))


# ---------------------------------------------------------------------------------------------------- EBGAN, BEGAN

def test_pullaway_term():
    # cosines: (e1,e2)=0, (e1,e3)=(e2,e3)=1/sqrt2; squared sum over i != j = 2*(0+.5+.5) = 2; / (3*2)
    s = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    close(L.pullaway_term(s), 1 / 3)
    close(L.pullaway_term(3.0 * s), 1 / 3)  # scale invariant
    # Anti-aligned embeddings are as bad as aligned ones (PyTorch-GAN's unsquared cosine would give -1).
    close(L.pullaway_term(jnp.array([[1.0, 0.0], [-1.0, 0.0]])), 1.0)
    close(L.pullaway_term(jnp.array([[2.0, 0.0], [0.0, -5.0]])), 0.0)
    grad = jax.grad(L.pullaway_term)(jnp.array([[0.0, 0.0], [1.0, 2.0]]))  # a zero embedding stays finite
    assert np.all(np.isfinite(grad))


def test_ebgan_losses():
    real = jnp.array([0.2, 0.5])
    fake = jnp.array([0.3, 1.5])
    close(L.ebgan_d_loss(real, fake, margin=1.0), 0.35 + (0.7 + 0.0) / 2)
    # Batch-mean energies reproduce PyTorch-GAN's hinge on the mean: 0.35 + max(0, 1 - 0.9)
    close(L.ebgan_d_loss(real.mean(), fake.mean(), margin=1.0), 0.35 + 0.1)
    s = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    close(L.ebgan_g_loss(fake, s, pt_weight=0.1), 0.9 + 0.1 / 3)


def test_began():
    real, fake = jnp.array([0.2, 0.4]), jnp.array([0.1, 0.3])  # means 0.3 and 0.2
    close(L.began_d_loss(real, fake, k=0.5), 0.3 - 0.5 * 0.2)
    close(L.began_g_loss(fake), 0.2)
    # gamma*L(x) - L(G(z)) = 0.75*0.3 - 0.2 = 0.025
    close(L.began_k_update(0.5, real, fake), 0.5 + 0.001 * 0.025)
    close(L.began_k_update(0.5, real, fake, gamma=0.5, lambda_k=0.1), 0.5 + 0.1 * (-0.05))
    close(L.began_k_update(0.0, real, fake, gamma=0.1, lambda_k=1.0), 0.0)  # clipped below
    close(L.began_k_update(0.99, real, fake, gamma=1.0, lambda_k=1.0), 1.0)  # clipped above
    close(L.began_convergence(real, fake), 0.3 + 0.025)
    close(L.began_convergence(real, fake, gamma=0.5), 0.3 + 0.05)
    # k is a control variable, not a parameter: no gradient flows into it
    assert float(jax.grad(lambda k: L.began_d_loss(real, fake, k))(0.5)) == 0.0


# ---------------------------------------------------------------------------------------------------- latent, aux

def test_kl_standard_normal():
    mu = np.array([[1.0, 0.0], [0.5, -0.5]], np.float32)
    logvar = np.array([[0.0, math.log(2.0)], [-1.0, 0.3]], np.float32)
    sigma = np.exp(0.5 * logvar.astype(np.float64))
    # KL(N(mu, s^2) || N(0, 1)) = -log s + (s^2 + mu^2) / 2 - 1/2 per dimension
    per_dim = -np.log(sigma) + (sigma ** 2 + mu ** 2) / 2 - 0.5
    close(L.kl_standard_normal(mu, logvar), per_dim.sum(1).mean())
    close(L.kl_standard_normal(mu[:1], logvar[:1]), 1 - 0.5 * math.log(2.0))
    close(L.kl_standard_normal(mu), 0.5 * (mu ** 2).sum(1).mean())
    close(L.kl_standard_normal(jnp.zeros((3, 4, 4, 2)), jnp.zeros((3, 4, 4, 2))), 0.0)


def test_classification_loss_on_logits():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]], np.float32)
    labels = np.array([0, 2])
    x = logits.astype(np.float64)
    log_softmax = x - np.log(np.exp(x).sum(1, keepdims=True))
    expected = -np.mean(log_softmax[np.arange(2), labels])
    close(L.classification_loss(logits, labels), expected)
    close(L.info_categorical_loss(logits, labels), expected)
    # A confident correct logit gives ~0 loss (a second softmax would floor it near log(1 + e^-1 + ...))
    assert float(L.classification_loss(jnp.array([[20.0, 0.0, 0.0]]), jnp.array([0]))) < 1e-6


def test_info_continuous_loss():
    mean = np.array([[0.5, -0.2]], np.float32)
    code = np.array([[0.0, 0.8]], np.float32)
    close(L.info_continuous_loss(mean, code), np.mean((mean - code) ** 2))
    log_std = np.array([[0.0, -0.5]], np.float32)
    s = np.exp(log_std.astype(np.float64))
    nll = -np.log(np.exp(-((code - mean) ** 2) / (2 * s ** 2)) / (s * np.sqrt(2 * np.pi)))
    close(L.info_continuous_loss(mean, code, log_std), nll.mean())


# ---------------------------------------------------------------------------------------------------- stability

BIG = jnp.array([[100.0], [-100.0]])
BIG_OTHER = jnp.array([[-100.0], [100.0]])

STABILITY_CASES = {
    "bce": lambda x: L.bce_with_logits(x, 1.0),
    "minimax_d": lambda x: L.minimax_d_loss(x, BIG_OTHER, real_label=0.9),
    "minimax_d_fake": lambda x: L.minimax_d_loss(BIG_OTHER, x),
    "nonsaturating_g": L.nonsaturating_g_loss,
    "rsgan_d": lambda x: L.relativistic_d_loss(x, BIG_OTHER),
    "rsgan_g": lambda x: L.relativistic_g_loss(BIG_OTHER, x),
    "rasgan_d": lambda x: L.relativistic_d_loss(x, BIG_OTHER, average=True),
    "rasgan_g": lambda x: L.relativistic_g_loss(BIG_OTHER, x, average=True),
    "softmax_d": lambda x: L.softmax_gan_d_loss(x, BIG_OTHER),
    "softmax_g": lambda x: L.softmax_gan_g_loss(BIG_OTHER, x),
    "bgan_g": L.boundary_seeking_g_loss,
    "classification": lambda x: L.classification_loss(jnp.concatenate([x, -x], 1), jnp.array([1, 0])),
    "info_gaussian": lambda x: L.info_continuous_loss(x, -x, jnp.zeros_like(x)),
}


@pytest.mark.parametrize("name", sorted(STABILITY_CASES))
def test_finite_values_and_gradients_at_large_logits(name):
    fn = STABILITY_CASES[name]
    value, grad = jax.value_and_grad(fn)(BIG)
    assert np.isfinite(float(value)), name
    assert np.all(np.isfinite(np.asarray(grad))), name


def test_bce_at_large_logits_is_exact():
    close(L.bce_with_logits(BIG, 1.0), 50.0)  # -log sigmoid(100) ~ 0, -log sigmoid(-100) = 100
    close(L.softmax_gan_d_loss(BIG, BIG_OTHER), 0.0 + 100.0 + math.log(2.0), tol=1e-4)


# ---------------------------------------------------------------------------------------------------- penalties

N, H, W, C = 3, 4, 4, 2
KEY = jax.random.key(0)
REAL = jax.random.normal(jax.random.key(1), (N, H, W, C))
FAKE = jax.random.normal(jax.random.key(2), (N, H, W, C))


def linear_critic(w):
    """critic(x)_i = sum(x_i * w) (or w_i, if w has a batch axis): gradient w.r.t. x_i is w (w_i)."""
    return lambda x: jnp.sum((x * w).reshape(x.shape[0], -1), axis=1, keepdims=True)


def quadratic_critic(a=1.0):
    """critic(x)_i = a/2 ||x_i||^2: gradient a x_i, so the penalty sees where it is evaluated."""
    return lambda x: 0.5 * a * jnp.sum(jnp.square(x).reshape(x.shape[0], -1), axis=1)


def unit_rows(key, shape):
    u = jax.random.normal(key, shape)
    return u / jnp.linalg.norm(u.reshape(shape[0], -1), axis=1).reshape((-1,) + (1,) * (len(shape) - 1))


@pytest.mark.parametrize("penalty", ["gp", "dragan"])
def test_unit_gradient_critic_has_zero_penalty(penalty):
    u = unit_rows(jax.random.key(3), (N, H, W, C))  # ||u_i|| = 1 per sample
    fn = (lambda c: L.wgan_gp_penalty(c, REAL, FAKE, KEY)) if penalty == "gp" else \
        (lambda c: L.dragan_penalty(c, REAL, KEY))
    close(fn(linear_critic(u)), 0.0, tol=1e-6)
    close(fn(linear_critic(2.0 * u)), 1.0)  # ||grad|| = 2 -> (2 - 1)^2


@pytest.mark.parametrize("penalty", ["gp", "dragan"])
def test_linear_critic_penalty_is_norm_minus_one_squared(penalty):
    w = jax.random.normal(jax.random.key(4), (H, W, C)) * 0.1
    fn = (lambda c: L.wgan_gp_penalty(c, REAL, FAKE, KEY)) if penalty == "gp" else \
        (lambda c: L.dragan_penalty(c, REAL, KEY))
    close(fn(linear_critic(w)), (float(jnp.linalg.norm(w)) - 1.0) ** 2)
    # Per-sample weights of different norms: the norm is over each flattened sample (a per-channel norm,
    # PyTorch-GAN dragan.py's norm over dim 1, would give a different number).
    w_i = jnp.stack([w, 3.0 * w, 10.0 * w])
    norms = np.linalg.norm(np.asarray(w_i).reshape(N, -1), axis=1)
    close(fn(linear_critic(w_i)), np.mean((norms - 1.0) ** 2))


def test_wgan_gp_interpolates_with_one_alpha_per_sample():
    seen = []
    critic = quadratic_critic()

    def recording_critic(x):
        jax.debug.callback(lambda v: seen.append(np.asarray(v)), x)
        return critic(x)

    penalty = L.wgan_gp_penalty(recording_critic, REAL, FAKE, KEY)
    x_hat = seen[-1]
    ratio = (x_hat - np.asarray(FAKE)) / (np.asarray(REAL) - np.asarray(FAKE))  # = alpha
    per_sample = ratio.reshape(N, -1)
    np.testing.assert_allclose(per_sample, np.broadcast_to(per_sample[:, :1], per_sample.shape), atol=1e-3)
    # (constant within a sample)
    assert np.all((per_sample >= 0) & (per_sample < 1))
    assert np.ptp(per_sample[:, 0]) > 1e-3  # and drawn per sample
    # Manual computation with the same key: alpha of shape (N, 1, 1, 1).
    alpha = jax.random.uniform(KEY, (N, 1, 1, 1))
    manual = alpha * REAL + (1 - alpha) * FAKE
    np.testing.assert_allclose(x_hat, manual, atol=1e-6)
    norms = np.linalg.norm(np.asarray(manual).reshape(N, -1), axis=1)
    close(penalty, np.mean((norms - 1) ** 2), tol=1e-4)


def test_dragan_perturbs_real_data_with_one_alpha_per_sample():
    seen = []
    critic = quadratic_critic()

    def recording_critic(x):
        jax.debug.callback(lambda v: seen.append(np.asarray(v)), x)
        return critic(x)

    penalty = L.dragan_penalty(recording_critic, REAL, KEY)
    x_hat = seen[-1]
    std = float(jnp.std(REAL))
    offset = x_hat - np.asarray(REAL)  # (1 - alpha) * 0.5 * std * U[0, 1)
    assert np.all(offset >= -1e-6) and np.all(offset < 0.5 * std + 1e-6)
    alpha_key, noise_key = jax.random.split(KEY)
    alpha = jax.random.uniform(alpha_key, (N, 1, 1, 1))
    perturbed = REAL + 0.5 * std * jax.random.uniform(noise_key, REAL.shape)
    manual = alpha * REAL + (1 - alpha) * perturbed
    np.testing.assert_allclose(x_hat, manual, atol=1e-5)
    norms = np.linalg.norm(np.asarray(manual).reshape(N, -1), axis=1)
    close(penalty, np.mean((norms - 1) ** 2), tol=1e-4)
    # A per-pixel alpha would not reproduce the same points.
    alpha_px = jax.random.uniform(alpha_key, REAL.shape)
    assert not np.allclose(x_hat, alpha_px * REAL + (1 - alpha_px) * perturbed, atol=1e-3)


def test_wgan_div_penalty_at_interpolates():
    w = jnp.full((H, W, C), 0.5 / math.sqrt(H * W * C))  # ||w|| = 0.5
    close(L.wgan_div_penalty(linear_critic(w), REAL, FAKE, KEY), 2.0 * 0.5 ** 6)
    close(L.wgan_div_penalty(linear_critic(w), REAL, FAKE, KEY, k=1.0, p=2.0), 0.25)
    # Quadratic critic: gradient = x_hat, so k * mean(||x_hat||^p) at the paper's interpolates ...
    value = L.wgan_div_penalty(quadratic_critic(), REAL, FAKE, KEY)
    alpha = jax.random.uniform(KEY, (N, 1, 1, 1))
    x_hat = np.asarray(alpha * REAL + (1 - alpha) * FAKE, np.float64).reshape(N, -1)
    close(value, 2.0 * np.mean(np.linalg.norm(x_hat, axis=1) ** 6), tol=1e-4)
    # ... not PyTorch-GAN's k/2 * mean(||grad at real||^p + ||grad at fake||^p).
    endpoints = np.linalg.norm(np.asarray(REAL).reshape(N, -1), axis=1) ** 6 + \
        np.linalg.norm(np.asarray(FAKE).reshape(N, -1), axis=1) ** 6
    assert abs(float(value) - float(np.mean(endpoints))) > 1.0


def test_penalties_differentiable_wrt_params_under_jit():
    w0 = jax.random.normal(jax.random.key(5), (H, W, C)) * 0.2
    n = float(jnp.linalg.norm(w0))
    gp = jax.jit(jax.grad(lambda w, key: L.wgan_gp_penalty(linear_critic(w), REAL, FAKE, key)))
    np.testing.assert_allclose(gp(w0, KEY), 2 * (n - 1) * w0 / n, rtol=1e-4, atol=1e-6)
    dragan = jax.jit(jax.grad(lambda w, key: L.dragan_penalty(linear_critic(w), REAL, key)))
    np.testing.assert_allclose(dragan(w0, KEY), 2 * (n - 1) * w0 / n, rtol=1e-4, atol=1e-6)
    div = jax.jit(jax.grad(lambda w, key: L.wgan_div_penalty(linear_critic(w), REAL, FAKE, key)))
    np.testing.assert_allclose(div(w0, KEY), 2.0 * 6.0 * n ** 4 * w0, rtol=1e-4, atol=1e-6)

    # A critic that is nonlinear in x: ||grad|| = a ||x_hat_i||, penalty = mean((a n_i - 1)^2).
    def penalty_of_a(a, key):
        return L.wgan_gp_penalty(quadratic_critic(a), REAL, FAKE, key)

    a = 0.3
    alpha = jax.random.uniform(KEY, (N, 1, 1, 1))
    norms = np.linalg.norm(np.asarray(alpha * REAL + (1 - alpha) * FAKE, np.float64).reshape(N, -1), axis=1)
    close(jax.jit(jax.grad(penalty_of_a))(a, KEY), np.mean(2 * (a * norms - 1) * norms), tol=1e-4)


def test_penalties_treat_samples_as_data_and_survive_zero_gradients():
    # No gradient flows into real/fake (PyTorch-GAN's `.data`): only the critic's parameters train.
    g_fake = jax.grad(lambda f: L.wgan_gp_penalty(quadratic_critic(), REAL, f, KEY))(FAKE)
    assert float(jnp.max(jnp.abs(g_fake))) == 0.0
    # A critic with a zero input gradient: penalty 1, and a finite (not NaN) parameter gradient.
    for fn in (lambda w: L.wgan_gp_penalty(linear_critic(w), REAL, FAKE, KEY),
               lambda w: L.dragan_penalty(linear_critic(w), REAL, KEY),
               lambda w: L.wgan_div_penalty(linear_critic(w), REAL, FAKE, KEY)):
        value, grad = jax.value_and_grad(fn)(jnp.zeros((H, W, C)))
        assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad)))
    close(L.wgan_gp_penalty(linear_critic(jnp.zeros((H, W, C))), REAL, FAKE, KEY), 1.0)
