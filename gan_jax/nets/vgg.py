"""VGG19 convolutional features (Simonyan & Zisserman 2015) for the perceptual losses of srgan and esrgan.

The network is torchvision's ``vgg19().features``: 16 conv3 (padding 1) + ReLU layers in five blocks of 64, 128, 256,
512, 512 filters, each block ending in a 2x2 max-pool. Layers are numbered as in that ``nn.Sequential`` (0 conv1_1,
1 its ReLU, 2 conv1_2, ..., 34 conv5_4, 35 its ReLU, 36 the last pool), so ``VGG19Features(n_layers=k)`` is
``features[:k]``: PyTorch-GAN's srgan uses 18 (``features[:18]`` ends at relu3_4),
esrgan 35 (conv5_4 before its ReLU, the paper's "VGG54 before activation").

Inputs are images in [-1, 1] (the project's range); :func:`preprocess` maps them to [0, 1] and normalises with
ImageNet's mean/std, what torchvision's weights expect (PyTorch-GAN normalises its data that way instead; 1-channel
images are repeated to RGB).

Weights. Pretrained ImageNet weights cannot be downloaded here; give a file with ``--vgg_weights PATH``:
an ``.npz`` holding torchvision's ``state_dict`` names and shapes, ``features.{i}.weight`` float [out, in, 3, 3] and
``features.{i}.bias`` [out] for every conv index i used (other keys, e.g. ``classifier.*``, are ignored). Convert:

    # from torchvision (needs torch + torchvision, anywhere with internet):
    python -c "import torchvision, numpy as np; sd = torchvision.models.vgg19(weights='IMAGENET1K_V1').state_dict();
               np.savez('vgg19.npz', **{k: v.numpy() for k, v in sd.items() if k.startswith('features.')})"
    # or from a saved state dict / Keras' h5 file (needs torch / h5py):
    python -m gan_jax.nets.vgg --convert vgg19-dcbb9e9d.pth vgg19.npz
    python -m gan_jax.nets.vgg --convert vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 vgg19.npz

Keras' VGG19 came from Caffe: BGR inputs in 0..255 minus the BGR pixel mean. The converter folds that convention
into conv1_1 (channel order, scale 255 * std, bias of the mean shift) so the file takes torchvision's inputs; the two
differ only at the image border (zero padding means a different colour in each convention).

Without weights the perceptual loss runs on randomly initialised VGG features (torchvision's initialisation,
fixed seed) and :func:`warn_random` says so once. What that changes: random convolutions still respond to edges and
local structure, so the loss remains a (blurry) structural distance, but it no longer encodes what ImageNet training
makes the features care about (textures, object parts): the sharp, "perceptual" detail SRGAN/ESRGAN get from it does
not appear, and results are closer to a pixel loss. The PSNR pre-training stages do not use VGG at all.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

# torchvision's vgg19 config "E": conv widths, "M" = max-pool
CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
CAFFE_BGR_MEAN = np.array([103.939, 116.779, 123.68], np.float32)  # keras.applications.vgg19 'caffe' preprocessing
KERAS_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))  # (block, convs) of Keras' layer names blockB_convC


class VGGWeightsError(ValueError):
    """A VGG weight file that cannot be used (missing keys, wrong shapes, unknown format)."""


def layers() -> list[tuple[str, int | None]]:
    """torchvision's ``features`` as a list: ('conv', width) / ('relu', None) / ('pool', None)."""
    out = []
    for item in CONFIG:
        out += [("pool", None)] if item == "M" else [("conv", item), ("relu", None)]
    return out


N_LAYERS = len(layers())  # 37


def conv_shapes(n_layers: int, in_channels: int = 3) -> dict[int, tuple[int, int]]:
    """{torchvision index: (in, out)} of the convs in ``features[:n_layers]``."""
    shapes, cin = {}, in_channels
    for i, (kind, width) in enumerate(layers()[:n_layers]):
        if kind == "conv":
            shapes[i], cin = (cin, width), width
    return shapes


def check_n_layers(n_layers: int) -> None:
    if not 1 <= n_layers <= N_LAYERS:
        raise ValueError(f"VGG19 features have {N_LAYERS} layers; asked for the first {n_layers}")


class VGG19Features(nn.Module):
    """``vgg19().features[:n_layers]`` on preprocessed NHWC images (see :func:`preprocess`)."""

    n_layers: int

    @nn.compact
    def __call__(self, x):
        check_n_layers(self.n_layers)
        for i, (kind, width) in enumerate(layers()[:self.n_layers]):
            if kind == "conv":
                x = nn.Conv(width, (3, 3), padding=((1, 1), (1, 1)), name=f"features_{i}")(x)
            elif kind == "relu":
                x = nn.relu(x)
            else:
                x = nn.max_pool(x, (2, 2), (2, 2))
        return x


def preprocess(images_m1_1: jax.Array) -> jax.Array:
    """[-1, 1] images (1 or 3 channels) -> torchvision's VGG input: RGB in [0, 1], ImageNet mean/std normalised."""
    if images_m1_1.shape[-1] == 1:
        images_m1_1 = jnp.repeat(images_m1_1, 3, axis=-1)
    if images_m1_1.shape[-1] != 3:
        raise ValueError(f"VGG features need 1- or 3-channel images, got {images_m1_1.shape[-1]} channels")
    return ((images_m1_1 + 1.0) * 0.5 - IMAGENET_MEAN) / IMAGENET_STD


def features(params, images_m1_1: jax.Array, n_layers: int) -> jax.Array:
    """VGG features of [-1, 1] images, ``features[:n_layers]``."""
    return VGG19Features(n_layers).apply({"params": params}, preprocess(images_m1_1))


# ---- parameters ----

def random_params(n_layers: int, seed: int = 0):
    """torchvision's initialisation (kaiming normal, fan_out, ReLU gain; zero bias), deterministic in ``seed``."""
    check_n_layers(n_layers)
    rng = np.random.default_rng([seed, n_layers])
    params = {}
    for i, (cin, cout) in conv_shapes(n_layers).items():
        std = np.sqrt(2.0 / (cout * 9))
        params[f"features_{i}"] = {"kernel": rng.normal(0, std, (3, 3, cin, cout)).astype(np.float32),
                                   "bias": np.zeros(cout, np.float32)}
    return jax.tree.map(jnp.asarray, params)


_warned = False


def warn_random(model: str) -> None:
    """Say once per process that a perceptual loss runs on random features."""
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"{model}: no --vgg_weights given, so the perceptual (VGG) loss uses RANDOM VGG19 features: it "
                      f"acts as a blurry structural distance, not ImageNet-trained perception (no sharp textures "
                      f"from it). See gan_jax/nets/vgg.py for converting torchvision's or Keras' weights.",
                      UserWarning, stacklevel=3)


def from_torch(state_dict: dict, n_layers: int = N_LAYERS) -> dict:
    """Flax params from torchvision names (``features.{i}.weight`` [out, in, 3, 3], ``.bias`` [out]); checks shapes."""
    check_n_layers(n_layers)
    params, problems = {}, []
    for i, (cin, cout) in conv_shapes(n_layers).items():
        w_key, b_key = f"features.{i}.weight", f"features.{i}.bias"
        if w_key not in state_dict or b_key not in state_dict:
            problems.append(f"missing {w_key if w_key not in state_dict else b_key}")
            continue
        w, b = np.asarray(state_dict[w_key], np.float32), np.asarray(state_dict[b_key], np.float32)
        if w.shape != (cout, cin, 3, 3):
            problems.append(f"{w_key} has shape {w.shape}, VGG19 needs {(cout, cin, 3, 3)}")
        elif b.shape != (cout,):
            problems.append(f"{b_key} has shape {b.shape}, VGG19 needs {(cout,)}")
        else:
            params[f"features_{i}"] = {"kernel": jnp.asarray(w.transpose(2, 3, 1, 0)), "bias": jnp.asarray(b)}
    if problems:
        shown = "; ".join(problems[:4]) + (f"; ... {len(problems) - 4} more" if len(problems) > 4 else "")
        raise VGGWeightsError(f"not VGG19 weights in torchvision's layout: {shown}")
    return params


def load_weights(path: str, n_layers: int = N_LAYERS) -> dict:
    """Flax params of ``features[:n_layers]`` from an ``.npz`` in torchvision's layout (module docstring)."""
    if not os.path.isfile(path):
        raise VGGWeightsError(f"VGG weight file {path!r} does not exist")
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError) as e:
        raise VGGWeightsError(f"cannot read VGG weights {path!r} as .npz ({e}); convert with "
                              f"python -m gan_jax.nets.vgg --convert") from None
    try:
        return from_torch(arrays, n_layers)
    except VGGWeightsError as e:
        raise VGGWeightsError(f"{path}: {e}") from None


def params_for(path: str, n_layers: int, model: str):
    """The weights in ``path``, or (empty path) random features with a warning."""
    if path:
        return load_weights(path, n_layers)
    warn_random(model)
    return random_params(n_layers)


# ---- conversion ----

def from_keras(kernels: dict) -> dict:
    """torchvision-layout arrays from Keras' ``{'blockB_convC': (kernel [3, 3, in, out], bias [out])}``.

    conv1_1 is rewritten for torchvision's inputs t = (x - mean) / std (RGB, x in [0, 1]): Keras/Caffe's first conv
    sees c = 255 x[::-1] - caffe_mean (BGR), i.e. c = 255 (std t + mean)[::-1] - caffe_mean.
    """
    out, index = {}, 0
    for block, convs in KERAS_BLOCKS:
        for c in range(1, convs + 1):
            kernel, bias = (np.asarray(a, np.float64) for a in kernels[f"block{block}_conv{c}"])
            if index == 0:
                kernel_rgb = kernel[:, :, ::-1, :]  # input channel order BGR -> RGB
                shift = 255.0 * IMAGENET_MEAN - CAFFE_BGR_MEAN[::-1]  # per RGB channel
                bias = bias + np.einsum("hwio,i->o", kernel_rgb, shift)
                kernel = kernel_rgb * (255.0 * IMAGENET_STD)[None, None, :, None]
            out[f"features.{index}.weight"] = kernel.transpose(3, 2, 0, 1).astype(np.float32)
            out[f"features.{index}.bias"] = bias.astype(np.float32)
            index += 2
        index += 1  # the block's max-pool
    return out


def _read_keras_h5(path: str) -> dict:
    import h5py

    kernels = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        for block, convs in KERAS_BLOCKS:
            for c in range(1, convs + 1):
                name = f"block{block}_conv{c}"
                if name not in root:
                    raise VGGWeightsError(f"{path}: no layer {name!r}: not Keras' VGG19 weights")
                arrays = {}

                def keep(key, item, arrays=arrays):  # returns None: visititems stops at a non-None result
                    if isinstance(item, h5py.Dataset):
                        arrays[key.rsplit("/", 1)[-1].split(":")[0]] = item[()]  # 'block1_conv1/kernel:0'

                root[name].visititems(keep)
                if "kernel" not in arrays or "bias" not in arrays:
                    raise VGGWeightsError(f"{path}: layer {name!r} has no kernel/bias arrays")
                kernels[name] = (arrays["kernel"], arrays["bias"])
    return kernels


def convert(src: str, dst: str) -> str:
    """A torchvision ``.pth`` state dict or Keras ``.h5`` -> the ``.npz`` :func:`load_weights` reads (checked)."""
    if src.endswith((".h5", ".hdf5")):
        arrays = from_keras(_read_keras_h5(src))
    elif src.endswith((".pth", ".pt")):
        import torch  # only the converter needs it

        arrays = {k: v.numpy() for k, v in torch.load(src, map_location="cpu").items() if k.startswith("features.")}
    else:
        raise VGGWeightsError(f"{src}: expected a torchvision .pth or a Keras .h5 file")
    from_torch(arrays)  # raises on wrong shapes before anything is written
    np.savez(dst, **arrays)
    return dst


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m gan_jax.nets.vgg", description="convert VGG19 weights to .npz")
    p.add_argument("--convert", nargs=2, metavar=("SRC", "DST"), required=True, help="SRC .pth or .h5 -> DST .npz")
    args = p.parse_args(argv)
    from gan_jax import cli

    return cli.run_main(lambda: print(convert(*args.convert)), (VGGWeightsError, OSError, KeyError))


if __name__ == "__main__":
    sys.exit(main())
