"""The bit-exact integer model of the quantised network, in numpy (and its float twin, for the report).

    q = reference.quantize_input(qnet, images_BxHxWx3)       # float [0, 1] -> int64 at the input format
    outs = reference.forward(qnet, q)                         # one int64 [B, H, W, C] per darknet layer
    dets = reference.detect(qnet, images_BxHxWx3)             # boxes/scores/classes as detection.boxes.postprocess

Every layer computes exactly what the HLS engines compute (see :mod:`fpga.quantize` for the arithmetic); the
tests compare the two bit for bit. Convolutions are one float64 matrix product: with 16-bit operands every
product is below 2**30 and a 3x3x1024 sum below 2**44, so float64 (53-bit mantissa) holds every partial sum
exactly, whatever order BLAS adds them in, and runs at BLAS speed (an int64 matmul in numpy does not).
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from detection import darknet
from fpga import quantize as Q


def _conv_exact(x_BxHxWxC: np.ndarray, w_KxKxCxN: np.ndarray) -> np.ndarray:
    """'same' stride-1 cross-correlation as one float64 GEMM (exact for integer inputs, see the module doc)."""
    b, h, w, c = x_BxHxWxC.shape
    k, n = w_KxKxCxN.shape[0], w_KxKxCxN.shape[-1]
    x = np.asarray(x_BxHxWxC, np.float64)
    wm = np.asarray(w_KxKxCxN, np.float64)
    if k == 1:
        return (x.reshape(-1, c) @ wm.reshape(c, n)).reshape(b, h, w, n)
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    cols = sliding_window_view(xp, (k, k), axis=(1, 2))  # [B, H, W, C, K, K]
    return np.tensordot(cols, wm.transpose(2, 0, 1, 3), axes=([3, 4, 5], [0, 1, 2]))


def maxpool(x_BxHxWxC: np.ndarray, size: int, stride: int, padding: int) -> np.ndarray:
    """darknet's maxpool (window origin at -(padding // 2), positions outside the input ignored)."""
    b, h, w, c = x_BxHxWxC.shape
    lo = padding // 2
    oh, ow = (h + padding - size) // stride + 1, (w + padding - size) // stride + 1
    fill = -np.inf if x_BxHxWxC.dtype.kind == "f" else np.iinfo(x_BxHxWxC.dtype).min
    hi_h, hi_w = max(0, (oh - 1) * stride + size - lo - h), max(0, (ow - 1) * stride + size - lo - w)
    xp = np.pad(x_BxHxWxC, ((0, 0), (lo, hi_h), (lo, hi_w), (0, 0)), constant_values=fill)
    win = sliding_window_view(xp, (size, size), axis=(1, 2))[:, ::stride, ::stride][:, :oh, :ow]
    return win.max(axis=(-2, -1))


def _route(outs: list[np.ndarray], layer: darknet.Route) -> np.ndarray:
    parts = []
    for r in layer.layers:
        part = outs[r].shape[-1] // layer.groups
        parts.append(outs[r][..., layer.group_id * part:(layer.group_id + 1) * part])
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)


def _upsample(x: np.ndarray, stride: int) -> np.ndarray:
    return np.repeat(np.repeat(x, stride, axis=1), stride, axis=2)


def forward_float(network: darknet.Network, folded: dict, images: np.ndarray) -> list[np.ndarray]:
    """float64 outputs of every layer with BN folded (yolo: its raw input, as detection.darknet.Darknet)."""
    outs: list[np.ndarray] = []
    x = np.asarray(images, np.float64)
    for i, l in enumerate(network.layers):
        if isinstance(l, darknet.Conv):
            w, b = folded[i]
            x = _conv_exact(x, w) + b
            if l.activation == "leaky":
                x = np.where(x > 0, x, 0.1 * x)
        elif isinstance(l, darknet.MaxPool):
            x = maxpool(x, l.size, l.stride, l.padding)
        elif isinstance(l, darknet.Route):
            x = _route(outs, l)
        elif isinstance(l, darknet.Upsample):
            x = _upsample(x, l.stride)
        elif not isinstance(l, darknet.Yolo):
            raise Q.QuantizeError(f"layer {i}: {type(l).__name__} is not supported")
        outs.append(x)
    return outs


def quantize_input(qnet: Q.QuantizedNetwork, images: np.ndarray) -> np.ndarray:
    return Q.to_fixed(images, qnet.input_frac, qnet.data_bits)


def conv_layer(qconv: Q.QConv, x: np.ndarray, data_bits: int, stats: dict | None = None) -> np.ndarray:
    """The convolution + accumulation engines on the whole layer: exact sum, 32-bit wrap, bias, leaky, rounding
    shift, saturation."""
    exact = _conv_exact(x, qconv.weight_q).astype(np.int64) + qconv.bias_q
    acc = Q.wrap(exact)
    lo, hi = -(1 << (data_bits - 1)), (1 << (data_bits - 1)) - 1
    wide = Q.requantize(acc, qconv.shift, qconv.leaky, 63)
    if stats is not None:
        stats["wrapped"][qconv.index] = int((acc != exact).sum())
        stats["saturated"][qconv.index] = int(((wide < lo) | (wide > hi)).sum())
    return Q.saturate(wide, data_bits)


def yolo_layer(x: np.ndarray, layer: darknet.Yolo, frac: int, channel_offset: int = 0) -> np.ndarray:
    """The yolo engine: the logistic table on x, y, obj and class planes (Q0.15 out), w and h unchanged."""
    mask = Q.yolo_logistic_mask(channel_offset + x.shape[-1], layer.classes)[channel_offset:]
    table = _table()
    return np.where(mask, table[Q.sigmoid_index(x, frac)], x)


@functools.lru_cache(maxsize=1)
def _table() -> np.ndarray:
    return Q.sigmoid_table()


def forward(qnet: Q.QuantizedNetwork, x_int: np.ndarray, stats: dict | None = None) -> list[np.ndarray]:
    """int64 outputs of every layer for int input [B, H, W, C] (``stats``: {'saturated': {}, 'wrapped': {}} gets
    per-conv-layer counts)."""
    network = qnet.network
    h, w = x_int.shape[1:3]
    if h % 32 or w % 32:
        raise ValueError(f"input size {h}x{w} is not divisible by 32")
    outs: list[np.ndarray] = []
    x = np.asarray(x_int, np.int64)
    for i, l in enumerate(network.layers):
        if isinstance(l, darknet.Conv):
            x = conv_layer(qnet.convs[i], x, qnet.data_bits, stats)
        elif isinstance(l, darknet.MaxPool):
            x = maxpool(x, l.size, l.stride, l.padding)
        elif isinstance(l, darknet.Route):
            x = _route(outs, l)
        elif isinstance(l, darknet.Upsample):
            x = _upsample(x, l.stride)
        elif isinstance(l, darknet.Yolo):
            x = yolo_layer(x, l, qnet.frac_of_input(i))
        outs.append(x)
    return outs


def dequantize(qnet: Q.QuantizedNetwork, i: int, q: np.ndarray) -> np.ndarray:
    """Layer ``i``'s integer output as float (yolo: probabilities for the logistic planes, raw w, h)."""
    layer = qnet.network.layers[i]
    if isinstance(layer, darknet.Yolo):
        mask = Q.yolo_logistic_mask(q.shape[-1], layer.classes)
        return np.where(mask, q / 2.0 ** Q.YOLO_FRAC, q / 2.0 ** qnet.fracs[i])
    return q / 2.0 ** qnet.fracs[i]


def yolo_float(raw: np.ndarray, layer: darknet.Yolo) -> np.ndarray:
    """What the yolo engine computes, in float: logistic on all but the w, h planes."""
    mask = Q.yolo_logistic_mask(raw.shape[-1], layer.classes)
    return np.where(mask, 1.0 / (1.0 + np.exp(-raw)), raw)


def heads_as_logits(qnet: Q.QuantizedNetwork, outs: list[np.ndarray]) -> list[np.ndarray]:
    """The yolo outputs in the form detection.darknet.Darknet returns ([B, H, W, A, 5 + C] raw values), so that
    detection's own decoder and NMS run on the fixed-point results unchanged: the engine's probabilities go back
    through the logit, which the decoder's logistic inverts (monotonic, so ties and ranks are kept; p = 0 gives
    -inf, whose logistic is 0)."""
    heads = []
    for i, l in enumerate(qnet.network.layers):
        if isinstance(l, darknet.Yolo):
            v = dequantize(qnet, i, outs[i])
            mask = Q.yolo_logistic_mask(v.shape[-1], l.classes)
            with np.errstate(divide="ignore", invalid="ignore"):  # (np.where computes both branches)
                logits = np.where(mask, np.log(v) - np.log1p(-v), v)
            b, gh, gw, _ = v.shape
            heads.append(logits.reshape(b, gh, gw, len(l.mask), 5 + l.classes).astype(np.float32))
    return heads


def detect(qnet: Q.QuantizedNetwork, images: np.ndarray, thresh: float = 0.005, iou_thresh: float = 0.45,
           max_detections: int = 100) -> dict[str, np.ndarray]:
    """Fixed-point network + detection's decoding and NMS, as ``detection.inference.detect_batch`` returns."""
    import jax

    from detection import boxes as box_ops

    outs = forward(qnet, quantize_input(qnet, images))
    heads = heads_as_logits(qnet, outs)
    decoded = box_ops.decode(heads, qnet.network, images.shape[1:3])
    return jax.device_get(_postprocess(*decoded, thresh=thresh, iou_thresh=iou_thresh,
                                       max_detections=max_detections))


@functools.lru_cache(maxsize=None)
def _jitted_postprocess():
    import jax

    from detection import boxes as box_ops

    return jax.jit(box_ops.postprocess, static_argnames=("thresh", "iou_thresh", "max_candidates",
                                                         "max_detections"))


def _postprocess(*args, **kwargs):
    return _jitted_postprocess()(*args, **kwargs)
