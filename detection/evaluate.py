"""Detection metrics: VOC mAP@0.5 (11-point and area; our own implementation) and COCO mAP (pycocotools).

    python -m detection.evaluate --weights trained.weights --cfg trained.cfg --data offline --img-size 128

Inputs, per image: detections ``(boxes_xyxy [k, 4], scores [k], classes [k])`` and ground truth
``(boxes_xyxy [m, 4], classes [m], difficult [m] or None)``, boxes in pixels (any unit works for VOC as long as
both sides agree). VOC rules: per class, detections sorted by score (stable, so ties keep input order); each is
a true positive when its best-IoU ground truth of that class in its image has IoU >= 0.5 and is not yet matched,
otherwise a false positive; a match to a 'difficult' box counts as neither. AP is the area under the precision
envelope ('area', VOC2010+) or the mean over recall 0, 0.1, .., 1 of the best precision at that recall or more
('11point', VOC2007). Unlike the VOC devkit, boxes are continuous (no +1 on widths). mAP averages the classes that
have at least one non-difficult ground-truth box.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

import numpy as np

Detections = tuple[np.ndarray, np.ndarray, np.ndarray]
GroundTruth = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=-1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def voc_ap(recall: np.ndarray, precision: np.ndarray, method: str = "area") -> float:
    """AP from a PR curve (recall ascending, one point per detection)."""
    recall, precision = np.asarray(recall, np.float64), np.asarray(precision, np.float64)
    if method == "11point":
        return float(np.mean([precision[recall >= t].max() if (recall >= t).any() else 0.0
                              for t in np.linspace(0, 1, 11)]))
    if method != "area":
        raise ValueError(f"unknown AP method {method!r}: use 'area' or '11point'")
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]  # precision envelope
    changes = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[changes + 1] - r[changes]) * p[changes + 1]))


def pr_curve(detections: Sequence[Detections], truths: Sequence[GroundTruth], cls: int, iou_thresh: float = 0.5
             ) -> tuple[np.ndarray, np.ndarray, int]:
    """(recall, precision, number of non-difficult ground truths) for one class."""
    gts, n_pos = [], 0
    for boxes, classes, difficult in truths:
        sel = np.asarray(classes) == cls
        diff = np.zeros(sel.sum(), bool) if difficult is None else np.asarray(difficult, bool)[sel]
        gts.append((np.asarray(boxes, np.float64).reshape(-1, 4)[sel], diff, np.zeros(sel.sum(), bool)))
        n_pos += int((~diff).sum())
    image_ids, scores, dboxes = [], [], []
    for i, (boxes, s, classes) in enumerate(detections):
        sel = np.asarray(classes) == cls
        image_ids += [i] * int(sel.sum())
        scores.append(np.asarray(s, np.float64)[sel])
        dboxes.append(np.asarray(boxes, np.float64).reshape(-1, 4)[sel])
    if not image_ids:
        return np.zeros(0), np.zeros(0), n_pos
    scores, dboxes = np.concatenate(scores), np.concatenate(dboxes)
    order = np.argsort(-scores, kind="stable")
    tp, fp = np.zeros(len(order)), np.zeros(len(order))
    for rank, d in enumerate(order):
        g_boxes, g_diff, g_used = gts[image_ids[d]]
        if len(g_boxes):
            ious = _iou_matrix(dboxes[d:d + 1], g_boxes)[0]
            j = int(np.argmax(ious))
            if ious[j] >= iou_thresh:
                if g_diff[j]:
                    continue  # neither TP nor FP
                if not g_used[j]:
                    g_used[j] = True
                    tp[rank] = 1
                    continue
        fp[rank] = 1
    counted = (tp + fp) > 0
    tp, fp = np.cumsum(tp[counted]), np.cumsum(fp[counted])
    recall = tp / max(n_pos, 1)
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return recall, precision, n_pos


def voc_map(detections: Sequence[Detections], truths: Sequence[GroundTruth], n_classes: int,
            iou_thresh: float = 0.5) -> dict:
    """{'mAP' (area), 'mAP_11point', 'ap' [C] (area; nan for classes without ground truth), 'ap_11point' [C]}."""
    if len(detections) != len(truths):
        raise ValueError(f"{len(detections)} detection lists for {len(truths)} images")
    ap, ap11 = np.full(n_classes, np.nan), np.full(n_classes, np.nan)
    for c in range(n_classes):
        recall, precision, n_pos = pr_curve(detections, truths, c, iou_thresh)
        if n_pos == 0:
            continue
        ap[c], ap11[c] = voc_ap(recall, precision, "area"), voc_ap(recall, precision, "11point")
    with np.errstate(all="ignore"):
        return {"mAP": float(np.nanmean(ap)) if np.isfinite(ap).any() else 0.0,
                "mAP_11point": float(np.nanmean(ap11)) if np.isfinite(ap11).any() else 0.0,
                "ap": ap.tolist(), "ap_11point": ap11.tolist()}


def coco_map(detections: Sequence[Detections], truths: Sequence[GroundTruth], image_hw: Sequence[tuple[int, int]],
             n_classes: int, verbose: bool = False) -> dict:
    """COCO mAP@[.5:.95] and mAP@.5 with pycocotools on our predictions (pixel xyxy boxes)."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ImportError("COCO mAP needs pycocotools, which is optional: pip install pycocotools "
                          "(VOC mAP works without it)") from None
    import contextlib
    import io

    images, anns, results = [], [], []
    for i, ((h, w), (gboxes, gclasses, difficult)) in enumerate(zip(image_hw, truths)):
        images.append({"id": i, "height": int(h), "width": int(w)})
        for j, (b, c) in enumerate(zip(np.asarray(gboxes).reshape(-1, 4), gclasses)):
            x0, y0, x1, y1 = (float(v) for v in b)
            crowd = int(difficult is not None and bool(difficult[j]))  # ignored, like VOC's difficult
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c), "iscrowd": crowd,
                         "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0)})
    for i, (boxes, scores, classes) in enumerate(detections):
        for b, s, c in zip(np.asarray(boxes).reshape(-1, 4), scores, classes):
            x0, y0, x1, y1 = (float(v) for v in b)
            results.append({"image_id": i, "category_id": int(c), "bbox": [x0, y0, x1 - x0, y1 - y0],
                            "score": float(s)})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": c, "name": str(c)} for c in range(n_classes)]}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        gt.createIndex()
        if not results:
            return {"mAP": 0.0, "mAP50": 0.0, "mAP75": 0.0}
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    if verbose:
        print(out.getvalue())
    return {"mAP": float(ev.stats[0]), "mAP50": float(ev.stats[1]), "mAP75": float(ev.stats[2])}


# ----------------------------------------------------------------------------------------------------------------
# Running a network over a dataset


def predict_dataset(variables: dict, network, dataset, img_size: int, batch_size: int = 32, thresh: float = 0.005,
                    iou_thresh: float = 0.45, max_detections: int = 100, limit: int | None = None
                    ) -> tuple[list[Detections], list[GroundTruth], list[tuple[int, int]]]:
    """Detections (pixel xyxy in each original image) and ground truths for the first ``limit`` examples."""
    import jax
    import jax.numpy as jnp

    from detection import inference

    def detect(images):
        if len(images) < batch_size:  # keep one compiled shape
            images = np.concatenate([images, np.zeros((batch_size - len(images),) + images.shape[1:], images.dtype)])
        return jax.device_get(inference.detect_batch(variables, jnp.asarray(images), network, thresh=thresh,
                                                     iou_thresh=iou_thresh, max_detections=max_detections))

    return predict_with(detect, dataset, img_size, batch_size, limit)


def predict_with(detect, dataset, img_size: int, batch_size: int, limit: int | None = None
                 ) -> tuple[list[Detections], list[GroundTruth], list[tuple[int, int]]]:
    """``predict_dataset`` for any detector: ``detect(images)`` takes a batch of letterboxed ``img_size`` images
    (numpy, NHWC in [0, 1]) and returns ``inference.detect_batch``'s padded dict (boxes in letterbox pixels, scores,
    classes, valid) for at least those images (the fixed-point reference model passes its own)."""
    from detection import inference

    n = len(dataset) if limit is None else min(limit, len(dataset))
    dets, truths, sizes = [], [], []
    for start in range(0, n, batch_size):
        exs = [dataset[i] for i in range(start, min(start + batch_size, n))]
        boxed = [inference.letterbox(ex.image, (img_size, img_size)) for ex in exs]
        out = detect(np.stack([b for b, _ in boxed]))
        for k, (ex, (_, lb)) in enumerate(zip(exs, boxed)):
            v = out["valid"][k]
            dets.append((lb.boxes_to_image(out["boxes"][k][v]), out["scores"][k][v], out["classes"][k][v]))
            h, w = ex.image.shape[:2]
            b = np.asarray(ex.boxes, np.float64).reshape(-1, 4)
            xyxy = np.stack([(b[:, 0] - b[:, 2] / 2) * w, (b[:, 1] - b[:, 3] / 2) * h,
                             (b[:, 0] + b[:, 2] / 2) * w, (b[:, 1] + b[:, 3] / 2) * h], -1)
            truths.append((xyxy, np.asarray(ex.classes), ex.difficult))
            sizes.append((h, w))
    return dets, truths, sizes


def evaluate(variables: dict, network, dataset, img_size: int, batch_size: int = 32, limit: int | None = None,
             coco: bool = False) -> dict:
    """VOC mAP@0.5 (area and 11-point) and, with ``coco=True``, pycocotools' mAP."""
    dets, truths, sizes = predict_dataset(variables, network, dataset, img_size, batch_size, limit=limit)
    result = voc_map(dets, truths, network.n_classes)
    if coco:
        result["coco"] = coco_map(dets, truths, sizes, network.n_classes)
    result["n_images"] = len(truths)
    return result


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m detection.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--weights", required=True, help="darknet .weights file")
    p.add_argument("--cfg", default="yolov3-tiny", help="a .cfg file or a built-in name (yolov3-tiny, yolov4-tiny)")
    p.add_argument("--data", default="offline",
                   help="offline | tfds:voc/2007 | tfds:coco/2017 (prepared) | a darknet label folder | ANN.json")
    p.add_argument("--split", default="test")
    p.add_argument("--data-dir", default=None, help="tfds data_dir")
    p.add_argument("--names", default=None, help=".names file of a darknet folder (default: the folder's)")
    p.add_argument("--image_dir", default=None, help="images of a COCO json (default: COCO's layout)")
    p.add_argument("--img-size", type=int, default=None, help="network input (default: the cfg's width)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N images only")
    p.add_argument("--coco", action="store_true", help="also COCO mAP@[.5:.95] (needs pycocotools)")
    p.add_argument("--out", default=None, help="write the result as JSON here")
    args = p.parse_args(argv)

    import jax
    import jax.numpy as jnp

    from detection import darknet, data, inference

    network = darknet.load_network(args.cfg)
    size = args.img_size or network.net.width
    inference.check_size((size, size))
    variables = jax.tree.map(jnp.asarray, darknet.load_weights(args.weights, network))
    dataset = data.get_dataset(args.data, args.split, data_dir=args.data_dir, names=args.names,
                               image_dir=args.image_dir)
    if len(dataset.class_names) != network.n_classes:
        raise SystemExit(f"the dataset has {len(dataset.class_names)} classes, the network {network.n_classes}")
    result = evaluate(variables, network, dataset, size, args.batch_size, args.limit, coco=args.coco)
    print(f"VOC mAP@0.5: {result['mAP']:.4f} (area)  {result['mAP_11point']:.4f} (11-point)  "
          f"on {result['n_images']} images")
    if "coco" in result:
        print(f"COCO mAP@[.5:.95]: {result['coco']['mAP']:.4f}  mAP@.5: {result['coco']['mAP50']:.4f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
