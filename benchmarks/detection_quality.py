"""Detection quality: YOLOv3-tiny / YOLOv4-tiny trained from scratch on the offline detection set (CPU).

    python benchmarks/detection_quality.py --model yolov3-tiny       # ~15-20 min on 2 shared CPU cores
    python benchmarks/detection_quality.py --model yolov4-tiny

Trains on ``OfflineDetection('train')`` (4,000 generated images: MNIST digits and shapes on photo crops, 13
classes), evaluates VOC mAP@0.5 (area and 11-point) and COCO mAP on the held-out split (500 images built from the
held-out MNIST digits) every ``--eval-every`` steps on ``--curve-images`` images, and on the whole held-out split
at the end. Training stops at ``--steps`` or when ``--minutes`` of training time are spent, whichever is first.
Anchors: k-means (1 - IoU) on the training boxes at the input size, masks 3,4,5 / 0,1,2 for both models
(yolov4-tiny's published 1,2,3 would leave the smallest anchor's boxes untrained), and AlexeyAB's iou_thresh=0.213
(every anchor of similar shape is trained on a box, not only the best one: about 3x faster to the same mAP here
than the tiny cfgs' default of one anchor per box). Adam, lr 2e-3 after a 50-step burn-in, x0.1 at 80% and 90%
of the steps, batch 8, BN momentum 0.9. Augmentation: zoom 0.8-1.2, shift 10%, darknet's
HSV jitter; no flip (a mirrored digit is not that digit) and no Cutout (it can erase a small digit whole).
Writes benchmarks/out/detection_quality_<model>.json (config, curve, result, timings) and the trained network as
darknet .cfg/.weights next to it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from detection import data, evaluate, model, train  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="yolov3-tiny", choices=["yolov3-tiny", "yolov4-tiny"])
    p.add_argument("--img-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--minutes", type=float, default=18.0, help="training-time budget (evaluation not counted)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    p.add_argument("--burn-in", type=int, default=50)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--bn-momentum", type=float, default=0.9)
    p.add_argument("--iou-thresh", type=float, default=0.213, help="AlexeyAB's extra positives (1.0 = off)")
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--curve-images", type=int, default=200)
    p.add_argument("--train-images", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    args = p.parse_args(argv)

    t_start = time.time()
    train_set = data.OfflineDetection("train", size=args.img_size, n=args.train_images, seed=args.seed)
    test_set = data.OfflineDetection("test", size=args.img_size, seed=args.seed)
    anchors = data.kmeans_anchors(train_set, args.img_size, k=6, n_samples=1000, seed=args.seed)
    drops = (int(args.steps * 0.8), int(args.steps * 0.9))
    config = model.Config(model=args.model, n_classes=len(train_set.class_names), img_size=args.img_size,
                          batch_size=args.batch_size, max_boxes=8, width=args.width, anchors=anchors,
                          optimizer=args.optimizer, lr=args.lr, burn_in=args.burn_in, steps=drops,
                          scales=(0.1, 0.1), scale_min=0.8, scale_max=1.2, translate=0.1, flip=0.0,
                          cutout_holes=0, bn_momentum=args.bn_momentum, iou_thresh=args.iou_thresh,
                          # every anchor to some head (yolov4-tiny's published masks skip anchor 0)
                          masks=((3, 4, 5), (0, 1, 2)))
    print(f"{args.model}: {config}", flush=True)

    curve: list[dict] = []
    clock = {"train": 0.0, "eval": 0.0, "last": time.time()}

    class Budget(Exception):
        pass

    def callback(step, state, metrics):
        now = time.time()
        clock["train"] += now - clock["last"]
        if step % args.eval_every == 0 or step == args.steps:
            t = time.time()
            r = evaluate.evaluate(state.variables, state.network, test_set, args.img_size, batch_size=50,
                                  limit=args.curve_images)
            clock["eval"] += time.time() - t
            curve.append({"step": step, "train_minutes": round(clock["train"] / 60, 2),
                          "mAP50": round(r["mAP"], 4), "mAP50_11point": round(r["mAP_11point"], 4)})
            print(f"  eval step {step}: mAP@0.5 {r['mAP']:.4f} (11-pt {r['mAP_11point']:.4f}) on "
                  f"{args.curve_images} held-out images, {clock['train'] / 60:.1f} min of training", flush=True)
        clock["last"] = time.time()
        if clock["train"] > args.minutes * 60:
            holder["state"] = state
            raise Budget

    holder: dict = {}
    clock["last"] = time.time()
    try:
        state = train.train(config, train_set, args.steps, seed=args.seed, callback=callback, log_every=25)
        stopped = None
    except Budget:
        state = holder["state"]
        stopped = int(state.step)
        print(f"time budget of {args.minutes} min reached at step {stopped}", flush=True)

    t = time.time()
    final = evaluate.evaluate(state.variables, state.network, test_set, args.img_size, batch_size=50, coco=True)
    clock["eval"] += time.time() - t
    os.makedirs(args.out, exist_ok=True)
    weights, cfg = model.export_weights(state, os.path.join(args.out, f"detection_{args.model}.weights"))
    result = {
        "model": args.model, "dataset": "offline detection (13 classes), train 4000 / held-out 500",
        "img_size": args.img_size, "batch_size": args.batch_size, "steps_done": int(state.step),
        "steps_planned": args.steps, "stopped_by_budget_at": stopped, "budget_minutes": args.minutes,
        "train_minutes": round(clock["train"] / 60, 2), "eval_minutes": round(clock["eval"] / 60, 2),
        "wall_minutes": round((time.time() - t_start) / 60, 2),
        "mAP50_area": round(final["mAP"], 4), "mAP50_11point": round(final["mAP_11point"], 4),
        "coco_mAP": round(final["coco"]["mAP"], 4), "coco_mAP50": round(final["coco"]["mAP50"], 4),
        "per_class_ap": dict(zip(train_set.class_names, [round(a, 4) for a in final["ap"]])),
        "curve": curve, "anchors": anchors,
        "platform": f"{platform.machine()} {os.cpu_count()} cores, jax {jax.__version__} {jax.default_backend()}",
        "load_average_at_end": os.getloadavg(), "weights": weights, "cfg": cfg,
        "config": {k: v for k, v in dataclasses.asdict(config).items()},
    }
    path = os.path.join(args.out, f"detection_quality_{args.model}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k not in ("config", "per_class_ap")}, indent=1))
    print(f"| {args.model} | {args.img_size} | {int(state.step)} x {args.batch_size} | "
          f"{result['train_minutes']:.1f} min | {result['mAP50_area']:.3f} | {result['mAP50_11point']:.3f} | "
          f"{result['coco_mAP']:.3f} |")
    return result


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
