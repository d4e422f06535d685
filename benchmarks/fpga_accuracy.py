"""Fixed-point accuracy: VOC mAP@0.5 of YOLOv3-tiny in float vs the FPGA's fixed point (the bit-exact reference),
on the offline detection set's held-out split.

    python benchmarks/fpga_accuracy.py                      # uses benchmarks/out/detection_yolov3-tiny.weights
    python benchmarks/fpga_accuracy.py --train-steps 300    # no weights file: trains one first (~5 min of CPU)

The network is the one ``benchmarks/detection_quality.py`` trains (128 px, 13 classes) or, without its weights
file, a short run of ``detection.train.train`` with the same recipe. Formats: the paper's (16-bit data and weights,
8 fractional bits, 32-bit accumulator), and narrower ones (12-bit with 6 fractional bits; 12 and 8 bits with
per-layer fractional bits profiled on 16 training images). The paper: 33.4% -> 30.9% on COCO (-2.5 points).
Writes benchmarks/out/fpga_accuracy.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from detection import darknet, data, inference  # noqa: E402
from fpga import accuracy  # noqa: E402
from fpga import quantize as Q  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
SETTINGS = {
    "16-bit, 8 frac (paper)": Q.QuantConfig(),
    "12-bit, 6 frac": Q.QuantConfig(data_bits=12, weight_bits=12, data_frac=6, weight_frac=6),
    "12-bit, profiled": Q.QuantConfig(data_bits=12, weight_bits=12, profile=True),
    "8-bit, profiled": Q.QuantConfig(data_bits=8, weight_bits=8, data_frac=4, weight_frac=6, profile=True),
}


def trained_network(weights: str, steps: int, img_size: int):
    if os.path.exists(weights):
        cfg = weights.rsplit(".", 1)[0] + ".cfg"
        network = darknet.read_cfg(cfg)
        return network, darknet.load_weights(weights, network), f"{os.path.basename(weights)} (detection_quality.py)"
    import jax

    from detection import model, train

    config = model.Config(n_classes=len(data.OFFLINE_CLASSES), img_size=img_size, batch_size=8, optimizer="adam",
                          lr=2e-3, burn_in=50, bn_momentum=0.9, iou_thresh=0.213, flip=0.0, cutout_holes=0,
                          steps=(int(0.8 * steps), int(0.9 * steps)))
    state = train.train(config, data.OfflineDetection("train", size=img_size), steps=steps)
    return model.network_for(config), jax.device_get(state.variables), f"trained here, {steps} steps of 8"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", default=os.path.join(OUT, "detection_yolov3-tiny.weights"))
    p.add_argument("--train-steps", type=int, default=300, help="when the weights file is absent")
    p.add_argument("--img-size", type=int, default=128)
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N held-out images (default all 500)")
    p.add_argument("--calibration", type=int, default=16, help="training images used to profile and report")
    args = p.parse_args(argv)

    t0 = time.time()
    network, variables, source = trained_network(args.weights, args.train_steps, args.img_size)
    train_set = data.OfflineDetection("train", size=args.img_size)
    calib = np.stack([inference.letterbox(train_set[i].image, (args.img_size,) * 2)[0]
                      for i in range(args.calibration)])
    test_set = data.OfflineDetection("test", size=args.img_size)
    rows, results = [], {}
    float_map = None
    for name, config in SETTINGS.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Q.FormatWarning)
            qnet = Q.quantize(network, variables, config, calibration=calib)
        r = accuracy.compare(network, variables, qnet, test_set, args.img_size, limit=args.limit)
        float_map = r["float"]["mAP"]
        heads = [rep.sqnr_db for rep in qnet.report if rep.kind == "yolo"]
        rows.append({"formats": name, "float mAP": r["float"]["mAP"], "fixed mAP": r["fixed"]["mAP"],
                     "drop (points)": r["drop_points"], "head SQNR dB": min(heads),
                     "saturated (calib.)": sum(rep.saturated for rep in qnet.report),
                     "warned": "yes" if caught else "no"})
        results[name] = {"float": r["float"]["mAP"], "fixed": r["fixed"]["mAP"], "drop_points": r["drop_points"],
                         "report": qnet.report_text()}
        print(f"{name}: float {r['float']['mAP']:.4f} fixed {r['fixed']['mAP']:.4f} "
              f"drop {r['drop_points']:.2f} points", flush=True)
    minutes = (time.time() - t0) / 60
    cols = ["formats", "float mAP", "fixed mAP", "drop (points)", "head SQNR dB", "saturated (calib.)", "warned"]
    lines = ["# FPGA fixed point: accuracy", "",
             f"YOLOv3-tiny ({source}), {args.img_size} px, offline detection set, held-out split "
             f"({r['fixed']['n_images']} images), VOC mAP@0.5 (area), float vs the bit-exact fixed-point reference. "
             f"Calibration: {args.calibration} training images. Wall time {minutes:.1f} min.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        lines.append("| " + " | ".join(f"{row[c]:.4f}" if isinstance(row[c], float) and "mAP" in c else
                                       f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c])
                                       for c in cols) + " |")
    lines += ["", "Paper (Yu et al., ARC 2020, COCO): 33.4% float -> 30.9% with 16-bit / 8 fractional bits.", "",
              "Per-layer report of the paper's formats:", "", "```", results[next(iter(SETTINGS))]["report"], "```"]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "fpga_accuracy.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(OUT, "fpga_accuracy.json"), "w") as f:
        json.dump({"source": source, "img_size": args.img_size, "float_mAP": float_map, "settings": results,
                   "minutes": minutes}, f, indent=1)
    print("\n".join(lines[:len(rows) + 6]))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
