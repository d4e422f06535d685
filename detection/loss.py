"""The YOLOv3 loss (darknet's yolo layer, as a differentiable function), with GIoU / CIoU box losses for v4.

Per ground-truth box, the best of *all* anchors by shape IoU (both boxes centred at the origin) is found; the
head that owns that anchor (its ``mask``) makes the cell holding the box centre responsible, with that anchor.
With ``iou_thresh`` < 1 (AlexeyAB's option, off in both tiny cfgs) every anchor whose shape IoU exceeds it is made
responsible too, in the same cell.
Per head:
- objectness: BCE towards 1 at responsible predictions; BCE towards 0 at the others, except those whose decoded
  box overlaps some ground truth with IoU > ``ignore_thresh`` (no objectness loss there);
- classes: BCE per class (one-hot target) at responsible predictions;
- box, ``'mse'`` (YOLOv3): darknet's deltas, scaled by (2 - w*h): x, y as BCE between the logits and the offset
  in the cell (so the gradient on the logit is darknet's ``t - sigmoid``, also with scale_x_y), w, h as squared
  error on log(w / anchor);
  ``'giou'`` / ``'ciou'`` (YOLOv4): ``iou_normalizer * (1 - GIoU or CIoU)`` of the decoded box.
darknet sums over the batch and divides the learning rate by the batch size; we divide the loss by the batch size,
which is the same update. Two boxes falling in the same cell with the same best anchor: one of them wins (darknet:
the later one).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import optax

from detection import boxes as box_ops
from detection import darknet


def anchor_ious(wh_Mx2: jax.Array, anchors_Ax2: jax.Array) -> jax.Array:
    """Shape IoU [M, A] of each box with each anchor, both centred at the origin (same units)."""
    inter = jnp.prod(jnp.minimum(wh_Mx2[:, None], anchors_Ax2[None]), axis=-1)
    union = jnp.prod(wh_Mx2, -1)[:, None] + jnp.prod(anchors_Ax2, -1)[None] - inter
    return inter / jnp.maximum(union, 1e-12)


def best_anchors(wh_Mx2: jax.Array, anchors_Ax2: jax.Array) -> jax.Array:
    """Index of the anchor with the best shape IoU for each box."""
    return jnp.argmax(anchor_ious(wh_Mx2, anchors_Ax2), axis=-1)


def head_loss(raw_BxHxWxAxK: jax.Array, layer: darknet.Yolo, boxes_BxMx4: jax.Array, classes_BxM: jax.Array,
              net_hw: tuple[int, int], box_loss: str, ignore_thresh: float, iou_normalizer: float,
              iou_thresh: float = 1.0) -> dict[str, jax.Array]:
    b, gh, gw, a, k = raw_BxHxWxAxK.shape
    n_classes = k - 5
    valid = classes_BxM >= 0
    all_anchors = jnp.asarray(layer.anchors, jnp.float32) / jnp.asarray([net_hw[1], net_hw[0]], jnp.float32)
    mask = jnp.asarray(layer.mask)

    # Which predictions are responsible for each ground truth (scattered into [B, H, W, A]): the best anchor of
    # all, and (AlexeyAB's iou_thresh) any anchor of this head whose shape IoU exceeds iou_thresh.
    shape_iou = jax.vmap(anchor_ious, in_axes=(0, None))(boxes_BxMx4[..., 2:], all_anchors)  # [B, M, n]
    best = jnp.argmax(shape_iou, axis=-1)  # [B, M]
    col = jnp.clip(jnp.floor(boxes_BxMx4[..., 0] * gw), 0, gw - 1).astype(jnp.int32)
    row = jnp.clip(jnp.floor(boxes_BxMx4[..., 1] * gh), 0, gh - 1).astype(jnp.int32)
    bi = jnp.broadcast_to(jnp.arange(b)[:, None], row.shape)
    idx_parts = []
    for s, anchor in enumerate(layer.mask):
        assigned = valid & ((best == anchor) | (shape_iou[..., anchor] > iou_thresh))
        idx_parts.append((bi, jnp.where(assigned, row, gh), col, jnp.full_like(row, s)))  # row gh: dropped
    idx = tuple(jnp.concatenate(p, axis=1) for p in zip(*idx_parts))  # each [B, A*M]
    # The index of the ground truth each prediction answers for (-1: none); one scatter, so that box and class
    # come from the same ground truth when two share a cell and an anchor.
    gt_index = jnp.tile(jnp.arange(boxes_BxMx4.shape[1], dtype=jnp.int32), (b, a))
    owner = jnp.full((b, gh, gw, a), -1, jnp.int32).at[idx].set(gt_index, mode="drop")
    responsible = owner >= 0
    flat_owner = jnp.maximum(owner, 0).reshape(b, -1)
    target_box = jnp.take_along_axis(boxes_BxMx4, flat_owner[..., None], axis=1).reshape(b, gh, gw, a, 4)
    target_box = jnp.where(responsible[..., None], target_box, 0.0)
    target_cls = jax.nn.one_hot(jnp.take_along_axis(classes_BxM, flat_owner, axis=1), n_classes)
    target_cls = jnp.where(responsible[..., None], target_cls.reshape(b, gh, gw, a, n_classes), 0.0)

    # Decoded predictions, and their best IoU with any ground truth of the image (for the ignore rule).
    # (w, h logits clipped so that exp cannot overflow early in training; darknet does not need this with SGD)
    clipped = raw_BxHxWxAxK.at[..., 2:4].set(jnp.clip(raw_BxHxWxAxK[..., 2:4], -8.0, 8.0))
    pred, _, _ = box_ops.decode_head(clipped, layer, net_hw)
    pred = pred.reshape(b, gh, gw, a, 4)
    ious = box_ops.iou_cxcywh(pred.reshape(b, -1, 1, 4), boxes_BxMx4[:, None])  # [B, HWA, M]
    best_iou = jnp.max(jnp.where(valid[:, None], ious, 0.0), axis=-1).reshape(b, gh, gw, a)
    best_iou = jax.lax.stop_gradient(best_iou)

    obj_logit = raw_BxHxWxAxK[..., 4]
    resp = responsible.astype(jnp.float32)
    negative = (~responsible & (best_iou <= ignore_thresh)).astype(jnp.float32)
    obj = jnp.sum(resp * optax.sigmoid_binary_cross_entropy(obj_logit, 1.0)
                  + negative * optax.sigmoid_binary_cross_entropy(obj_logit, 0.0))
    cls = jnp.sum(resp[..., None] * optax.sigmoid_binary_cross_entropy(raw_BxHxWxAxK[..., 5:], target_cls))

    scale = 2.0 - target_box[..., 2] * target_box[..., 3]
    if box_loss == "mse":
        sxy = layer.scale_x_y
        offset = jnp.stack([target_box[..., 0] * gw - jnp.arange(gw)[None, None, :, None],
                            target_box[..., 1] * gh - jnp.arange(gh)[None, :, None, None]], axis=-1)
        offset = jnp.clip((offset + 0.5 * (sxy - 1)) / sxy, 0.0, 1.0)
        anchors_wh = all_anchors[mask]  # [A, 2]
        target_twh = jnp.log(jnp.maximum(target_box[..., 2:4], 1e-9) / anchors_wh)
        xy = jnp.sum(optax.sigmoid_binary_cross_entropy(raw_BxHxWxAxK[..., 0:2], offset), -1)
        # the constant entropy of the soft target is removed so that a perfect prediction costs 0
        xy = xy - jnp.sum(optax.sigmoid_binary_cross_entropy(jnp.log(offset + 1e-9) - jnp.log1p(-offset + 1e-9),
                                                             offset), -1)
        wh = 0.5 * jnp.sum(jnp.square(raw_BxHxWxAxK[..., 2:4] - target_twh), -1)
        box = jnp.sum(resp * scale * (xy + wh))
    elif box_loss in ("giou", "ciou"):
        fn = box_ops.giou_cxcywh if box_loss == "giou" else box_ops.ciou_cxcywh
        safe_target = jnp.where(responsible[..., None], target_box, jnp.asarray([0.5, 0.5, 0.1, 0.1]))
        box = iou_normalizer * jnp.sum(resp * (1.0 - fn(pred, safe_target)))
    else:
        raise ValueError(f"unknown box loss {box_loss!r}: use 'mse', 'giou' or 'ciou'")

    iou_resp = box_ops.iou_cxcywh(pred, target_box)
    return {"box": box, "obj": obj, "cls": cls, "n_resp": jnp.sum(resp), "iou_sum": jnp.sum(resp * iou_resp),
            "recall50": jnp.sum(resp * (iou_resp > 0.5))}


def yolo_loss(heads: Sequence[jax.Array], network: darknet.Network, boxes_BxMx4: jax.Array, classes_BxM: jax.Array,
              net_hw: tuple[int, int], box_loss: str = "mse", ignore_thresh: float = 0.7,
              iou_normalizer: float = 0.07, iou_thresh: float = 1.0) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Total loss (per image) and scalar metrics."""
    b = boxes_BxMx4.shape[0]
    parts = [head_loss(h, l, boxes_BxMx4, classes_BxM, net_hw, box_loss, ignore_thresh, iou_normalizer, iou_thresh)
             for h, l in zip(heads, network.yolo_layers)]
    total = {k: sum(p[k] for p in parts) for k in parts[0]}
    n = jnp.maximum(total["n_resp"], 1.0)
    loss = (total["box"] + total["obj"] + total["cls"]) / b
    return loss, {"loss": loss, "loss_box": total["box"] / b, "loss_obj": total["obj"] / b,
                  "loss_cls": total["cls"] / b, "avg_iou": total["iou_sum"] / n, "recall50": total["recall50"] / n}
