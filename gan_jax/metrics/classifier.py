"""The project's own MNIST classifier: the feature space for FD/KID/precision-recall and the judge of class accuracy.

No Inception weights can be downloaded here, so the metrics use a small CNN trained on the offline MNIST split
(`python -m gan_jax.metrics.train_classifier`, which writes the shipped ``weights/mnist_classifier.msgpack``).
Its 128-d penultimate layer (after the ReLU) plays the role Inception's pool3 plays in FID.

    clf = load_classifier()
    logits_Nx10, feats_Nx128 = clf.logits_and_features(images_NxHxWxC)   # images in [-1, 1]

Any spatial size and 1 or 3 channels are accepted: RGB becomes gray by the channel mean and the image is resized to
28x28 (bilinear, antialiased when shrinking) inside the jitted function. The same CNN reads colour with
``channels=3`` (gray inputs replicated): the MNIST-M judge of ``benchmarks.domain``, where a digit differs from its
background by colour inversion, which a channel mean can erase. Work is done in fixed-size batches (the last
one padded) so 10k images need little memory and one compilation per input shape.
"""

from __future__ import annotations

import os

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

DEFAULT_WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "mnist_classifier.msgpack")
REGENERATE_COMMAND = "python -m gan_jax.metrics.train_classifier"
IMAGE_SIZE = 28
NUM_CLASSES = 10
FEATURE_DIM = 128


class MnistCNN(nn.Module):
    """Three 3x3 conv + max-pool stages (32-64-64 channels), a 128-d feature layer, 10 logits (~188k params).

    No BatchNorm: the features are then a pure function of the weights, with nothing to freeze at eval time.
    """

    dropout_rate: float = 0.3

    @nn.compact
    def __call__(self, x_BxHxWx1, train: bool = False):
        x = x_BxHxWx1
        for channels in (32, 64, 64):
            x = nn.relu(nn.Conv(channels, (3, 3), padding="SAME")(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")  # 28 -> 14 -> 7 -> 4
        x = x.reshape(x.shape[0], -1)
        feats_BxF = nn.relu(nn.Dense(FEATURE_DIM)(x))
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(feats_BxF)
        return nn.Dense(NUM_CLASSES)(x), feats_BxF


def preprocess(images_BxHxWxC: jax.Array, channels: int = 1) -> jax.Array:
    """[-1, 1] images of any size, 1 or 3 channels -> float32 [B, 28, 28, channels] (bilinear): ``channels=1``
    gray by the channel mean, ``channels=3`` colour (gray inputs replicated)."""
    x = jnp.asarray(images_BxHxWxC, jnp.float32)
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"expected images [N, H, W, 1|3] (NHWC), got shape {x.shape}")
    x = x.mean(axis=-1, keepdims=True) if channels == 1 else jnp.broadcast_to(x, (*x.shape[:3], channels))
    if x.shape[1:3] != (IMAGE_SIZE, IMAGE_SIZE):
        x = jax.image.resize(x, (x.shape[0], IMAGE_SIZE, IMAGE_SIZE, channels), method="bilinear")
    return x


def init_params(rng: jax.Array, channels: int = 1) -> dict:
    return MnistCNN().init(rng, jnp.zeros((1, IMAGE_SIZE, IMAGE_SIZE, channels)))["params"]


def _missing_message(path: str, what: str) -> str:
    return (f"classifier weights {what}: {path}\n"
            f"regenerate them with `{REGENERATE_COMMAND}"
            f"{'' if os.path.abspath(path) == DEFAULT_WEIGHTS else ' --out ' + path}` (a minute or two on CPU)")


def load_params(path: str | None = None) -> dict:
    """Read msgpack weights; a missing or corrupt file raises with its name and the command that regenerates it."""
    path = os.path.abspath(path or DEFAULT_WEIGHTS)
    if not os.path.isfile(path):
        raise FileNotFoundError(_missing_message(path, "not found"))
    template = init_params(jax.random.key(0))
    try:
        with open(path, "rb") as f:
            restored = flax.serialization.msgpack_restore(f.read())
        params = flax.serialization.from_state_dict(template, restored)
        ok = jax.tree.all(jax.tree.map(lambda a, b: np.shape(a) == np.shape(b), template, params))
    except Exception as e:  # msgpack/structure errors come in many types; all mean the same thing here
        raise ValueError(_missing_message(path, f"are corrupt or do not match MnistCNN ({type(e).__name__}: {e})"))
    if not ok:
        raise ValueError(_missing_message(path, "have the wrong shapes for MnistCNN"))
    return jax.tree.map(jnp.asarray, params)


def save_params(params: dict, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    params = jax.tree.map(lambda a: np.asarray(a, np.float32), params)
    with open(path, "wb") as f:
        f.write(flax.serialization.to_bytes(params))


class Classifier:
    """A loaded classifier. Methods take [-1, 1] NHWC images (numpy or jax) and return numpy arrays."""

    def __init__(self, params: dict, batch_size: int = 500):
        self.params = params
        self.batch_size = batch_size
        module = MnistCNN()
        channels = params["Conv_0"]["kernel"].shape[2]  # 1: gray (the shipped weights), 3: colour
        # One compilation per input (H, W, C); the batch dimension is always batch_size.
        self._apply = jax.jit(lambda p, x: module.apply({"params": p}, preprocess(x, channels)))

    @property
    def num_params(self) -> int:
        return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(self.params))

    def logits_and_features(self, images_NxHxWxC) -> tuple[np.ndarray, np.ndarray]:
        """(logits float32 [N, 10], features float32 [N, 128]) in one forward pass."""
        images = images_NxHxWxC
        if np.issubdtype(np.asarray(images[:1]).dtype, np.integer):
            raise TypeError("classifier inputs must be float images in [-1, 1], got integers "
                            "(convert uint8 with `images / 127.5 - 1`)")
        n = len(images)
        logits, feats = [], []
        for start in range(0, n, self.batch_size):
            batch = np.asarray(images[start:start + self.batch_size], np.float32)
            pad = self.batch_size - len(batch)
            if pad:
                batch = np.concatenate([batch, np.zeros((pad, *batch.shape[1:]), np.float32)])
            lo, fe = self._apply(self.params, batch)
            logits.append(np.asarray(lo)[:len(lo) - pad])
            feats.append(np.asarray(fe)[:len(fe) - pad])
        if not logits:
            return np.zeros((0, NUM_CLASSES), np.float32), np.zeros((0, FEATURE_DIM), np.float32)
        return np.concatenate(logits), np.concatenate(feats)

    def logits(self, images_NxHxWxC) -> np.ndarray:
        return self.logits_and_features(images_NxHxWxC)[0]

    def features(self, images_NxHxWxC) -> np.ndarray:
        return self.logits_and_features(images_NxHxWxC)[1]

    def predict(self, images_NxHxWxC) -> np.ndarray:
        """Predicted class, int [N]."""
        return self.logits(images_NxHxWxC).argmax(axis=-1)


_cache: dict[tuple[str, float, int], Classifier] = {}


def load_classifier(path: str | None = None, batch_size: int = 500) -> Classifier:
    """The classifier with weights from `path` (default: the shipped weights). Cached per file and mtime."""
    path = os.path.abspath(path or DEFAULT_WEIGHTS)
    key = (path, os.path.getmtime(path) if os.path.isfile(path) else -1.0, batch_size)
    if key not in _cache:
        _cache[key] = Classifier(load_params(path), batch_size)
    return _cache[key]
