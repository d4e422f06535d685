"""What says a model learned: distances between real and generated images in a trained classifier's feature space.

    from gan_jax.metrics import image_metrics, class_accuracy
    image_metrics(real_NxHxWxC, fake_MxHxWxC)   # {'fd', 'kid', 'kid_std', 'precision', 'recall', 'n_real', 'n_fake'}
    class_accuracy(fake_images, requested_labels)  # conditional models: how often the classifier agrees
    class_coverage(fake_classes, real_classes)     # unconditional models: which digits they draw at all

Images are float in [-1, 1], NHWC, any size, 1 or 3 channels. The default feature extractor is the project's own
MNIST classifier (gan_jax.metrics.classifier; no Inception weights can be downloaded here), so `fd` is a Frechet
distance in its 128-d feature space, not FID: compare it only with other numbers from the same classifier and the
same numbers of samples (always reported as n_real, n_fake). Reference points with the shipped classifier, 500 train
digits against 500 of each (tests/test_metrics.py): test digits FD 14.5 / KID 0.39; test digits + N(0, 0.5^2) pixel
noise FD 95 / KID 25; uniform noise FD 913 / KID 177.
"""

from __future__ import annotations

import numpy as np

from gan_jax.metrics.classifier import Classifier, load_classifier
from gan_jax.metrics.distances import frechet_distance, kernel_inception_distance, precision_recall

__all__ = ["Classifier", "load_classifier", "image_metrics", "feature_metrics", "class_accuracy", "class_coverage",
           "frechet_distance", "kernel_inception_distance", "precision_recall"]


def feature_metrics(real_feats, fake_feats, *, k: int = 3, kid_subsets: int = 100, kid_subset_size: int = 1000,
                    seed: int = 0) -> dict:
    """FD, KID (mean and std over subsets), precision/recall and the sample counts, from features [N, D]."""
    kid, kid_std = kernel_inception_distance(real_feats, fake_feats, n_subsets=kid_subsets,
                                             subset_size=kid_subset_size, seed=seed)
    precision, recall = precision_recall(real_feats, fake_feats, k=k)
    return {"fd": frechet_distance(real_feats, fake_feats), "kid": kid, "kid_std": kid_std,
            "precision": precision, "recall": recall, "n_real": len(real_feats), "n_fake": len(fake_feats)}


def image_metrics(real_images, fake_images, classifier: Classifier | None = None, **kwargs) -> dict:
    """`feature_metrics` of the classifier features of two image sets ([-1, 1] NHWC); kwargs go to it."""
    classifier = classifier or load_classifier()
    return feature_metrics(classifier.features(real_images), classifier.features(fake_images), **kwargs)


def class_accuracy(images, labels, classifier: Classifier | None = None) -> float:
    """Fraction of images the classifier labels as `labels` (the classes a conditional model was asked for)."""
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    classifier = classifier or load_classifier()
    return float(np.mean(classifier.predict(images) == labels))


def class_coverage(fake_classes, real_classes, num_classes: int = 10, min_fraction: float = 0.25) -> dict:
    """Which of the real data's classes a generator draws, from the classifier's predicted classes (int arrays).

    ``classes``: how many of the classes present among the real images make up at least ``min_fraction`` of their
    real share of the generated ones (with 10 balanced digits: at least 2.5% of the samples); a generator that has
    dropped modes draws fewer. ``class_kl``: KL(generated class histogram || real class histogram) in nats, 0 for
    identical proportions (the mode-collapse measure of VEEGAN and PacGAN, against the real histogram rather than
    a uniform one). ``shares``: the generated histogram. Predict both sets with the same classifier, so that its
    errors bias them alike.
    """
    fake = np.bincount(np.asarray(fake_classes).reshape(-1), minlength=num_classes)[:num_classes].astype(np.float64)
    real = np.bincount(np.asarray(real_classes).reshape(-1), minlength=num_classes)[:num_classes].astype(np.float64)
    if fake.sum() == 0 or real.sum() == 0:
        raise ValueError(f"class_coverage needs predictions for both sets, got {int(fake.sum())} generated and "
                         f"{int(real.sum())} real")
    p, q = fake / fake.sum(), real / real.sum()
    if np.any((p > 0) & (q == 0)):
        q = np.maximum(q, 0.5 / real.sum())  # a class the real sample lacks: half an image, not an infinite KL
        q /= q.sum()
    present = real > 0
    drawn = present & (p >= min_fraction * q)
    nz = p > 0
    return {"classes": int(drawn.sum()), "class_kl": float(np.sum(p[nz] * np.log(p[nz] / q[nz]))), "shares": p}
