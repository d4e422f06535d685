"""Box arithmetic (IoU, GIoU, CIoU), YOLO decoding and class-aware NMS; all jit-able with fixed shapes.

Conventions: ``cxcywh`` boxes are (centre x, centre y, width, height); ``xyxy`` are (x0, y0, x1, y1). Both work in
any unit (normalised [0, 1] or pixels) as long as the two sides of an operation agree.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp

from detection import darknet


def cxcywh_to_xyxy(b: jax.Array) -> jax.Array:
    cx, cy, w, h = jnp.moveaxis(b, -1, 0)
    return jnp.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def xyxy_to_cxcywh(b: jax.Array) -> jax.Array:
    x0, y0, x1, y1 = jnp.moveaxis(b, -1, 0)
    return jnp.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=-1)


def _inter_union(a_xyxy: jax.Array, b_xyxy: jax.Array) -> tuple[jax.Array, jax.Array]:
    lo = jnp.maximum(a_xyxy[..., :2], b_xyxy[..., :2])
    hi = jnp.minimum(a_xyxy[..., 2:], b_xyxy[..., 2:])
    inter = jnp.prod(jnp.clip(hi - lo, 0), axis=-1)
    area_a = jnp.prod(jnp.clip(a_xyxy[..., 2:] - a_xyxy[..., :2], 0), axis=-1)
    area_b = jnp.prod(jnp.clip(b_xyxy[..., 2:] - b_xyxy[..., :2], 0), axis=-1)
    return inter, area_a + area_b - inter


def iou_xyxy(a: jax.Array, b: jax.Array) -> jax.Array:
    """Elementwise IoU with broadcasting (use a[:, None] and b[None] for a matrix); 0 when the union is empty."""
    inter, union = _inter_union(a, b)
    return jnp.where(union > 0, inter / jnp.where(union > 0, union, 1.0), 0.0)


def iou_cxcywh(a: jax.Array, b: jax.Array) -> jax.Array:
    return iou_xyxy(cxcywh_to_xyxy(a), cxcywh_to_xyxy(b))


def giou_cxcywh(a: jax.Array, b: jax.Array, eps: float = 1e-9) -> jax.Array:
    """Generalised IoU (Rezatofighi et al. 2019): IoU - (enclosing area - union) / enclosing area."""
    ax, bx = cxcywh_to_xyxy(a), cxcywh_to_xyxy(b)
    inter, union = _inter_union(ax, bx)
    iou = inter / (union + eps)
    enclose = jnp.prod(jnp.maximum(ax[..., 2:], bx[..., 2:]) - jnp.minimum(ax[..., :2], bx[..., :2]), axis=-1)
    return iou - (enclose - union) / (enclose + eps)


def ciou_cxcywh(a: jax.Array, b: jax.Array, eps: float = 1e-9) -> jax.Array:
    """Complete IoU (Zheng et al. 2020): IoU - centre distance^2 / enclosing diagonal^2 - alpha * v.

    alpha is treated as a constant in the gradient, as in the paper's reference code.
    """
    ax, bx = cxcywh_to_xyxy(a), cxcywh_to_xyxy(b)
    inter, union = _inter_union(ax, bx)
    iou = inter / (union + eps)
    enclose_wh = jnp.maximum(ax[..., 2:], bx[..., 2:]) - jnp.minimum(ax[..., :2], bx[..., :2])
    diag2 = jnp.sum(jnp.square(enclose_wh), axis=-1) + eps
    rho2 = jnp.sum(jnp.square(a[..., :2] - b[..., :2]), axis=-1)
    v = (4 / math.pi ** 2) * jnp.square(jnp.arctan(b[..., 2] / (b[..., 3] + eps))
                                        - jnp.arctan(a[..., 2] / (a[..., 3] + eps)))
    alpha = jax.lax.stop_gradient(v / (1 - iou + v + eps))
    return iou - rho2 / diag2 - alpha * v


# ----------------------------------------------------------------------------------------------------------------
# YOLO decoding


def decode_head(raw_BxHxWxAxK: jax.Array, layer: darknet.Yolo, net_hw: tuple[int, int]
                ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One head -> (boxes [B, H*W*A, 4] cxcywh normalised to the network input, obj [B, N], class probs [B, N, C]).

    darknet's get_yolo_box: x = (col + x_act) / grid_w, w = exp(tw) * anchor_w / net_w.
    """
    b, gh, gw, a, _ = raw_BxHxWxAxK.shape
    act = darknet.yolo_activate(raw_BxHxWxAxK, layer)
    col = jnp.arange(gw, dtype=jnp.float32)[None, None, :, None]
    row = jnp.arange(gh, dtype=jnp.float32)[None, :, None, None]
    anchors = jnp.asarray(layer.masked_anchors, jnp.float32)  # [A, 2] (w, h) in input pixels
    cx = (col + act[..., 0]) / gw
    cy = (row + act[..., 1]) / gh
    w = jnp.exp(act[..., 2]) * anchors[:, 0] / net_hw[1]
    h = jnp.exp(act[..., 3]) * anchors[:, 1] / net_hw[0]
    boxes = jnp.stack([cx, cy, w, h], axis=-1).reshape(b, gh * gw * a, 4)
    return boxes, act[..., 4].reshape(b, -1), act[..., 5:].reshape(b, gh * gw * a, -1)


def decode(heads: Sequence[jax.Array], network: darknet.Network, net_hw: tuple[int, int]
           ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """All heads, concatenated along the box axis."""
    parts = [decode_head(h, l, net_hw) for h, l in zip(heads, network.yolo_layers)]
    return tuple(jnp.concatenate(p, axis=1) for p in zip(*parts))  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------------------------
# Class-aware NMS with fixed shapes


def nms(boxes_Nx4: jax.Array, scores_N: jax.Array, classes_N: jax.Array, iou_thresh: float = 0.45
        ) -> jax.Array:
    """Greedy class-aware NMS (darknet's do_nms_sort): keep mask [N].

    Candidates with score <= 0 are never kept and never suppress. A kept box suppresses every lower-scored box of
    the same class whose IoU with it is above ``iou_thresh``; suppressed boxes suppress nothing.
    """
    n = scores_N.shape[0]
    order = jnp.argsort(-scores_N)
    b, s, c = cxcywh_to_xyxy(boxes_Nx4)[order], scores_N[order], classes_N[order]
    overlap = (iou_xyxy(b[:, None], b[None]) > iou_thresh) & (c[:, None] == c[None])
    later = jnp.arange(n)[None, :] > jnp.arange(n)[:, None]
    suppresses = overlap & later

    def body(i, keep):
        return keep & ~(keep[i] & suppresses[i])

    keep_sorted = jax.lax.fori_loop(0, n, body, s > 0)
    return jnp.zeros(n, bool).at[order].set(keep_sorted)


def postprocess(boxes_BxNx4: jax.Array, obj_BxN: jax.Array, cls_BxNxC: jax.Array, *, thresh: float = 0.005,
                iou_thresh: float = 0.45, max_candidates: int = 1000, max_detections: int = 100
                ) -> dict[str, jax.Array]:
    """Scores, thresholds and NMS as darknet's evaluation does it, with a fixed number of outputs.

    A (box, class) pair scores obj * p(class); it is a candidate when obj > thresh and the score > thresh (so one
    box can be reported under several classes, as darknet does). The ``max_candidates`` best pairs go through
    class-aware NMS; the ``max_detections`` best survivors come back as
    {'boxes' [B, D, 4] cxcywh, 'scores' [B, D], 'classes' [B, D] int32, 'valid' [B, D] bool}, best first.
    """
    b, n, c = cls_BxNxC.shape
    scores = obj_BxN[..., None] * cls_BxNxC
    scores = jnp.where((obj_BxN[..., None] > thresh) & (scores > thresh), scores, 0.0).reshape(b, n * c)
    k = min(max_candidates, n * c)

    def one(boxes_Nx4, scores_NC):
        top, idx = jax.lax.top_k(scores_NC, k)
        cand_boxes, cand_classes = boxes_Nx4[idx // c], (idx % c).astype(jnp.int32)
        keep = nms(cand_boxes, top, cand_classes, iou_thresh)
        kept = jnp.where(keep, top, -1.0)
        d = min(max_detections, k)
        best, j = jax.lax.top_k(kept, d)
        out = {"boxes": cand_boxes[j], "scores": jnp.maximum(best, 0.0), "classes": cand_classes[j],
               "valid": best > 0}
        if d < max_detections:  # pad to the fixed size
            pad = max_detections - d
            out = {key: jnp.concatenate([v, jnp.zeros((pad,) + v.shape[1:], v.dtype)]) for key, v in out.items()}
        return out

    return jax.vmap(one)(boxes_BxNx4, scores)
