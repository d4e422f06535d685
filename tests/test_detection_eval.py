"""VOC / COCO mAP against hand-computed cases."""

import numpy as np
import pytest

from detection import evaluate


def _gt(boxes, classes, difficult=None):
    return np.asarray(boxes, float).reshape(-1, 4), np.asarray(classes), difficult


def _det(boxes, scores, classes):
    return np.asarray(boxes, float).reshape(-1, 4), np.asarray(scores, float), np.asarray(classes)


GT = [_gt([[0, 0, 10, 10], [20, 20, 40, 40]], [0, 1]), _gt([[5, 5, 15, 25]], [0])]


def test_perfect_predictions_score_one():
    dets = [_det(b, np.linspace(0.9, 0.5, len(c)), c) for b, c, _ in GT]
    r = evaluate.voc_map(dets, GT, n_classes=3)  # class 2 has no ground truth: left out of the mean
    assert r["mAP"] == 1.0 and r["mAP_11point"] == 1.0
    assert r["ap"][:2] == [1.0, 1.0] and np.isnan(r["ap"][2])


def test_known_pr_curve():
    # one class, 4 ground truths in 2 images; detections by score: TP, FP, TP, TP, FP (one GT never found)
    gt = [_gt([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], [0, 0, 0]), _gt([[0, 0, 10, 10]], [0])]
    dets = [_det([[0, 0, 10, 10], [60, 60, 70, 70], [20, 0, 30, 9]], [0.9, 0.8, 0.7], [0, 0, 0]),
            _det([[0, 0, 10, 11], [100, 100, 110, 110]], [0.6, 0.5], [0, 0])]
    recall, precision, n_pos = evaluate.pr_curve(dets, gt, 0)
    assert n_pos == 4
    np.testing.assert_allclose(recall, [0.25, 0.25, 0.5, 0.75, 0.75])
    np.testing.assert_allclose(precision, [1, 0.5, 2 / 3, 0.75, 0.6])
    r = evaluate.voc_map(dets, gt, n_classes=1)
    # area: 0.25 * 1 + 0.25 * 0.75 + 0.25 * 0.75; 11-point: recall 0, .1, .2 -> 1; .3 ... .7 -> 0.75; above -> 0
    assert r["mAP"] == pytest.approx(0.625)
    assert r["mAP_11point"] == pytest.approx((3 * 1 + 5 * 0.75) / 11)


def test_duplicates_wrong_class_low_iou_and_difficult():
    gt = [_gt([[0, 0, 10, 10], [50, 50, 60, 60]], [0, 0], difficult=np.array([False, True]))]
    dets = [_det([[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60], [0, 0, 10, 10], [0, 0, 4, 10]],
                 [0.9, 0.8, 0.7, 0.95, 0.6], [0, 0, 0, 1, 0])]
    recall, precision, n_pos = evaluate.pr_curve(dets, gt, 0)
    # the difficult box is not counted and its detection is neither TP nor FP; the duplicate is FP; IoU 0.4 is FP
    assert n_pos == 1
    np.testing.assert_allclose(recall, [1, 1, 1])
    np.testing.assert_allclose(precision, [1, 0.5, 1 / 3])
    r = evaluate.voc_map(dets, gt, n_classes=2)
    assert r["mAP"] == 1.0  # class 1 has no ground truth; class 0's first detection is a TP
    assert evaluate.voc_map([_det([], [], [])], gt, n_classes=1)["mAP"] == 0.0


def test_iou_threshold_is_inclusive():
    gt = [_gt([[0, 0, 10, 10]], [0])]
    exactly_half = [_det([[0, 0, 5, 10]], [0.9], [0])]
    assert evaluate.voc_map(exactly_half, gt, 1)["mAP"] == 1.0
    assert evaluate.voc_map(exactly_half, gt, 1, iou_thresh=0.51)["mAP"] == 0.0


def test_coco_map_with_pycocotools():
    pytest.importorskip("pycocotools")
    dets = [_det(b, np.full(len(c), 0.9), c) for b, c, _ in GT]
    r = evaluate.coco_map(dets, GT, [(50, 50), (50, 50)], n_classes=2)
    assert r["mAP"] == pytest.approx(1.0) and r["mAP50"] == pytest.approx(1.0)
    shifted = [_det(np.asarray(b) + 2, np.full(len(c), 0.9), c) for b, c, _ in GT]
    r2 = evaluate.coco_map(shifted, GT, [(50, 50), (50, 50)], n_classes=2)
    assert r2["mAP"] < 0.9


def test_coco_without_pycocotools_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("pycocotools"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match="pip install pycocotools"):
        evaluate.coco_map([], [], [], 1)
