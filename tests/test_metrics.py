"""Metrics: distances against closed forms, the shipped classifier, and the sanity the metrics exist for (real digits
score near 0, noise far away, a degraded set in between)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from gan_jax.data.offline import mnist
from gan_jax.metrics import (class_accuracy, class_coverage, feature_metrics, frechet_distance, image_metrics,
                             kernel_inception_distance, load_classifier, precision_recall)
from gan_jax.metrics.classifier import Classifier, init_params, load_params, preprocess, save_params
from gan_jax.metrics.train_classifier import random_shift


def to_unit(images_uint8):
    return images_uint8.astype(np.float32) / 127.5 - 1.0


def with_exact_moments(rng, n, mean, var):
    """n samples whose sample mean is exactly `mean` and sample covariance (ddof=1) exactly diag(var)."""
    mean, var = np.atleast_1d(mean).astype(float), np.atleast_1d(var).astype(float)
    z = rng.standard_normal((n, len(mean)))
    z -= z.mean(axis=0)
    chol = np.linalg.cholesky(np.atleast_2d(np.cov(z, rowvar=False)))
    z = z @ np.linalg.inv(chol).T  # whitened: sample covariance = I
    return mean + z * np.sqrt(var)


# --- Frechet distance ---------------------------------------------------------------------------------------------

def test_fd_of_identical_sets_is_zero():
    x = np.random.default_rng(0).normal(size=(300, 16))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_fd_1d_matches_closed_form():
    rng = np.random.default_rng(1)
    a = with_exact_moments(rng, 200, mean=0.0, var=1.0)
    b = with_exact_moments(rng, 300, mean=3.0, var=4.0)
    # (0 - 3)^2 + (1 + 4 - 2 * sqrt(1 * 4)) = 9 + 1
    assert frechet_distance(a, b) == pytest.approx(10.0, rel=1e-9)


def test_fd_2d_diagonal_matches_closed_form():
    rng = np.random.default_rng(2)
    a = with_exact_moments(rng, 250, mean=[0.0, 0.0], var=[1.0, 4.0])
    b = with_exact_moments(rng, 250, mean=[1.0, 2.0], var=[4.0, 9.0])
    # |mu|^2 = 1 + 4; trace term = (1 + 4 - 2*2) + (4 + 9 - 2*6) = 1 + 1
    assert frechet_distance(a, b) == pytest.approx(7.0, rel=1e-9)
    assert frechet_distance(b, a) == pytest.approx(7.0, rel=1e-9)


def test_fd_full_covariance_matches_scipy_sqrtm():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 0.5
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s_a) + np.trace(s_b)
                - 2 * np.trace(scipy.linalg.sqrtm(s_a @ s_b).real))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_fd_with_singular_covariances_is_finite():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(10, 64))  # N < D: rank-9 covariance
    b = rng.normal(size=(12, 64)) + 1.0
    fd = frechet_distance(a, b)
    assert np.isfinite(fd) and fd > 64 * 0.9  # the mean shift alone contributes 64
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


# --- KID ----------------------------------------------------------------------------------------------------------

def test_kid_equals_brute_force_unbiased_mmd():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 3)) + 0.3
    k = lambda u, v: (u @ v / 3 + 1) ** 3
    m = len(x)
    expected = (sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
                + sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
                - 2 * sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m ** 2)
    mean, std = kernel_inception_distance(x, y, n_subsets=5, subset_size=100)  # subsets = whole sets, permuted
    assert mean == pytest.approx(expected, rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-10)


def test_kid_near_zero_for_same_distribution_and_large_when_shifted():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    shifted = rng.normal(size=(400, 16)) + 1.0
    same, same_std = kernel_inception_distance(a, b, n_subsets=20, subset_size=200)
    far, far_std = kernel_inception_distance(a, shifted, n_subsets=20, subset_size=200)
    assert abs(same) < 3 * same_std + 1e-3
    assert far > 20 * abs(same) and far > 10 * far_std
    assert kernel_inception_distance(a, shifted, n_subsets=20, subset_size=200, seed=0) == (far, far_std)


# --- precision / recall -------------------------------------------------------------------------------------------

def test_precision_recall_identical_sets_are_one():
    x = np.random.default_rng(7).normal(size=(200, 8))
    assert precision_recall(x, x, k=3) == (1.0, 1.0)


def test_precision_recall_disjoint_far_sets_are_zero():
    rng = np.random.default_rng(8)
    real, fake = rng.normal(size=(200, 8)), rng.normal(size=(150, 8)) + 100.0
    assert precision_recall(real, fake, k=3) == (0.0, 0.0)


def test_precision_counts_fake_samples_on_the_real_manifold():
    rng = np.random.default_rng(9)
    real = rng.normal(size=(200, 8))
    fake = np.concatenate([real[:100], real[100:] + 100.0])  # half real, half far off
    precision, recall = precision_recall(real, fake, k=3)
    assert precision == 0.5
    assert 0.5 <= recall < 1.0  # real[:100] are covered; of real[100:] only what real[:100]'s balls reach


# --- classifier ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    train_images, train_labels = mnist("train")
    test_images, test_labels = mnist("test")
    return to_unit(train_images[:500]), train_labels[:500], to_unit(test_images), test_labels


@pytest.fixture(scope="module")
def clf():
    return load_classifier()


def test_shipped_classifier_accuracy(clf, digits):
    _, _, test_x, test_y = digits
    assert clf.num_params < 500_000
    assert class_accuracy(test_x, test_y, clf) >= 0.95
    assert class_accuracy(test_x, (test_y + 1) % 10, clf) < 0.05  # it compares with the requested labels


def test_class_coverage_counts_dropped_digits_and_kl_by_hand():
    real = np.repeat(np.arange(10), 10)  # balanced: 10% each
    same = class_coverage(np.roll(real, 3), real)
    assert same["classes"] == 10 and same["class_kl"] == pytest.approx(0.0, abs=1e-12)
    # four digits drawn, 25% each: KL = sum 0.25 log(0.25 / 0.1) = log 2.5
    collapsed = class_coverage(np.repeat([1, 4, 7, 9], 25), real)
    assert collapsed["classes"] == 4
    assert collapsed["class_kl"] == pytest.approx(np.log(2.5))
    np.testing.assert_allclose(collapsed["shares"][[1, 4, 7, 9]], 0.25)
    # 2% of the samples is under a quarter of a 10% share; 3% is over it
    rare = class_coverage(np.concatenate([np.full(2, 0), np.full(3, 1), np.repeat(np.arange(2, 10), 95 // 8 + 1)]),
                          real)
    assert rare["classes"] == 9
    # a class missing from the real sample is smoothed, not an infinite KL; it is never counted as drawn
    only_real = class_coverage(np.array([0, 0, 1]), np.array([1, 1, 2, 2]))
    assert np.isfinite(only_real["class_kl"]) and only_real["classes"] == 1
    with pytest.raises(ValueError, match="0 generated"):
        class_coverage(np.array([], int), real)


def test_class_coverage_of_real_digits_is_full(clf, digits):
    train_x, _, test_x, _ = digits
    cov = class_coverage(clf.predict(test_x[:1000]), clf.predict(train_x))
    assert cov["classes"] == 10 and cov["class_kl"] < 0.05
    ones = clf.predict(test_x[:1000])
    cov_ones = class_coverage(ones[ones == 1], clf.predict(train_x))
    assert cov_ones["classes"] == 1 and cov_ones["class_kl"] > 2.0


def test_classifier_accepts_rgb_and_other_sizes(clf, digits):
    _, _, test_x, test_y = digits
    x = test_x[:200]
    rgb = np.repeat(x, 3, axis=-1)
    np.testing.assert_allclose(clf.features(rgb), clf.features(x), rtol=1e-5, atol=1e-5)
    padded_32 = np.pad(rgb, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1.0)  # resized back to 28 inside
    logits, feats = clf.logits_and_features(padded_32)
    assert logits.shape == (200, 10) and feats.shape == (200, 128)
    assert np.mean(logits.argmax(-1) == test_y[:200]) >= 0.9


def test_classifier_batches_agree_with_one_pass(clf, digits):
    _, _, test_x, _ = digits
    small_batches = Classifier(clf.params, batch_size=64)  # 150 = 64 + 64 + 22 (padded)
    np.testing.assert_allclose(small_batches.features(test_x[:150]), clf.features(test_x[:150]),
                               rtol=1e-5, atol=1e-5)


def test_classifier_rejects_uint8_images(clf):
    with pytest.raises(TypeError, match="127.5"):
        clf.features(np.zeros((4, 28, 28, 1), np.uint8))


def test_missing_weights_name_file_and_command(tmp_path):
    path = tmp_path / "missing.msgpack"
    with pytest.raises(FileNotFoundError, match="missing.msgpack") as err:
        load_classifier(str(path))
    assert "python -m gan_jax.metrics.train_classifier" in str(err.value)


def test_corrupt_or_mismatched_weights_name_file_and_command(tmp_path):
    corrupt = tmp_path / "corrupt.msgpack"
    corrupt.write_bytes(b"\x00 this is not msgpack \xff" * 10)
    with pytest.raises(ValueError, match="corrupt.msgpack") as err:
        load_params(str(corrupt))
    assert "python -m gan_jax.metrics.train_classifier" in str(err.value)

    params = init_params(jax.random.key(0))
    params["Dense_1"]["kernel"] = np.zeros((128, 5), np.float32)  # a 5-class head
    wrong = tmp_path / "wrong.msgpack"
    save_params(params, str(wrong))
    with pytest.raises(ValueError, match="wrong.msgpack"):
        load_params(str(wrong))


def test_weights_round_trip(tmp_path):
    params = init_params(jax.random.key(1))
    save_params(params, str(tmp_path / "w.msgpack"))
    restored = load_params(str(tmp_path / "w.msgpack"))
    jax.tree.map(np.testing.assert_array_equal, params, restored)


def test_random_shift_moves_content_and_fills_background():
    x = -np.ones((4, 8, 8, 1), np.float32)
    x[:, 3:5, 3:5] = 1.0
    np.testing.assert_array_equal(random_shift(jax.random.key(0), x, 0), x)
    shifted = np.asarray(random_shift(jax.random.key(0), x, 2))
    assert shifted.shape == x.shape
    assert np.all((shifted == 1.0).sum(axis=(1, 2, 3)) == 4)  # the 2x2 blob stays whole (shift <= 2, margin 3)
    assert set(np.unique(shifted)) == {-1.0, 1.0}
    assert not np.array_equal(shifted, np.broadcast_to(x, shifted.shape))


# --- the sanity the metrics exist for -----------------------------------------------------------------------------

def test_real_vs_real_near_zero_noise_far_degraded_in_between(clf, digits):
    train_x, _, test_x, _ = digits
    rng = np.random.default_rng(0)
    # Heavy pixel noise stands in for a half-trained generator: digits still there, texture wrong.
    degraded = np.clip(test_x + 0.5 * rng.standard_normal(test_x.shape), -1, 1).astype(np.float32)
    noise = rng.uniform(-1, 1, test_x.shape).astype(np.float32)

    real_vs_real = image_metrics(train_x, test_x, clf, kid_subsets=20)
    real_feats = clf.features(train_x)
    vs_degraded = feature_metrics(real_feats, clf.features(degraded), kid_subsets=20)
    vs_noise = feature_metrics(real_feats, clf.features(noise), kid_subsets=20)

    assert real_vs_real["n_real"] == 500 and real_vs_real["n_fake"] == 500
    fds = [real_vs_real["fd"], vs_degraded["fd"], vs_noise["fd"]]
    assert fds[0] < fds[1] < fds[2], fds
    assert fds[0] < 0.05 * fds[2], fds  # real-vs-real is near 0 on the scale that noise sets
    assert real_vs_real["kid"] < vs_degraded["kid"] < vs_noise["kid"]
    assert real_vs_real["recall"] > vs_degraded["recall"] > vs_noise["recall"]
    assert real_vs_real["precision"] > 0.7 and vs_noise["recall"] < 0.05


def test_colour_classifier_reads_what_a_channel_mean_erases():
    """``channels=3`` weights read colour: two images whose channel means are equal (red vs cyan-ish, same mean)
    reach a colour CNN as different inputs and the gray one as the same."""
    red = np.zeros((1, 28, 28, 3), np.float32) - 1.0
    red[..., 0] = 1.0  # mean -1/3
    other = np.zeros((1, 28, 28, 3), np.float32) - 1.0 / 3  # mean -1/3
    np.testing.assert_allclose(preprocess(red), preprocess(other), atol=1e-6)
    colour = preprocess(np.concatenate([red, other]), channels=3)
    assert colour.shape == (2, 28, 28, 3) and float(jnp.abs(colour[0] - colour[1]).max()) > 0.5
    gray_in = preprocess(np.zeros((1, 14, 14, 1), np.float32), channels=3)
    assert gray_in.shape == (1, 28, 28, 3)  # gray replicated
    clf = Classifier(init_params(jax.random.key(2), channels=3), batch_size=4)
    logits = clf.logits(np.concatenate([red, other]))
    assert logits.shape == (2, 10) and np.abs(logits[0] - logits[1]).max() > 1e-4
