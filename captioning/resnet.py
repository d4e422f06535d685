"""The image encoder: torchvision's ResNet family in Flax, adaptive average pooling to a fixed grid, and a loader
for ImageNet weights converted from torchvision.

Networks: resnet18/34 (basic blocks), resnet50/101/152 (bottlenecks, stride on the 3x3 conv as torchvision's
"v1.5"), and resnet10 (one basic block per stage) for CPU runs. ``width`` is the first stage's channels (64 = the
published networks; smaller for CPU). ``stages`` keeps the first 1-4 stages: the reference uses all four (stride
32: a 256 px image gives 8x8, pooled *up* to 14x14); three stop at stride 16, the resolution of the VGG conv5
features Xu et al. attended over. Padding is explicit and symmetric (torch's), not Flax's 'SAME', which pads
stride-2 convolutions on one side only and would shift every feature of converted weights.

Input: images in [-1, 1] (the project's pipeline range), normalised here to torchvision's ImageNet mean/std.

Pretrained weights (the user supplies the file; nothing is downloaded here). Convert once where torchvision is
installed::

    python -c "import numpy as np, torchvision as tv; m = tv.models.resnet101(weights='IMAGENET1K_V1');
    np.savez('resnet101.npz', **{k: v.numpy() for k, v in m.state_dict().items()})"

and pass ``--pretrained resnet101.npz``. The file holds torchvision's state-dict names (``conv1.weight``,
``layer1.0.bn1.running_mean``, ``layer1.0.downsample.0.weight``...); :func:`load_torch_resnet` maps them: conv
``weight`` [out, in, kh, kw] -> Flax ``kernel`` [kh, kw, in, out]; BatchNorm ``weight``/``bias`` -> ``scale``/
``bias`` (params), ``running_mean``/``running_var`` -> ``mean``/``var`` (batch_stats). ``fc.*``,
``num_batches_tracked`` and the stages this encoder does not use are ignored; a missing name or a shape that
differs is an error naming it.
"""

from __future__ import annotations

import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

ARCHS = {
    "resnet10": ("basic", (1, 1, 1, 1)),
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


class PretrainedError(ValueError):
    """A pretrained-weights file that does not fit the encoder (missing names, other shapes, unreadable)."""


def _conv(features: int, kernel: int, stride: int, name: str) -> nn.Conv:
    pad = kernel // 2
    return nn.Conv(features, (kernel, kernel), (stride, stride), padding=((pad, pad), (pad, pad)), use_bias=False,
                   name=name)


def _bn(train: bool, name: str) -> nn.BatchNorm:
    # torch BatchNorm2d: momentum 0.1 on the new statistics = Flax momentum 0.9 on the old ones; eps 1e-5.
    # two-pass variance (as torch): E[x^2] - E[x]^2 cancels badly where |mean| >> std
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, use_fast_variance=False,
                        name=name)


class BasicBlock(nn.Module):
    features: int
    stride: int
    EXPANSION = 1

    @nn.compact
    def __call__(self, x, train: bool):
        y = nn.relu(_bn(train, "bn1")(_conv(self.features, 3, self.stride, "conv1")(x)))
        y = _bn(train, "bn2")(_conv(self.features, 3, 1, "conv2")(y))
        if self.stride != 1 or x.shape[-1] != self.features:
            x = _bn(train, "downsample_bn")(_conv(self.features, 1, self.stride, "downsample_conv")(x))
        return nn.relu(x + y)


class Bottleneck(nn.Module):
    features: int
    stride: int
    EXPANSION = 4

    @nn.compact
    def __call__(self, x, train: bool):
        out = self.features * self.EXPANSION
        y = nn.relu(_bn(train, "bn1")(_conv(self.features, 1, 1, "conv1")(x)))
        y = nn.relu(_bn(train, "bn2")(_conv(self.features, 3, self.stride, "conv2")(y)))
        y = _bn(train, "bn3")(_conv(out, 1, 1, "conv3")(y))
        if self.stride != 1 or x.shape[-1] != out:
            x = _bn(train, "downsample_bn")(_conv(out, 1, self.stride, "downsample_conv")(x))
        return nn.relu(x + y)


class ResNet(nn.Module):
    """torchvision's ResNet up to ``stages`` stages (no global pool, no fc): [B, H, W, 3] -> [B, H/s, W/s, C]."""

    arch: str = "resnet101"
    width: int = 64
    stages: int = 4

    @nn.compact
    def __call__(self, images_BxHxWx3, train: bool):
        kind, blocks = ARCHS[self.arch]
        block = BasicBlock if kind == "basic" else Bottleneck
        x = ((images_BxHxWx3 + 1.0) * 0.5 - IMAGENET_MEAN) / IMAGENET_STD
        x = nn.relu(_bn(train, "bn1")(_conv(self.width, 7, 2, "conv1")(x)))
        x = nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))  # pads with -inf, as torch
        for s in range(self.stages):
            for b in range(blocks[s]):
                stride = 2 if (s > 0 and b == 0) else 1
                x = block(self.width * 2 ** s, stride, name=f"layer{s + 1}_{b}")(x, train)
        return x

    @property
    def out_channels(self) -> int:
        kind, _ = ARCHS[self.arch]
        return self.width * 2 ** (self.stages - 1) * (1 if kind == "basic" else 4)


def adaptive_pool_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] averaging weights of torch's AdaptiveAvgPool over one axis: bin i covers
    [floor(i n_in / n_out), ceil((i + 1) n_in / n_out)), so it also *upsamples* when n_out > n_in."""
    m = np.zeros((n_out, n_in), np.float32)
    for i in range(n_out):
        start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, start:end] = 1.0 / (end - start)
    return m


def adaptive_avg_pool(x_BxHxWxC: jax.Array, size: int) -> jax.Array:
    """torch.nn.AdaptiveAvgPool2d((size, size)) on NHWC, with static shapes (two small matrix products)."""
    _, h, w, _ = x_BxHxWxC.shape
    return jnp.einsum("oh,pw,bhwc->bopc", adaptive_pool_matrix(h, size), adaptive_pool_matrix(w, size), x_BxHxWxC)


class Encoder(nn.Module):
    """ResNet features pooled to a ``grid`` x ``grid`` map, flattened: [B, H, W, 3] -> [B, grid*grid, C]."""

    arch: str = "resnet101"
    width: int = 64
    stages: int = 4
    grid: int = 14

    @nn.compact
    def __call__(self, images_BxHxWx3, train: bool):
        x = ResNet(self.arch, self.width, self.stages, name="resnet")(images_BxHxWx3, train)
        x = adaptive_avg_pool(x, self.grid)
        return x.reshape(x.shape[0], self.grid * self.grid, x.shape[-1])


# --- torchvision weights -------------------------------------------------------------------------------------------

_IGNORED = re.compile(r"^fc\.|num_batches_tracked$")


def torch_names(params: Any, batch_stats: Any) -> dict[str, tuple[str, tuple, tuple[int, ...]]]:
    """torchvision name -> (collection, path in that collection, torch-layout shape) for every encoder variable."""
    out = {}
    for collection, tree in (("params", params), ("batch_stats", batch_stats)):
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
            keys = tuple(p.key for p in path)
            assert keys[0] == "resnet", keys
            *modules, var = keys[1:]
            torch = []
            for m in modules:
                layer = re.fullmatch(r"layer(\d)_(\d+)", m)
                if layer:
                    torch += [f"layer{layer[1]}", layer[2]]
                elif m == "downsample_conv":
                    torch += ["downsample", "0"]
                elif m == "downsample_bn":
                    torch += ["downsample", "1"]
                else:
                    torch.append(m)
            tvar = {"kernel": "weight", "scale": "weight", "bias": "bias", "mean": "running_mean",
                    "var": "running_var"}[var]
            shape = tuple(leaf.shape)
            if var == "kernel":
                shape = (shape[3], shape[2], shape[0], shape[1])
            out[".".join(torch + [tvar])] = (collection, keys, shape)
    return out


def load_torch_resnet(path: str, params: Any, batch_stats: Any) -> tuple[Any, Any]:
    """(params, batch_stats) of the encoder (the trees of ``Encoder.init``) with values from a torchvision
    state-dict ``.npz`` (see the module docstring); every variable must be present with its shape."""
    try:
        with np.load(path) as f:
            tensors = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise PretrainedError(f"cannot read pretrained weights {path}: {e}") from None
    wanted = torch_names(params, batch_stats)
    missing = sorted(set(wanted) - set(tensors))
    if missing:
        raise PretrainedError(f"{path} lacks {len(missing)} of the encoder's {len(wanted)} tensors, e.g. "
                              f"{missing[:3]} (is it a torchvision state dict of the same network?)")
    wrong = [f"{k}: file {tuple(tensors[k].shape)}, encoder expects {shape}"
             for k, (_, _, shape) in wanted.items() if tuple(tensors[k].shape) != shape]
    if wrong:
        raise PretrainedError(f"{path} does not fit the encoder ({len(wrong)} tensor(s) of another shape): "
                              + "; ".join(wrong[:3]))
    # fresh numpy trees of the same structure (the inputs may be arrays or ShapeDtypeStructs)
    trees = {"params": jax.tree.map(lambda x: np.zeros(x.shape, np.float32), params),
             "batch_stats": jax.tree.map(lambda x: np.zeros(x.shape, np.float32), batch_stats)}
    for name, (collection, keys, _) in wanted.items():
        value = np.asarray(tensors[name], np.float32)
        if keys[-1] == "kernel":
            value = value.transpose(2, 3, 1, 0)
        node = trees[collection]
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return trees["params"], trees["batch_stats"]


def unused_tensors(path: str, params: Any, batch_stats: Any) -> list[str]:
    """Names in the file that the encoder does not use (beyond fc and counters): later stages when ``stages < 4``."""
    with np.load(path) as f:
        names = f.files
    wanted = torch_names(params, batch_stats)
    return sorted(n for n in names if n not in wanted and not _IGNORED.search(n))
