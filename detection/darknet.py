"""Darknet `.cfg` networks and `.weights` files, with darknet's semantics exactly.

A user holding the official ``yolov3-tiny.weights`` or ``yolov4-tiny.weights`` gets the published network:

    net = darknet.parse_cfg(open("yolov3-tiny.cfg").read())      # or darknet.builtin_cfg("yolov3-tiny")
    variables = darknet.load_weights("yolov3-tiny.weights", net)  # {'params': ..., 'batch_stats': ...}
    heads = darknet.Darknet(net).apply(variables, images_BxHxWx3)  # raw head outputs, one per [yolo]

Supported sections: [net], [convolutional] (with/without batch_normalize, groups), [maxpool] (incl. the
stride-1 pool), [route] (incl. groups/group_id), [upsample], [shortcut], [yolo] (incl. scale_x_y). Anything
else is an error naming its line.

Semantics (from darknet's source; the test suite checks each against an independent numpy implementation):
- convolution: cross-correlation, ``pad=1`` means padding = size // 2 on every side (``pad=0``: the
  ``padding`` key, default 0); with batch_normalize the conv has no bias and the BN bias follows the scale.
- batch norm at inference: ``(x - mean) / (sqrt(var) + 1e-6) * scale + bias``, the epsilon outside the square
  root as in darknet's ``normalize_cpu`` (pjreddie). AlexeyAB's fork and darknet's BN fusing use
  ``sqrt(var + 1e-5)`` instead; for published weights the two differ by < 1e-5 relative, we pick the first.
  In training the batch statistics are used (biased variance for normalising, unbiased for the running
  average, momentum 0.99 as darknet's ``rolling = .99 * rolling + .01 * batch``).
- activations: leaky = max(x, 0.1x), linear, logistic (darknet's default when the key is absent), relu,
  mish = x tanh(softplus(x)), swish = x sigmoid(x), tanh.
- maxpool: padding defaults to size - 1; out = (in + padding - size) // stride + 1; the window starts at
  -(padding // 2) and positions outside the input are ignored (-inf padding), so the size-2 stride-1 pool keeps
  13x13 (its extra column/row is on the bottom/right).
- upsample: nearest neighbour, times ``scale`` (default 1). route: concatenation in the listed order; with
  ``groups``/``group_id`` each input contributes its channel slice ``group_id`` of ``groups``.
- yolo: per anchor the planes [x, y, w, h, obj, classes...]; the network outputs them raw (logits, which is
  what training needs); :func:`yolo_activate` applies what darknet's yolo layer does in its forward pass
  (logistic on x, y, obj and classes; x, y scaled by scale_x_y about 0.5; w, h raw).

`.weights` (little endian): int32 major, minor, revision; ``seen`` as uint64 when major*10+minor >= 2 (and both
< 1000), else int32; then per convolutional layer in cfg order: biases[n]; if batch_normalize: scales[n],
rolling_mean[n], rolling_variance[n]; then weights[n][c/groups][kh][kw]. We write version 0.2.0.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

BN_EPSILON = 1e-6  # outside the square root, as darknet's normalize_cpu
BN_MOMENTUM = 0.99

ACTIVATIONS = ("linear", "leaky", "logistic", "relu", "mish", "swish", "tanh")
SECTIONS = ("net", "network", "convolutional", "conv", "maxpool", "max", "route", "upsample", "shortcut", "yolo")


class CfgError(ValueError):
    """A malformed darknet cfg; the message names the line."""


class WeightsError(ValueError):
    """A darknet .weights file that does not match its cfg."""


# ----------------------------------------------------------------------------------------------------------------
# Parsed layers. Frozen and made of tuples, so a network is hashable and can be a Flax module attribute.


@dataclasses.dataclass(frozen=True)
class NetOptions:
    width: int = 416
    height: int = 416
    channels: int = 3
    # Training options are kept verbatim (key -> value string) for whoever wants them.
    options: tuple[tuple[str, str], ...] = ()

    def get(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)


@dataclasses.dataclass(frozen=True)
class Conv:
    filters: int
    size: int
    stride: int
    padding: int
    batch_normalize: bool
    activation: str
    groups: int = 1
    in_channels: int = 0
    line: int = 0


@dataclasses.dataclass(frozen=True)
class MaxPool:
    size: int
    stride: int
    padding: int
    line: int = 0


@dataclasses.dataclass(frozen=True)
class Route:
    layers: tuple[int, ...]  # absolute layer indices
    groups: int = 1
    group_id: int = 0
    line: int = 0


@dataclasses.dataclass(frozen=True)
class Upsample:
    stride: int = 2
    scale: float = 1.0
    line: int = 0


@dataclasses.dataclass(frozen=True)
class Shortcut:
    source: int  # absolute layer index
    activation: str = "linear"
    line: int = 0


@dataclasses.dataclass(frozen=True)
class Yolo:
    mask: tuple[int, ...]
    anchors: tuple[tuple[float, float], ...]  # all anchors of the network, in input pixels (w, h)
    classes: int
    scale_x_y: float = 1.0
    ignore_thresh: float = 0.5
    iou_loss: str = "mse"
    iou_normalizer: float = 0.75
    line: int = 0

    @property
    def masked_anchors(self) -> tuple[tuple[float, float], ...]:
        return tuple(self.anchors[i] for i in self.mask)


Layer = Conv | MaxPool | Route | Upsample | Shortcut | Yolo


@dataclasses.dataclass(frozen=True)
class Network:
    net: NetOptions
    layers: tuple[Layer, ...]
    channels: tuple[int, ...]  # output channels of each layer

    @property
    def yolo_layers(self) -> tuple[Yolo, ...]:
        return tuple(l for l in self.layers if isinstance(l, Yolo))

    @property
    def conv_layers(self) -> tuple[tuple[int, Conv], ...]:
        return tuple((i, l) for i, l in enumerate(self.layers) if isinstance(l, Conv))

    @property
    def n_classes(self) -> int:
        return self.yolo_layers[0].classes

    def n_floats(self) -> int:
        """How many float32 values a .weights file for this network holds after its header."""
        return sum(conv_float_count(c) for _, c in self.conv_layers)


def conv_float_count(c: Conv) -> int:
    per_filter_bn = 4 if c.batch_normalize else 1
    return c.filters * per_filter_bn + c.filters * (c.in_channels // c.groups) * c.size * c.size


# ----------------------------------------------------------------------------------------------------------------
# Parsing


def _sections(text: str) -> list[tuple[str, int, dict[str, tuple[str, int]]]]:
    """[(section name, its line, {key: (value, line)})] in file order; comments (#, ;) and blanks skipped."""
    sections: list[tuple[str, int, dict[str, tuple[str, int]]]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise CfgError(f"cfg line {lineno}: malformed section header {raw.strip()!r}")
            name = line[1:-1].strip().lower()
            if name not in SECTIONS:
                raise CfgError(f"cfg line {lineno}: unknown section [{name}]; this loader supports "
                               + ", ".join(f"[{s}]" for s in SECTIONS))
            sections.append((name, lineno, {}))
            continue
        if "=" not in line:
            raise CfgError(f"cfg line {lineno}: expected 'key=value', got {raw.strip()!r}")
        if not sections:
            raise CfgError(f"cfg line {lineno}: option {raw.strip()!r} before the first [section]")
        key, value = (s.strip() for s in line.split("=", 1))
        sections[-1][2][key.replace(" ", "")] = (value, lineno)
    return sections


class _Options:
    """Typed access to a section's keys, with errors that name the line."""

    def __init__(self, name: str, line: int, kv: dict[str, tuple[str, int]]):
        self.name, self.line, self.kv = name, line, kv

    def _raw(self, key: str, default: Any, required: bool) -> tuple[str | None, int]:
        if key in self.kv:
            return self.kv[key]
        if required:
            raise CfgError(f"cfg line {self.line}: [{self.name}] section is missing required key '{key}'")
        return None, self.line

    def int(self, key: str, default: int | None = None, required: bool = False) -> int:
        value, line = self._raw(key, default, required)
        if value is None:
            return default  # type: ignore[return-value]
        try:
            return int(value)
        except ValueError:
            raise CfgError(f"cfg line {line}: '{key}' must be an integer, got {value!r}") from None

    def float(self, key: str, default: float | None = None, required: bool = False) -> float:
        value, line = self._raw(key, default, required)
        if value is None:
            return default  # type: ignore[return-value]
        try:
            return float(value)
        except ValueError:
            raise CfgError(f"cfg line {line}: '{key}' must be a number, got {value!r}") from None

    def ints(self, key: str, required: bool = False) -> tuple[int, ...] | None:
        value, line = self._raw(key, None, required)
        if value is None:
            return None
        try:
            return tuple(int(v) for v in value.split(",") if v.strip())
        except ValueError:
            raise CfgError(f"cfg line {line}: '{key}' must be a list of integers, got {value!r}") from None

    def floats(self, key: str, required: bool = False) -> tuple[float, ...] | None:
        value, line = self._raw(key, None, required)
        if value is None:
            return None
        try:
            return tuple(float(v) for v in value.split(",") if v.strip())
        except ValueError:
            raise CfgError(f"cfg line {line}: '{key}' must be a list of numbers, got {value!r}") from None

    def activation(self, default: str = "logistic") -> str:
        value, line = self.kv.get("activation", (default, self.line))
        if value not in ACTIVATIONS:
            raise CfgError(f"cfg line {line}: unsupported activation {value!r}; supported: {', '.join(ACTIVATIONS)}")
        return value

    def string(self, key: str, default: str) -> str:
        return self.kv.get(key, (default, self.line))[0]


def parse_cfg(text: str) -> Network:
    """Parses darknet cfg text into a :class:`Network` (layers indexed as darknet numbers them, from 0)."""
    sections = _sections(text)
    if not sections or sections[0][0] not in ("net", "network"):
        line = sections[0][1] if sections else 1
        raise CfgError(f"cfg line {line}: the first section must be [net]")
    name, line, kv = sections[0]
    o = _Options(name, line, kv)
    net = NetOptions(width=o.int("width", 416), height=o.int("height", 416), channels=o.int("channels", 3),
                     options=tuple((k, v) for k, (v, _) in kv.items()))
    layers: list[Layer] = []
    channels: list[int] = []

    def absolute(index: int, line: int) -> int:
        i = len(layers) + index if index < 0 else index
        if not 0 <= i < len(layers):
            raise CfgError(f"cfg line {line}: layer reference {index} is outside layers 0..{len(layers) - 1}")
        return i

    for name, line, kv in sections[1:]:
        o = _Options(name, line, kv)
        c_in = channels[-1] if channels else net.channels
        if name in ("convolutional", "conv"):
            size = o.int("size", required=True)
            pad = o.int("pad", 0)
            groups = o.int("groups", 1)
            filters = o.int("filters", required=True)
            if groups < 1 or c_in % groups or filters % groups:
                raise CfgError(f"cfg line {line}: groups={groups} must divide the {c_in} input channels and "
                               f"the {filters} filters")
            layer: Layer = Conv(filters=filters, size=size, stride=o.int("stride", 1),
                                padding=size // 2 if pad else o.int("padding", 0),
                                batch_normalize=bool(o.int("batch_normalize", 0)),
                                activation=o.activation(), groups=groups, in_channels=c_in, line=line)
            c_out = filters
        elif name in ("maxpool", "max"):
            stride = o.int("stride", 1)
            size = o.int("size", stride)
            layer = MaxPool(size=size, stride=stride, padding=o.int("padding", size - 1), line=line)
            c_out = c_in
        elif name == "route":
            refs = tuple(absolute(i, line) for i in o.ints("layers", required=True))  # type: ignore[union-attr]
            groups, group_id = o.int("groups", 1), o.int("group_id", 0)
            if not 0 <= group_id < groups:
                raise CfgError(f"cfg line {line}: group_id={group_id} must be in 0..groups-1 (groups={groups})")
            for r in refs:
                if channels[r] % groups:
                    raise CfgError(f"cfg line {line}: layer {r} has {channels[r]} channels, not divisible by "
                                   f"groups={groups}")
            layer = Route(layers=refs, groups=groups, group_id=group_id, line=line)
            c_out = sum(channels[r] // groups for r in refs)
        elif name == "upsample":
            layer = Upsample(stride=o.int("stride", 2), scale=o.float("scale", 1.0), line=line)
            c_out = c_in
        elif name == "shortcut":
            source = absolute(o.int("from", required=True), line)
            if channels[source] != c_in:
                raise CfgError(f"cfg line {line}: shortcut from layer {source} ({channels[source]} channels) "
                               f"to {c_in} channels is not supported")
            layer = Shortcut(source=source, activation=o.activation("linear"), line=line)
            c_out = c_in
        elif name == "yolo":
            classes = o.int("classes", required=True)
            flat = o.floats("anchors", required=True)
            if len(flat) % 2:  # type: ignore[arg-type]
                raise CfgError(f"cfg line {kv['anchors'][1]}: 'anchors' needs an even count of numbers (w,h pairs)")
            anchors = tuple(zip(flat[0::2], flat[1::2]))  # type: ignore[index]
            mask = o.ints("mask") or tuple(range(len(anchors)))
            if any(not 0 <= m < len(anchors) for m in mask):
                raise CfgError(f"cfg line {kv['mask'][1]}: mask {mask} refers past the {len(anchors)} anchors")
            if c_in != len(mask) * (5 + classes):
                raise CfgError(f"cfg line {line}: [yolo] needs {len(mask)}*(5+{classes}) = "
                               f"{len(mask) * (5 + classes)} input channels, the previous layer gives {c_in}")
            layer = Yolo(mask=mask, anchors=anchors, classes=classes, scale_x_y=o.float("scale_x_y", 1.0),
                         ignore_thresh=o.float("ignore_thresh", 0.5), iou_loss=o.string("iou_loss", "mse"),
                         iou_normalizer=o.float("iou_normalizer", 0.75), line=line)
            c_out = c_in
        else:  # [net] again
            raise CfgError(f"cfg line {line}: [{name}] may only be the first section")
        layers.append(layer)
        channels.append(c_out)
    if not any(isinstance(l, Yolo) for l in layers):
        raise CfgError("cfg has no [yolo] section: this loader builds YOLO detectors")
    return Network(net=net, layers=tuple(layers), channels=tuple(channels))


def read_cfg(path: str) -> Network:
    with open(path) as f:
        text = f.read()
    try:
        return parse_cfg(text)
    except CfgError as e:
        raise CfgError(f"{path}: {e}") from None


# ----------------------------------------------------------------------------------------------------------------
# The two published tiny networks, generated (so that n_classes, anchors and width can change).

DARKNET_ANCHORS = ((10, 14), (23, 27), (37, 58), (81, 82), (135, 169), (344, 319))


def _fmt_anchors(anchors: Sequence[Sequence[float]]) -> str:
    return ",  ".join(",".join(f"{v:g}" for v in a) for a in anchors)


def _conv(filters: int, size: int, stride: int = 1, bn: bool = True, act: str = "leaky") -> str:
    bn_line = "batch_normalize=1\n" if bn else ""
    return f"[convolutional]\n{bn_line}filters={filters}\nsize={size}\nstride={stride}\npad=1\nactivation={act}\n"


def _fmt_mask(mask: Sequence[int]) -> str:
    return ",".join(str(int(m)) for m in mask)


def yolov3_tiny_cfg(n_classes: int = 80, anchors: Sequence[Sequence[float]] = DARKNET_ANCHORS,
                    width: float = 1.0, size: int = 416,
                    masks: Sequence[Sequence[int]] = ((3, 4, 5), (0, 1, 2))) -> str:
    """darknet's yolov3-tiny.cfg layer list (24 layers); ``width`` scales every hidden conv's filters, ``masks``
    are the anchors of the coarse (stride 32) and fine (stride 16) heads."""
    w = lambda n: max(1, int(round(n * width)))  # noqa: E731
    head = 3 * (n_classes + 5)
    yolo = (f"classes={n_classes}\nnum={len(anchors)}\nanchors={_fmt_anchors(anchors)}\n"
            "jitter=.3\nignore_thresh=.7\ntruth_thresh=1\nrandom=1\n")
    parts = [f"[net]\nbatch=64\nsubdivisions=2\nwidth={size}\nheight={size}\nchannels=3\nmomentum=0.9\n"
             "decay=0.0005\nlearning_rate=0.001\nburn_in=1000\nmax_batches=500200\npolicy=steps\n"
             "steps=400000,450000\nscales=.1,.1\n"]
    for i, f in enumerate((16, 32, 64, 128, 256, 512)):
        parts.append(_conv(w(f), 3))
        parts.append(f"[maxpool]\nsize=2\nstride={1 if i == 5 else 2}\n")
    parts += [_conv(w(1024), 3), _conv(w(256), 1), _conv(w(512), 3), _conv(head, 1, bn=False, act="linear"),
              f"[yolo]\nmask={_fmt_mask(masks[0])}\n" + yolo, "[route]\nlayers=-4\n", _conv(w(128), 1),
              "[upsample]\nstride=2\n", "[route]\nlayers=-1, 8\n", _conv(w(256), 3),
              _conv(head, 1, bn=False, act="linear"), f"[yolo]\nmask={_fmt_mask(masks[1])}\n" + yolo]
    return "\n".join(parts)


def yolov4_tiny_cfg(n_classes: int = 80, anchors: Sequence[Sequence[float]] = DARKNET_ANCHORS,
                    width: float = 1.0, size: int = 416,
                    masks: Sequence[Sequence[int]] = ((3, 4, 5), (1, 2, 3))) -> str:
    """AlexeyAB's yolov4-tiny.cfg layer list (38 layers, CSP blocks with grouped routes, scale_x_y 1.05).

    The published masks leave anchor 0 to no head (darknet then never trains a box whose best anchor is 0); pass
    ``masks=((3, 4, 5), (0, 1, 2))`` when training with anchors of your own."""
    w = lambda n: max(2, 2 * int(round(n * width / 2)))  # noqa: E731  (even: the routes split channels in 2)
    head = 3 * (n_classes + 5)
    yolo = (f"classes={n_classes}\nnum={len(anchors)}\nanchors={_fmt_anchors(anchors)}\njitter=.3\n"
            "scale_x_y=1.05\ncls_normalizer=1.0\niou_normalizer=0.07\niou_loss=ciou\nignore_thresh=.7\n"
            "truth_thresh=1\nrandom=0\nresize=1.5\nnms_kind=greedynms\nbeta_nms=0.6\n")
    parts = [f"[net]\nbatch=64\nsubdivisions=1\nwidth={size}\nheight={size}\nchannels=3\nmomentum=0.9\n"
             "decay=0.0005\nlearning_rate=0.00261\nburn_in=1000\nmax_batches=2000200\npolicy=steps\n"
             "steps=1600000,1800000\nscales=.1,.1\n",
             _conv(w(32), 3, 2), _conv(w(64), 3, 2)]
    for f in (64, 128, 256):  # three CSP blocks
        parts += [_conv(w(f), 3), "[route]\nlayers=-1\ngroups=2\ngroup_id=1\n", _conv(w(f // 2), 3),
                  _conv(w(f // 2), 3), "[route]\nlayers=-1,-2\n", _conv(w(f), 1), "[route]\nlayers=-6,-1\n",
                  "[maxpool]\nsize=2\nstride=2\n"]
    parts += [_conv(w(512), 3), _conv(w(256), 1), _conv(w(512), 3), _conv(head, 1, bn=False, act="linear"),
              f"[yolo]\nmask={_fmt_mask(masks[0])}\n" + yolo, "[route]\nlayers=-4\n", _conv(w(128), 1),
              "[upsample]\nstride=2\n", "[route]\nlayers=-1, 23\n", _conv(w(256), 3),
              _conv(head, 1, bn=False, act="linear"), f"[yolo]\nmask={_fmt_mask(masks[1])}\n" + yolo]
    return "\n".join(parts)


BUILTIN = {"yolov3-tiny": yolov3_tiny_cfg, "yolov4-tiny": yolov4_tiny_cfg}


def builtin_cfg(name: str, **kwargs) -> Network:
    if name not in BUILTIN:
        raise ValueError(f"unknown model {name!r}; built in: {', '.join(BUILTIN)}")
    return parse_cfg(BUILTIN[name](**kwargs))


def load_network(cfg: str) -> Network:
    """A built-in name ('yolov3-tiny', 'yolov4-tiny') or a path to a .cfg file."""
    if cfg in BUILTIN:
        return builtin_cfg(cfg)
    if not os.path.exists(cfg):
        raise FileNotFoundError(f"cfg {cfg!r} is neither a file nor a built-in model ({', '.join(BUILTIN)})")
    return read_cfg(cfg)


# ----------------------------------------------------------------------------------------------------------------
# The Flax network


def activate(x: jax.Array, name: str) -> jax.Array:
    if name == "linear":
        return x
    if name == "leaky":
        return jnp.where(x > 0, x, 0.1 * x)
    if name == "logistic":
        return jax.nn.sigmoid(x)
    if name == "relu":
        return jax.nn.relu(x)
    if name == "mish":
        return x * jnp.tanh(jax.nn.softplus(x))
    if name == "swish":
        return x * jax.nn.sigmoid(x)
    if name == "tanh":
        return jnp.tanh(x)
    raise ValueError(f"unsupported activation {name!r}")


class DarknetBatchNorm(nn.Module):
    """darknet's batch norm: epsilon outside the square root (see the module docstring)."""

    momentum: float = BN_MOMENTUM

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        c = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (c,))
        bias = self.param("bias", nn.initializers.zeros, (c,))
        mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
        var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))
        if train:
            m = x.mean(axis=(0, 1, 2))
            v = jnp.square(x - m).mean(axis=(0, 1, 2))
            if not self.is_initializing():
                n = x.size // c
                mean.value = self.momentum * mean.value + (1 - self.momentum) * m
                var.value = self.momentum * var.value + (1 - self.momentum) * v * (n / max(n - 1, 1))
            # the tiny term keeps sqrt's gradient finite for a constant channel
            denom = jnp.sqrt(v + 1e-12) + BN_EPSILON
        else:
            m, denom = mean.value, jnp.sqrt(var.value) + BN_EPSILON
        return (x - m) / denom * scale + bias


def maxpool(x_BxHxWxC: jax.Array, size: int, stride: int, padding: int) -> jax.Array:
    """darknet's maxpool: window origin at -(padding // 2), outside positions ignored."""
    _, h, w, _ = x_BxHxWxC.shape
    pad_lo = padding // 2

    def extent(n: int) -> tuple[int, int]:
        out = (n + padding - size) // stride + 1
        pad_hi = max(0, (out - 1) * stride + size - pad_lo - n)
        return out, pad_hi

    (out_h, ph), (out_w, pw) = extent(h), extent(w)
    y = jax.lax.reduce_window(x_BxHxWxC, -jnp.inf, jax.lax.max, (1, size, size, 1), (1, stride, stride, 1),
                              ((0, 0), (pad_lo, ph), (pad_lo, pw), (0, 0)))
    return y[:, :out_h, :out_w, :]


class Darknet(nn.Module):
    """A darknet network; returns the raw outputs feeding each [yolo] layer, each [B, H, W, anchors, 5 + classes].

    Parameter names follow darknet's layer numbers: ``conv_{i}`` (kernel HWIO, bias when there is no BN) and
    ``bn_{i}`` (scale, bias; batch_stats mean, var).
    """

    network: Network
    bn_momentum: float = BN_MOMENTUM  # running-average momentum of the BN statistics in training

    @nn.compact
    def __call__(self, x_BxHxWxC: jax.Array, train: bool = False) -> list[jax.Array]:
        net = self.network
        _, h, w, c = x_BxHxWxC.shape
        if h % 32 or w % 32:
            raise ValueError(f"input size {h}x{w} is not divisible by 32 (the network downsamples by 32 and "
                             "concatenates feature maps of two scales)")
        if c != net.net.channels:
            raise ValueError(f"input has {c} channels, the cfg expects {net.net.channels}")
        outputs: list[jax.Array] = []
        heads: list[jax.Array] = []
        x = x_BxHxWxC
        for i, layer in enumerate(net.layers):
            if isinstance(layer, Conv):
                p = layer.padding
                x = nn.Conv(layer.filters, (layer.size, layer.size), strides=layer.stride,
                            padding=((p, p), (p, p)), feature_group_count=layer.groups,
                            use_bias=not layer.batch_normalize,
                            kernel_init=nn.initializers.variance_scaling(2.0 / 3.0, "fan_in", "uniform"),
                            name=f"conv_{i}")(x)
                if layer.batch_normalize:
                    x = DarknetBatchNorm(self.bn_momentum, name=f"bn_{i}")(x, train)
                x = activate(x, layer.activation)
            elif isinstance(layer, MaxPool):
                x = maxpool(x, layer.size, layer.stride, layer.padding)
            elif isinstance(layer, Route):
                parts = []
                for r in layer.layers:
                    y = outputs[r]
                    part = y.shape[-1] // layer.groups
                    parts.append(y[..., layer.group_id * part:(layer.group_id + 1) * part])
                x = parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)
            elif isinstance(layer, Upsample):
                x = jnp.repeat(jnp.repeat(x, layer.stride, axis=1), layer.stride, axis=2)
                if layer.scale != 1.0:
                    x = x * layer.scale
            elif isinstance(layer, Shortcut):
                x = activate(x + outputs[layer.source], layer.activation)
            elif isinstance(layer, Yolo):
                b, gh, gw, _ = x.shape
                heads.append(x.reshape(b, gh, gw, len(layer.mask), 5 + layer.classes))
            outputs.append(x)
        return heads


def init_variables(rng: jax.Array, network: Network) -> dict:
    """darknet's initialisation: kernels uniform in +-sqrt(2 / fan_in), biases 0, BN scale 1, mean 0, var 1.

    One random draw for all kernels (cheaper to compile than Flax's per-layer init; same tree as
    ``Darknet(network).init``).
    """
    convs = network.conv_layers
    shapes = [(c.size, c.size, c.in_channels // c.groups, c.filters) for _, c in convs]
    sizes = [int(np.prod(s)) for s in shapes]
    flat = jax.random.uniform(rng, (sum(sizes),), jnp.float32, -1.0, 1.0)
    params: dict[str, dict[str, jax.Array]] = {}
    stats: dict[str, dict[str, jax.Array]] = {}
    offsets = np.cumsum([0] + sizes)
    for (i, c), shape, lo, hi in zip(convs, shapes, offsets[:-1], offsets[1:]):
        scale = np.sqrt(2.0 / (c.size * c.size * c.in_channels // c.groups)).astype(np.float32)
        params[f"conv_{i}"] = {"kernel": flat[lo:hi].reshape(shape) * scale}
        # (a fresh buffer per leaf, so that a jitted step may donate them all)
        zeros = lambda: jnp.zeros((c.filters,), jnp.float32)  # noqa: E731
        ones = lambda: jnp.ones((c.filters,), jnp.float32)  # noqa: E731
        if c.batch_normalize:
            params[f"bn_{i}"] = {"scale": ones(), "bias": zeros()}
            stats[f"bn_{i}"] = {"mean": zeros(), "var": ones()}
        else:
            params[f"conv_{i}"]["bias"] = zeros()
    return {"params": params, "batch_stats": stats}


def yolo_activate(raw_BxHxWxAxK: jax.Array, layer: Yolo) -> jax.Array:
    """What darknet's yolo layer outputs at inference: logistic x, y (scaled about 0.5), obj, classes; raw w, h."""
    xy = jax.nn.sigmoid(raw_BxHxWxAxK[..., 0:2]) * layer.scale_x_y - 0.5 * (layer.scale_x_y - 1.0)
    wh = raw_BxHxWxAxK[..., 2:4]
    rest = jax.nn.sigmoid(raw_BxHxWxAxK[..., 4:])
    return jnp.concatenate([xy, wh, rest], axis=-1)


# ----------------------------------------------------------------------------------------------------------------
# .weights files

_HEADER = np.dtype([("major", "<i4"), ("minor", "<i4"), ("revision", "<i4")])


@dataclasses.dataclass(frozen=True)
class WeightsHeader:
    major: int = 0
    minor: int = 2
    revision: int = 0
    seen: int = 0

    @property
    def seen_is_64bit(self) -> bool:
        return (self.major * 10 + self.minor) >= 2 and self.major < 1000 and self.minor < 1000

    @property
    def nbytes(self) -> int:
        return 12 + (8 if self.seen_is_64bit else 4)


def read_weights_file(path: str) -> tuple[WeightsHeader, np.ndarray]:
    """The header and every float32 after it (little endian), unchecked."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 16:
        raise WeightsError(f"{path}: {len(data)} bytes is too short for a darknet .weights header")
    major, minor, revision = (int(v) for v in np.frombuffer(data, _HEADER, count=1)[0])
    header = WeightsHeader(major, minor, revision)
    seen_dtype = "<u8" if header.seen_is_64bit else "<i4"
    if len(data) < header.nbytes:
        raise WeightsError(f"{path}: {len(data)} bytes is too short for a darknet .weights header")
    seen = int(np.frombuffer(data, seen_dtype, count=1, offset=12)[0])
    body = data[header.nbytes:]
    if len(body) % 4:
        raise WeightsError(f"{path}: {len(body)} bytes after the {header.nbytes}-byte header is not a whole number "
                           "of float32 values")
    return dataclasses.replace(header, seen=seen), np.frombuffer(body, "<f4")


def write_weights_file(path: str, floats: np.ndarray, header: WeightsHeader = WeightsHeader()) -> None:
    seen_dtype = "<u8" if header.seen_is_64bit else "<i4"
    with open(path, "wb") as f:
        f.write(np.array([header.major, header.minor, header.revision], "<i4").tobytes())
        f.write(np.array([header.seen], seen_dtype).tobytes())
        f.write(np.ascontiguousarray(floats, "<f4").tobytes())


def variables_from_floats(floats: np.ndarray, network: Network, source: str = "weights") -> dict:
    """Darknet's flat float list -> Flax variables {'params', 'batch_stats'} for :class:`Darknet`."""
    expected = network.n_floats()
    if floats.size != expected:
        what = "too short" if floats.size < expected else "has trailing data"
        raise WeightsError(f"{source} {what}: the cfg's {len(network.conv_layers)} convolutional layers need "
                           f"{expected:,} floats, found {floats.size:,} "
                           f"({abs(floats.size - expected):,} {'missing' if floats.size < expected else 'extra'})")
    params: dict[str, dict[str, np.ndarray]] = {}
    stats: dict[str, dict[str, np.ndarray]] = {}
    pos = 0

    def take(n: int) -> np.ndarray:
        nonlocal pos
        pos += n
        return np.array(floats[pos - n:pos], np.float32)

    for i, c in network.conv_layers:
        n = c.filters
        bias = take(n)
        if c.batch_normalize:
            params[f"bn_{i}"] = {"scale": take(n), "bias": bias}
            stats[f"bn_{i}"] = {"mean": take(n), "var": take(n)}
        kernel_OIHW = take(n * (c.in_channels // c.groups) * c.size * c.size).reshape(
            n, c.in_channels // c.groups, c.size, c.size)
        params[f"conv_{i}"] = {"kernel": kernel_OIHW.transpose(2, 3, 1, 0)}  # -> HWIO
        if not c.batch_normalize:
            params[f"conv_{i}"]["bias"] = bias
    return {"params": params, "batch_stats": stats}


def floats_from_variables(variables: dict, network: Network) -> np.ndarray:
    """Inverse of :func:`variables_from_floats`."""
    params, stats = variables["params"], variables.get("batch_stats", {})
    chunks = []
    for i, c in network.conv_layers:
        conv = params[f"conv_{i}"]
        if c.batch_normalize:
            bn = params[f"bn_{i}"]
            chunks += [bn["bias"], bn["scale"], stats[f"bn_{i}"]["mean"], stats[f"bn_{i}"]["var"]]
        else:
            chunks.append(conv["bias"])
        chunks.append(np.asarray(conv["kernel"]).transpose(3, 2, 0, 1))  # HWIO -> OIHW
    return np.concatenate([np.asarray(x, np.float32).ravel() for x in chunks])


def load_weights(path: str, network: Network) -> dict:
    """Reads a darknet .weights file for ``network``; returns {'params', 'batch_stats'}."""
    _, floats = read_weights_file(path)
    return variables_from_floats(floats, network, source=path)


def save_weights(path: str, variables: dict, network: Network, seen: int = 0) -> None:
    """Writes {'params', 'batch_stats'} as a darknet 0.2.0 .weights file (loadable by darknet itself)."""
    write_weights_file(path, floats_from_variables(variables, network), WeightsHeader(0, 2, 0, seen))


def network_summary(network: Network) -> str:
    """darknet-style layer table (index, type, filters, size/stride, output channels)."""
    rows = []
    for i, (l, c) in enumerate(zip(network.layers, network.channels)):
        kind = type(l).__name__.lower()
        if isinstance(l, Conv):
            desc = f"{l.filters:5d} {l.size}x{l.size}/{l.stride}{' bn' if l.batch_normalize else ''} {l.activation}"
        elif isinstance(l, MaxPool):
            desc = f"      {l.size}x{l.size}/{l.stride}"
        elif isinstance(l, Route):
            desc = " ".join(map(str, l.layers)) + (f" group {l.group_id}/{l.groups}" if l.groups > 1 else "")
        elif isinstance(l, Yolo):
            desc = f"mask {l.mask} classes {l.classes}"
        else:
            desc = ""
        rows.append(f"{i:3d} {kind:10s} {desc:40s} -> {c}")
    return "\n".join(rows)

