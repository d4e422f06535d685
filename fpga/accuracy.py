"""mAP of the fixed-point network (bit-exact reference) against the float network, with detection's evaluator.

    result = accuracy.compare(network, variables, qnet, data.OfflineDetection("test", size=128), 128, limit=200)
    # {'float': {'mAP': ...}, 'fixed': {'mAP': ...}, 'drop_points': ...}
"""

from __future__ import annotations

from detection import evaluate
from fpga import quantize as Q
from fpga import reference as R


def predict_fixed(qnet: Q.QuantizedNetwork, dataset, img_size: int, batch_size: int = 16, limit: int | None = None,
                  thresh: float = 0.005, iou_thresh: float = 0.45):
    """(detections, truths) in the form of ``detection.evaluate.predict_dataset``, from the fixed-point network."""
    dets, truths, _ = evaluate.predict_with(lambda images: R.detect(qnet, images, thresh=thresh, iou_thresh=iou_thresh),
                                            dataset, img_size, batch_size, limit)
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
