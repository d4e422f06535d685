"""mAP of the fixed-point network (bit-exact reference) against the float network, with detection's evaluator.

    result = accuracy.compare(network, variables, qnet, data.OfflineDetection("test", size=128), 128, limit=200)
    # {'float': {'mAP': ...}, 'fixed': {'mAP': ...}, 'drop_points': ...}
"""

from __future__ import annotations

import numpy as np

from detection import evaluate, inference
from fpga import quantize as Q
from fpga import reference as R


def predict_fixed(qnet: Q.QuantizedNetwork, dataset, img_size: int, batch_size: int = 16, limit: int | None = None,
                  thresh: float = 0.005, iou_thresh: float = 0.45):
    """(detections, truths) in the form of ``detection.evaluate.predict_dataset``, from the fixed-point network.
    (The loop mirrors predict_dataset, whose network call is not a parameter.)"""
    n = len(dataset) if limit is None else min(limit, len(dataset))
    dets, truths = [], []
    for start in range(0, n, batch_size):
        exs = [dataset[i] for i in range(start, min(start + batch_size, n))]
        boxed = [inference.letterbox(ex.image, (img_size, img_size)) for ex in exs]
        out = R.detect(qnet, np.stack([b for b, _ in boxed]), thresh=thresh, iou_thresh=iou_thresh)
        for k, (ex, (_, lb)) in enumerate(zip(exs, boxed)):
            v = out["valid"][k]
            dets.append((lb.boxes_to_image(out["boxes"][k][v]), out["scores"][k][v], out["classes"][k][v]))
            h, w = ex.image.shape[:2]
            b = np.asarray(ex.boxes, np.float64).reshape(-1, 4)
            xyxy = np.stack([(b[:, 0] - b[:, 2] / 2) * w, (b[:, 1] - b[:, 3] / 2) * h,
                             (b[:, 0] + b[:, 2] / 2) * w, (b[:, 1] + b[:, 3] / 2) * h], -1)
            truths.append((xyxy, np.asarray(ex.classes), ex.difficult))
    return dets, truths


def compare(network, variables: dict, qnet: Q.QuantizedNetwork, dataset, img_size: int, limit: int | None = None,
            batch_size: int = 16) -> dict:
    """VOC mAP@0.5 of the float network (detection.evaluate) and of the fixed-point one on the same images."""
    import jax
    import jax.numpy as jnp

    floats = evaluate.evaluate(jax.tree.map(jnp.asarray, variables), network, dataset, img_size, batch_size, limit)
    dets, truths = predict_fixed(qnet, dataset, img_size, batch_size, limit)
    fixed = evaluate.voc_map(dets, truths, network.n_classes)
    fixed["n_images"] = len(truths)
    return {"float": floats, "fixed": fixed, "drop_points": 100 * (floats["mAP"] - fixed["mAP"])}
